"""Assignment: territory, product line, least loaded, hot first; first-response SLA flags."""

from datetime import UTC, datetime, timedelta

import pytest

from api.leads.rules.assignment import (
    AssignParams,
    LeadToAssign,
    Owner,
    assign_many,
    assign_one,
    first_response_due,
    sla_state,
)

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
OWNERS = [
    Owner("pudong-ac", "team-310115", frozenset({"central_ac"}), open_leads=3),
    Owner("pudong-any", "team-310115", frozenset({"water_heater"}), open_leads=0),
    Owner("xuhui", "team-310104", frozenset({"central_ac"}), open_leads=0),
]


def lead(lead_id: str = "L1", team: str | None = "team-310115", line: str | None = "central_ac",
         score: int = 50) -> LeadToAssign:  # fmt: skip
    return LeadToAssign(lead_id, team, line, score)


def test_territory_then_product_line_wins_over_load() -> None:
    assignment = assign_one(lead(), OWNERS)
    assert assignment.owner_id == "pudong-ac"
    assert "territory team team-310115" in assignment.reason
    assert "handles central_ac" in assignment.reason


def test_least_loaded_within_the_territory_when_nobody_handles_the_line() -> None:
    assert assign_one(lead(line="cleaning"), OWNERS).owner_id == "pudong-any"


def test_outside_every_territory_falls_back_to_product_line_then_load() -> None:
    assignment = assign_one(lead(team=None), OWNERS)
    assert assignment.owner_id == "xuhui"
    assert "no territory" in assignment.reason


def test_owners_at_capacity_are_skipped_and_none_left_means_unassigned() -> None:
    full = [Owner("a", "t", frozenset(), open_leads=2, max_open_leads=2)]
    assignment = assign_one(lead(team="t"), full)
    assert assignment.owner_id is None
    assert "no owner has room" in assignment.reason


def test_hot_leads_are_assigned_first_and_loads_accumulate() -> None:
    owners = [Owner("best", "t", frozenset({"ac"}), 0, max_open_leads=1), Owner("other", "t",
              frozenset(), 0)]  # fmt: skip
    leads = [lead("cold", "t", "ac", 20), lead("hot", "t", "ac", 90)]
    result = assign_many(leads, owners)
    assert [a.lead_id for a in result] == ["cold", "hot"]  # input order kept
    assert {a.lead_id: a.owner_id for a in result} == {"hot": "best", "cold": "other"}


def test_assign_many_spreads_equal_leads_over_equal_owners() -> None:
    owners = [Owner("a", "t", frozenset(), 0), Owner("b", "t", frozenset(), 0)]
    result = assign_many([lead(f"L{i}", "t", None, 50) for i in range(4)], owners)
    assert sorted(a.owner_id or "" for a in result) == ["a", "a", "b", "b"]


@pytest.mark.parametrize(("band", "minutes"), [("hot", 15), ("warm", 120), ("cold", 24 * 60)])
def test_first_response_is_due_by_band(band: str, minutes: int) -> None:
    assert first_response_due(band, received_at=NOW) == NOW + timedelta(minutes=minutes)


def test_sla_flags() -> None:
    window = timedelta(minutes=60)
    due = NOW + window

    def state(now: datetime, responded: datetime | None = None) -> tuple[bool, bool]:
        s = sla_state(due_at=due, window=window, responded_at=responded, now=now)
        return s.is_at_risk, s.is_overdue

    assert state(NOW) == (False, False)
    assert state(NOW + timedelta(minutes=44)) == (False, False)
    assert state(NOW + timedelta(minutes=45)) == (True, False)
    assert state(NOW + timedelta(minutes=61)) == (False, True)
    later = NOW + timedelta(minutes=90)
    assert state(later, responded=NOW + timedelta(minutes=5)) == (False, False)
    assert state(later, responded=NOW + timedelta(minutes=70)) == (False, True)
    assert sla_state(due_at=None, window=window, responded_at=None, now=NOW).is_overdue is False


def test_bad_params_are_refused() -> None:
    with pytest.raises(ValueError, match="bands"):
        AssignParams(sla_by_band={"hot": timedelta(minutes=5)})
    with pytest.raises(ValueError, match="at_risk_share"):
        AssignParams(at_risk_share=1.5)
