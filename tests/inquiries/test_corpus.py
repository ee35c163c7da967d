import importlib.util
import json
from collections import Counter
from types import ModuleType

import pytest

from api.inquiries.rules.corpus import CorpusError, parse_line
from api.inquiries.rules.model import Example
from tests.inquiries.conftest import CORPUS

GOOD = {
    "text": "AC漏水", "type": "repair", "skills": {"aircon": 1}, "priority": "normal",
    "duration_min": 60, "lang": "mixed", "split": "train",
}  # fmt: skip


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate", CORPUS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generator_writes_the_shipped_corpus_byte_for_byte() -> None:
    generator = _generator()
    lines = generator.generate()
    shipped = (CORPUS / "inquiries.jsonl").read_text(encoding="utf-8")
    assert "".join(line.json() + "\n" for line in lines) == shipped


def test_held_out_lines_share_no_frame_or_phrase_with_training_lines() -> None:
    generator = _generator()
    templates = generator.load_templates()
    phrases = {(s.name, lang): len(p) for s in templates.scenarios for lang, p in s.phrases.items()}
    for line in generator.generate():
        held_frame = line.frame in generator.held_out(len(templates.frames[line.lang]))
        count = phrases[line.scenario, line.lang]
        held_phrase = line.phrase in generator.held_out(count)
        assert held_frame == held_phrase == (line.split == "test"), line


def test_the_corpus_is_a_few_thousand_lines_in_three_languages(
    corpus: list[tuple[str, Example]],
) -> None:
    assert 2000 <= len(corpus) <= 10_000
    by_language = Counter(e.lang for _, e in corpus)
    assert set(by_language) == {"zh", "en", "mixed"} and min(by_language.values()) > 300
    assert {e.type for _, e in corpus} == {"install", "repair", "maintenance", "inspection",
                                           "consult"}  # fmt: skip
    assert Counter(split for split, _ in corpus)["test"] == len(corpus) // 5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "paint"}, "type must be one of"),
        ({"skills": {"aircon": 0}}, "skills must map names to levels 1-10"),
        ({"duration_min": "60"}, "duration_min must be a int"),
        ({"split": "dev"}, "split must be one of"),
    ],
)
def test_a_bad_corpus_line_is_refused_naming_where(change: dict[str, object], message: str) -> None:
    with pytest.raises(CorpusError, match=rf"^x\.jsonl:7: {message}"):
        parse_line(json.dumps(GOOD | change), "x.jsonl:7")


def test_a_line_that_is_not_json_is_refused() -> None:
    with pytest.raises(CorpusError, match=r"x\.jsonl:1: not JSON"):
        parse_line("{oops", "x.jsonl:1")
