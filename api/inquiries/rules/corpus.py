"""Lines of the labelled corpus (``data/inquiries/*.jsonl``) read into examples, checked.

Each line is a JSON object with ``text``, ``type``, ``skills`` (name -> level), ``priority``,
``duration_min``, ``lang`` and ``split`` (``train`` or ``test``); other keys (``id``, the
generator's ``scenario``, ``frame`` and ``phrase``) are kept out of the model. A bad line is
refused naming its file and line number.
"""

import json
from typing import Any

from api.inquiries.rules.evaluation import LANGUAGES
from api.inquiries.rules.model import PRIORITIES, TYPES, Example, InquiryModelError

SPLITS = ("train", "test")


class CorpusError(InquiryModelError):
    """A corpus line is not a labelled inquiry."""

    code = "inquiry_corpus_error"


def _field(line: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = line.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CorpusError(f"{where}: {name} must be a {kind.__name__}")
    return value


def parse_line(text: str, where: str) -> tuple[str, Example]:
    """Return the split and the example of one corpus line (``where``: ``file:line``).

    >>> parse_line('{"text": "AC漏水", "type": "repair", "skills": {"aircon": 1}, '
    ...            '"priority": "normal", "duration_min": 60, "lang": "mixed", "split": "test"}',
    ...            "x.jsonl:1")[0]
    'test'
    """
    try:
        line = json.loads(text)
    except json.JSONDecodeError as err:
        raise CorpusError(f"{where}: not JSON ({err.msg})") from err
    if not isinstance(line, dict):
        raise CorpusError(f"{where}: not a JSON object")
    checks = (("type", TYPES), ("priority", PRIORITIES), ("lang", LANGUAGES), ("split", SPLITS))
    for name, allowed in checks:
        if line.get(name) not in allowed:
            raise CorpusError(f"{where}: {name} must be one of {', '.join(allowed)}")
    skills = _field(line, "skills", dict, where)
    if not all(isinstance(k, str) and type(v) is int and 1 <= v <= 10 for k, v in skills.items()):
        raise CorpusError(f"{where}: skills must map names to levels 1-10")
    example = Example(
        text=_field(line, "text", str, where),
        type=line["type"],
        skills=skills,
        priority=line["priority"],
        duration_min=_field(line, "duration_min", int, where),
        lang=line["lang"],
    )
    return line["split"], example
