"""Scoring: lines add up, each line reacts to its own fact, bands and caps hold."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.leads.rules.model import Channel, LeadFacts
from api.leads.rules.scoring import ScoreParams, score_lead

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def make_facts(**overrides: object) -> LeadFacts:
    """A complete web-form lead for central AC, inside a region, captured just now."""
    defaults: dict[str, object] = {
        "channel": Channel.WEB_FORM,
        "has_phone": True,
        "has_email": True,
        "has_name": True,
        "has_location": True,
        "product_line": "central_ac",
        "region_id": "310115",
        "touches": 1,
        "last_touched_at": NOW,
    }
    return LeadFacts(**{**defaults, **overrides})  # type: ignore[arg-type]


def points(facts: LeadFacts, code: str) -> int:
    return next(line.points for line in score_lead(facts, now=NOW).lines if line.code == code)


def test_a_complete_fresh_lead_scores_hot_with_every_line_explained() -> None:
    score = score_lead(make_facts(), now=NOW)
    assert [line.code for line in score.lines] == [
        "channel", "completeness", "product_line", "touches", "region", "recency"
    ]  # fmt: skip
    assert score.total == 18 + 20 + 20 + 0 + 10 + 15
    assert score.band == "hot"
    assert all(line.label for line in score.lines)


def test_each_line_reacts_to_its_fact() -> None:
    base = make_facts()
    assert points(replace(base, channel=Channel.CSV), "channel") < points(base, "channel")
    assert points(replace(base, has_phone=False), "completeness") == 12
    assert points(replace(base, product_line="cleaning"), "product_line") == 6
    assert points(replace(base, product_line="drones"), "product_line") == 4
    assert points(replace(base, product_line=None), "product_line") == 0
    assert points(replace(base, region_id=None), "region") == 0
    assert points(replace(base, has_location=False, region_id=None), "region") == 0


@pytest.mark.parametrize(("touches", "expected"), [(1, 0), (2, 5), (3, 10), (4, 15), (9, 15)])
def test_repeat_touches_add_points_up_to_a_cap(touches: int, expected: int) -> None:
    assert points(make_facts(touches=touches), "touches") == expected


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (timedelta(0), 15),
        (timedelta(hours=1), 15),
        (timedelta(hours=1, seconds=1), 10),
        (timedelta(days=3), 5),
        (timedelta(days=4), 0),
    ],
)
def test_recency_decays_in_steps(age: timedelta, expected: int) -> None:
    assert points(make_facts(last_touched_at=NOW - age), "recency") == expected


def test_bands_follow_the_thresholds() -> None:
    cold = make_facts(
        channel=Channel.CSV, has_email=False, has_location=False, region_id=None,
        product_line=None, last_touched_at=NOW - timedelta(days=10),
    )  # fmt: skip
    assert score_lead(cold, now=NOW).band == "cold"
    warm = replace(cold, product_line="central_ac", has_location=True, region_id="310115")
    assert score_lead(warm, now=NOW).band == "warm"


@given(
    channel=st.sampled_from(list(Channel)),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()),
    product_line=st.sampled_from([None, "central_ac", "cleaning", "unknown"]),
    touches=st.integers(1, 50),
    age_h=st.integers(0, 24 * 60),
)
def test_score_is_the_sum_of_capped_lines_within_0_100(
    channel: Channel,
    flags: tuple[bool, bool, bool, bool],
    product_line: str | None,
    touches: int,
    age_h: int,
) -> None:
    phone, email, name, location = flags
    facts = make_facts(
        channel=channel, has_phone=phone, has_email=email, has_name=name, has_location=location,
        region_id="310115" if location else None, product_line=product_line, touches=touches,
        last_touched_at=NOW - timedelta(hours=age_h),
    )  # fmt: skip
    score = score_lead(facts, now=NOW)
    assert score.total == sum(line.points for line in score.lines)
    assert 0 <= score.total <= 100
    assert all(0 <= line.points <= line.max_points for line in score.lines)
    assert sum(line.max_points for line in score.lines) == 100


def test_bad_params_are_refused() -> None:
    with pytest.raises(ValueError, match="bands"):
        ScoreParams(hot_from=30, warm_from=40)
    with pytest.raises(ValueError, match=r"0\.\.20"):
        ScoreParams(unknown_product_line_points=25)
