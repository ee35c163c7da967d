# ruff: noqa: RUF002 -- the examples show the full-width forms the text folds
"""An inquiry's text as the model reads it: normalised, contact details masked, split into words.

Customers write phone numbers, house numbers and addresses into their messages. Those say
nothing about the job, and a model that learnt from them would "decide" by a phone number, so
they are masked before any feature is taken: a phone number, and any other run of digits,
becomes one ``#``. Full-width forms become their ASCII twins (NFKC) and Latin letters
lower case, so ``ＡＣ``, ``AC`` and ``ac`` are one word.

Chinese has no spaces: a segmenter (jieba, in ``api.inquiries.segmenter``) is passed in as a
plain ``str -> list[str]`` function, which keeps these rules free of its dictionary and cache.
"""

import re
import unicodedata
from collections.abc import Callable

Segment = Callable[[str], list[str]]
"""Split text into words (jieba's ``lcut``: Chinese words, Latin words, punctuation, spaces)."""

MASK = "#"
_PHONE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}(?!\d)")
_DIGITS = re.compile(r"\d+")
_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN_WORD = re.compile(r"[a-z]{2,}")
_WORD = re.compile(r"[^\W\d_]")  # a letter or a Chinese character


def normalise(text: str) -> str:
    """Return ``text`` in NFKC, lower case, with phone numbers and other numbers masked.

    >>> normalise("空调不制冷 ＡＣ 电话 139-1234-5678，张杨路500号")
    '空调不制冷 ac 电话 #,张杨路#号'
    """
    folded = unicodedata.normalize("NFKC", text).lower()
    return _DIGITS.sub(MASK, _PHONE.sub(MASK, folded))


def language_of(text: str) -> str:
    """Return ``zh``, ``en`` or ``mixed`` (Chinese with two or more English words).

    >>> language_of("空调不制冷"), language_of("AC not cooling"), language_of("AC不制冷 pls")
    ('zh', 'en', 'mixed')
    """
    folded = normalise(text)
    if not _CJK.search(folded):
        return "en"
    latin = _LATIN_WORD.findall(_CJK.sub(" ", folded))
    return "mixed" if len(latin) >= 2 else "zh"


def words(text: str, segment: Segment) -> list[str]:
    """Return the words of ``text`` (normalised) without spaces and punctuation.

    >>> words("AC 不 制冷!!", str.split)
    ['ac', '不', '制冷!!']
    """
    return [w for w in (t.strip() for t in segment(normalise(text))) if w and _WORD.search(w)]
