"""RFM scores, tiers and what a tier changes in dispatch, on the demo policy and edge cases."""

import tomllib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.config import PROJECT_ROOT
from api.customers.value_tiers import (
    CustomerActivity,
    InvalidTierPolicy,
    TierPolicy,
    effective_priority,
    effective_sla,
    parse_tier_policy,
    score,
)

NOW = datetime(2026, 12, 3, 8, tzinfo=UTC)


def demo_table() -> dict[str, Any]:
    with (PROJECT_ROOT / "data" / "value_tiers.toml").open("rb") as handle:
        return tomllib.load(handle)


@pytest.fixture
def policy() -> TierPolicy:
    return parse_tier_policy(demo_table())


def activity(days_ago: int | None, services: int = 0, billed_fen: int = 0) -> CustomerActivity:
    last = None if days_ago is None else NOW - timedelta(days=days_ago, hours=1)
    return CustomerActivity(last, services, billed_fen)


@pytest.mark.parametrize(
    ("days_ago", "expected"),
    [(0, 5), (30, 5), (31, 4), (90, 4), (91, 3), (180, 3), (181, 2), (365, 2), (366, 1), (2000, 1)],
)
def test_recency_loses_a_point_at_each_limit_passed(
    policy: TierPolicy, days_ago: int, expected: int
) -> None:
    # Whole days elapsed: 30 days and an hour is still "up to 30 days".
    assert score(activity(days_ago, 1), policy, as_of=NOW).recency == expected


@pytest.mark.parametrize(
    ("services", "billed_fen", "frequency", "monetary"),
    [(0, 0, 1, 1), (1, 9_999, 2, 1), (1, 10_000, 2, 2), (2, 30_000, 3, 3), (4, 100_000, 4, 4),
     (8, 300_000, 5, 5), (500, 10**12, 5, 5)],
)  # fmt: skip
def test_frequency_and_monetary_gain_a_point_at_each_limit_reached(
    policy: TierPolicy, services: int, billed_fen: int, frequency: int, monetary: int
) -> None:
    scored = score(activity(10, services, billed_fen), policy, as_of=NOW)
    assert (scored.frequency, scored.monetary) == (frequency, monetary)


def test_the_total_picks_the_first_tier_it_reaches(policy: TierPolicy) -> None:
    best = score(activity(3, 4, 100_000), policy, as_of=NOW)
    assert (best.total, best.tier) == (13, "A")
    edge = score(activity(40, 4, 100_000), policy, as_of=NOW)  # 4 + 4 + 4
    assert (edge.total, edge.tier) == (12, "A")
    middle = score(activity(40, 2, 30_000), policy, as_of=NOW)  # 4 + 3 + 3
    assert (middle.total, middle.tier) == (10, "B")
    assert score(activity(None), policy, as_of=NOW).tier == "C"
    assert score(activity(None), policy, as_of=NOW).policy_version == policy.version


def test_a_service_after_the_scoring_time_counts_as_today(policy: TierPolicy) -> None:
    future = CustomerActivity(NOW + timedelta(days=2), 1, 0)
    assert score(future, policy, as_of=NOW).recency == 5


def test_a_tier_raises_priority_by_its_steps_up_to_the_ceiling(policy: TierPolicy) -> None:
    assert effective_priority("normal", "A", policy) == "urgent"
    assert effective_priority("urgent", "A", policy) == "urgent"  # the ceiling
    assert effective_priority("emergency", "A", policy) == "emergency"  # never lowered
    assert effective_priority("normal", "B", policy) == "normal"
    assert effective_priority("normal", None, policy) == "normal"
    assert effective_priority("normal", "Z", policy) == "normal"  # a tier this version lacks


def test_a_tier_shortens_the_time_to_the_sla_by_its_factor(policy: TierPolicy) -> None:
    due = NOW + timedelta(hours=4)
    assert effective_sla(NOW, due, "A", policy) == NOW + timedelta(hours=3)
    assert effective_sla(NOW, due, "B", policy) == due
    assert effective_sla(NOW, None, "A", policy) is None
    assert effective_sla(NOW, NOW - timedelta(hours=1), "A", policy) == NOW  # already overdue
    odd = NOW + timedelta(seconds=7)  # 5.25 s is kept as 5: never later than the factor says
    assert effective_sla(NOW, odd, "A", policy) == NOW + timedelta(seconds=5)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"version": 0}, "version"),
        ({"recency_days": {"limits": [30, 30, 180, 365]}}, "recency_days"),
        ({"frequency": {"limits": [1, 2, 4]}}, "frequency.limits"),
        ({"monetary_fen": {"limits": [-1, 2, 3, 4]}}, "monetary_fen.limits.0"),
        ({"max_priority": "asap"}, "policy"),
        ({"colour": "gold"}, "colour"),
        ({"tiers": []}, "tiers"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidTierPolicy) as refused:
        parse_tier_policy(demo_table() | change)
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([{"name": "A", "min_score": 3}, {"name": "A", "min_score": 3}], "unique"),
        ([{"name": "B", "min_score": 8}, {"name": "A", "min_score": 12}], "best first"),
        ([{"name": "A", "min_score": 12}, {"name": "B", "min_score": 5}], "min_score 3"),
        ([{"name": "A", "min_score": 3, "sla_factor": "0"}], "greater than 0"),
        ([{"name": "A", "min_score": 3, "priority_steps": 3}], "less than or equal to 2"),
    ],
)
def test_inconsistent_tiers_are_refused(tiers: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(InvalidTierPolicy, match=message):
        parse_tier_policy(demo_table() | {"tiers": tiers})
