"""jieba, the Chinese word segmenter, loaded once per process with its cache where we say.

jieba ships its dictionary in its package (nothing is downloaded). Building its prefix table
from that dictionary takes about two seconds; jieba then keeps the table in a cache file and
loads it from there in a fraction of that. By default it writes the cache to the system's
temporary directory, which a locked-down service may not write: here the cache goes to the
model directory (``GEODISPATCH_INQUIRY_MODEL_DIR``), and a cache that cannot be written only
costs the two seconds again. Nothing of this happens at import: the first inquiry (or
``geodispatch inquiries train``) pays for it.
"""

import contextlib
import logging
import threading
from functools import partial
from pathlib import Path

import jieba

from api.inquiries.rules.text import Segment

_lock = threading.Lock()
_segmenters: dict[Path, Segment] = {}


def segmenter(cache_dir: Path) -> Segment:
    """Return jieba's word splitter, its dictionary loaded, caching its table in ``cache_dir``.

    The hidden Markov model that guesses words missing from the dictionary is off: it doubles
    the time per inquiry, and the model's character features already cover such words.
    """
    with _lock:
        if (segment := _segmenters.get(cache_dir)) is None:
            jieba.setLogLevel(logging.WARNING)  # it announces every load on stderr otherwise
            tokenizer = jieba.Tokenizer()
            with contextlib.suppress(OSError):  # unwritable: jieba logs it and goes on
                cache_dir.mkdir(parents=True, exist_ok=True)
            tokenizer.tmp_dir = str(cache_dir)
            tokenizer.initialize()
            segment = _segmenters[cache_dir] = partial(tokenizer.lcut, HMM=False)
        return segment
