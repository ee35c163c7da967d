# ruff: noqa: RUF001 -- customers write Chinese with full-width punctuation
import pytest

from api.inquiries.rules.model import Example, InquiryModel, InquiryModelError, predict, train
from api.inquiries.rules.text import Segment, language_of, normalise

PHONE = "13912345678"


def test_phone_numbers_and_house_numbers_are_masked() -> None:
    assert normalise(f"电话 {PHONE}，+86 139 1234 5678，张杨路500号") == "电话 #,#,张杨路#号"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("马桶堵了，快来", "zh"),
        ("the toilet is clogged", "en"),
        ("toilet堵了，pls come", "mixed"),
        ("hi，马桶堵了", "zh"),  # one English word does not make a mixed message
    ],
)
def test_language_of(text: str, language: str) -> None:
    assert language_of(text) == language


@pytest.mark.parametrize(
    ("text", "ticket_type", "skill"),
    [
        (f"你好，家里空调不制冷了，吹的都是热风，电话{PHONE}", "repair", "aircon"),
        ("Hi, the kitchen pipe is leaking under the sink, please send someone", "repair",
         "plumbing"),
        ("想装个智能门锁，指纹锁到货了约安装", "install", "locks"),
        ("wifi连不上，router一直闪红灯", "repair", "network"),
    ],
)  # fmt: skip
def test_a_draft_names_type_and_skill_with_words_from_the_text(
    model: InquiryModel, segment: Segment, text: str, ticket_type: str, skill: str
) -> None:
    draft = predict(model, text, segment)
    assert draft.type.value == ticket_type
    assert skill in {s.name for s in draft.skills}
    folded = normalise(text)
    parts = [draft.type, draft.priority, draft.duration_min]
    for part in parts:
        assert 0 < part.confidence <= 1
    for words in [p.words for p in parts] + [s.words for s in draft.skills]:
        assert words, draft
        # Deciding words come from the text (a word pair is two words of it).
        assert all(piece in folded for word in words for piece in word.split()), words


def test_no_phone_number_or_digit_ever_decides(model: InquiryModel, segment: Segment) -> None:
    draft = predict(model, f"{PHONE} {PHONE} 冰箱不制冷 {PHONE} 1234", segment)
    every = [*draft.type.words, *draft.priority.words, *(w for s in draft.skills for w in s.words)]
    assert not any(c.isdigit() or c == "#" for word in every for c in word)


def test_a_homophone_typo_still_finds_the_skill(model: InquiryModel, segment: Segment) -> None:
    draft = predict(model, "空凋一直滴水，露水到地板上了", segment)
    assert draft.skills[0].name == "aircon"


def test_an_emergency_reads_as_one(model: InquiryModel, segment: Segment) -> None:
    draft = predict(model, "水管爆了，家里到处是水，很危险，请马上来", segment)
    assert draft.priority.value == "emergency"


def test_drafts_are_deterministic(model: InquiryModel, segment: Segment) -> None:
    text = "洗衣机不脱水，麻烦来看看"
    assert predict(model, text, segment) == predict(model, text, segment)


def test_the_duration_is_the_median_of_the_type_and_level(
    model: InquiryModel, segment: Segment
) -> None:
    draft = predict(model, "the washing machine won't spin", segment)
    level = draft.skills[0].level
    assert draft.duration_min.value == model.durations.get(
        (str(draft.type.value), level), model.type_durations[str(draft.type.value)]
    )


def _example(text: str, ticket_type: str = "repair") -> Example:
    return Example(text, ticket_type, {"aircon": 1}, "normal", 60, "zh")


def test_too_few_examples_are_refused(segment: Segment) -> None:
    with pytest.raises(InquiryModelError, match="too few"):
        train([_example("空调漏水")] * 5, segment)


def test_a_target_with_one_value_is_refused(segment: Segment) -> None:
    with pytest.raises(InquiryModelError, match="same label"):
        train([_example(f"空调漏水 {i}") for i in range(20)], segment)
