"""The trained inquiry model of this process: read from its file, or trained and written once.

The model is trained from the shipped corpus (``data/inquiries/*.jsonl``) plus, when
``geodispatch inquiries train`` trains it, the labels staff confirmed. It is written to
``inquiry-model.pkl`` in the model directory (``GEODISPATCH_INQUIRY_MODEL_DIR``) with what
it was trained from. A process loads it on the first inquiry; a file missing, written by
another scikit-learn or from another corpus is replaced by training from the corpus alone
(about 5 s on an idle core) and writing the file for the next process. A newer file written
by ``train`` while the service runs is picked up by the next inquiry.

The file is a pickle, which runs code when loaded: the model directory must be writable only
by the service's user (as ``var/`` is).
"""

import hashlib
import logging
import os
import pickle
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sklearn

from api.config import Settings
from api.inquiries.rules.corpus import CorpusError, parse_line
from api.inquiries.rules.model import Example, InquiryModel, train
from api.inquiries.rules.text import Segment
from api.inquiries.segmenter import segmenter

log = logging.getLogger(__name__)
MODEL_FILE = "inquiry-model.pkl"
FORMAT = 1  # bump when InquiryModel changes shape: older files are then retrained


@dataclass(frozen=True, slots=True)
class Artefact:
    """A trained model and what it was trained from."""

    model: InquiryModel
    corpus_sha256: str
    corpus_examples: int
    confirmed_labels: int
    trained_at: datetime
    sklearn_version: str = sklearn.__version__
    format: int = FORMAT


def corpus_files(corpus_dir: Path) -> list[Path]:
    """Return the corpus files, in name order; none is an error naming the directory."""
    files = sorted(corpus_dir.glob("*.jsonl"))
    if not files:
        raise CorpusError(f"{corpus_dir}: no *.jsonl corpus files")
    return files


def read_corpus(corpus_dir: Path) -> list[tuple[str, Example]]:
    """Return every corpus line as ``(split, example)``."""
    lines = []
    for path in corpus_files(corpus_dir):
        with path.open(encoding="utf-8") as file:
            for number, text in enumerate(file, start=1):
                if text.strip():
                    lines.append(parse_line(text, f"{path}:{number}"))
    return lines


def corpus_sha256(corpus_dir: Path) -> str:
    """Return the digest of the corpus files' names and contents."""
    digest = hashlib.sha256()
    for path in corpus_files(corpus_dir):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def train_artefact(
    corpus_dir: Path, segment: Segment, confirmed: list[Example], *, now: datetime
) -> Artefact:
    """Train on the whole corpus plus the ``confirmed`` labels."""
    corpus = [example for _, example in read_corpus(corpus_dir)]
    return Artefact(
        model=train(corpus + confirmed, segment),
        corpus_sha256=corpus_sha256(corpus_dir),
        corpus_examples=len(corpus),
        confirmed_labels=len(confirmed),
        trained_at=now,
    )


def write_artefact(artefact: Artefact, path: Path) -> None:
    """Write ``artefact`` to ``path`` whole or not at all (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".inquiry-model-")
    try:
        with os.fdopen(fd, "wb") as file:
            pickle.dump(artefact, file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class ModelStore:
    """The model of one corpus and model directory, loaded or trained on first use."""

    def __init__(self, corpus_dir: Path, model_dir: Path) -> None:
        self.corpus_dir = corpus_dir
        self.model_dir = model_dir
        self.path = model_dir / MODEL_FILE
        self._lock = threading.Lock()
        self._artefact: Artefact | None = None
        self._mtime_ns: int | None = None

    def segment(self) -> Segment:
        """Return the word splitter the model was trained with."""
        return segmenter(self.model_dir)

    def artefact(self) -> Artefact:
        """Return the current model: the one in memory, a newer file, or a freshly trained one."""
        with self._lock:
            mtime_ns = self._file_mtime_ns()
            if self._artefact is None or mtime_ns != self._mtime_ns:
                self._artefact = self._load() or self._train()
                self._mtime_ns = self._file_mtime_ns()
            return self._artefact

    def _file_mtime_ns(self) -> int | None:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    def _load(self) -> Artefact | None:
        try:
            with self.path.open("rb") as file:
                artefact = pickle.load(file)
        except FileNotFoundError:
            return None
        except (OSError, pickle.UnpicklingError, AttributeError, ImportError, EOFError) as err:
            log.warning("retraining the inquiry model: cannot read %s (%s)", self.path, err)
            return None
        if not isinstance(artefact, Artefact):
            log.warning("retraining the inquiry model: %s holds no model", self.path)
            return None
        stale = (artefact.format, artefact.sklearn_version, artefact.corpus_sha256) != (
            FORMAT,
            sklearn.__version__,
            corpus_sha256(self.corpus_dir),
        )
        if stale:
            log.warning("retraining the inquiry model: %s is from another version", self.path)
            return None
        return artefact

    def _train(self) -> Artefact:
        artefact = train_artefact(self.corpus_dir, self.segment(), [], now=datetime.now(UTC))
        try:
            write_artefact(artefact, self.path)
        except OSError as err:  # read-only: train again in the next process, serve this one
            log.warning("cannot write the inquiry model to %s: %s", self.path, err)
        return artefact


_stores: dict[tuple[Path, Path], ModelStore] = {}
_stores_lock = threading.Lock()


def store_for(settings: Settings) -> ModelStore:
    """Return the process's model store for the settings' corpus and model directory."""
    key = (settings.inquiry_corpus_dir, settings.inquiry_model_dir)
    with _stores_lock:
        if (store := _stores.get(key)) is None:
            store = _stores[key] = ModelStore(*key)
        return store
