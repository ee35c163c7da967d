"""A kept day extended by one order equals a full build of the day with that order.

That includes the routes' schedules, which the kept day computes once and then carries over.
"""

from datetime import datetime
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.config import Settings
from api.dispatch import service
from api.dispatch.live_plans import LiveDay, LivePlanCache
from dispatch import TimeWindow, Unassigned, WorkOrder, WorkOrderId
from dispatch.insertion import Insertion, LivePlan
from tests.api.dispatch.support import applied_day, at
from tests.api.dispatch.test_dispatch_live_plans import ask, insert, urgent

Headers = dict[str, dict[str, str]]


def order(**overrides: Any) -> WorkOrder:
    values: dict[str, Any] = {
        "id": WorkOrderId("new"), "location": (121.476, 31.228), "duration_s": 1800,
        "required_skills": {"aircon": 1}, "windows": (TimeWindow(10 * 3600, 16 * 3600),),
        "priority": 1, "region_id": None,
    } | overrides  # fmt: skip
    return WorkOrder(**values)


ORDERS = [
    order(),
    order(location=(121.49, 31.24), required_skills={}, windows=()),
    order(
        location=(121.46, 31.21),
        duration_s=600,
        sla_deadline_s=12 * 3600,
        demand=2,
        windows=tuple(TimeWindow(h * 3600, (h + 1) * 3600) for h in (9, 14, 16)),
    ),
    order(required_skills={"aircon": 3}),
    order(pinned_to="T-B", location=(121.485, 31.236)),
]


def assert_same(grown: LivePlan, full: LivePlan) -> None:
    """The problems and arrays agree; vehicles may number their service classes differently."""
    assert grown.problem.orders == full.problem.orders
    assert grown.problem.technicians == full.problem.technicians
    assert np.array_equal(grown.problem.travel_s, full.problem.travel_s)
    assert grown.problem.travel_s.dtype == full.problem.travel_s.dtype
    assert np.array_equal(grown.problem.distance_m, full.problem.distance_m)  # type: ignore[arg-type]
    a, b = grown.arrays, full.arrays
    for name in ("node_of", "travel", "win_start", "win_end", "demand", "priority", "sla_s",
                 "has_skills", "in_territory", "allowed"):  # fmt: skip
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert (a.n_orders, a.horizon_s) == (b.n_orders, b.horizon_s)
    for v, (mine, theirs) in enumerate(zip(a.vehicles, b.vehicles, strict=True)):
        assert mine.technician_index == theirs.technician_index
        assert mine.shift_index == theirs.shift_index
        assert np.array_equal(a.service_of(v), b.service_of(v))
    assert grown.schedules == full.schedules  # kept from the day, not computed again
    assert np.array_equal(grown.table.flat(), full.table.flat())


def kept_day(api: TestClient) -> LiveDay:
    cache: LivePlanCache = api.app.state.live_plans  # type: ignore[attr-defined]
    (kept,) = cache.kept()
    return kept


@pytest.mark.parametrize("new", ORDERS, ids=["plain", "anytime", "three_windows", "level", "pin"])
def test_an_order_added_to_the_kept_day_matches_a_full_build(
    api: TestClient,
    headers: Headers,
    world: dict[str, Any],
    session: Session,
    dispatch_settings: Settings,
    new: WorkOrder,
) -> None:
    auth = headers["dispatcher"]
    applied_day(api, headers)
    ask(api, auth)
    insert(api, auth, urgent(session, 121.474))  # the kept day's base grows by this one
    day, catalog = kept_day(api), dispatch_settings.skill_catalogue
    grown, full = day.live_plan(new, catalog), day._rebuilt_live_plan(new, catalog)
    assert isinstance(grown, LivePlan) and isinstance(full, LivePlan)
    assert_same(grown, full)
    mine, theirs = grown.best_insertion(new.id), full.best_insertion(new.id)
    assert type(mine) is type(theirs)
    if isinstance(mine, Insertion) and isinstance(theirs, Insertion):
        assert (mine.technician_id, mine.position, mine.start_s, mine.cost_delta) == (
            theirs.technician_id, theirs.position, theirs.start_s, theirs.cost_delta,
        )  # fmt: skip
    else:
        assert mine == theirs


@pytest.mark.parametrize("now", [None, at(11)], ids=["windows_ahead", "windows_cut_at_now"])
def test_the_base_grown_by_insertions_matches_one_built_afresh(
    api: TestClient,
    headers: Headers,
    world: dict[str, Any],
    session: Session,
    dispatch_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    now: datetime | None,
) -> None:
    # Windows ahead: the copy keeps the day each insertion grew. Cut at the present (10:00 to
    # 11:00): the order inserted differs from the one kept, so the copy's day grows afresh.
    if now is not None:
        monkeypatch.setattr(service, "utc_now", lambda: now)
    auth, catalog = headers["dispatcher"], dispatch_settings.skill_catalogue
    applied_day(api, headers)
    ask(api, auth)
    for lon in (121.474, 121.478):
        insert(api, auth, urgent(session, lon))
    day = kept_day(api)
    grown = day.bases[frozenset(catalog)]
    afresh = LiveDay(**{f: getattr(day, f) for f in LiveDay.__dataclass_fields__ if f != "bases"})
    built = afresh.base(catalog)
    assert grown is not None and built is not None
    assert grown.problem.orders == built.problem.orders
    assert np.array_equal(grown.problem.travel_s, built.problem.travel_s)
    assert np.array_equal(grown.arrays.allowed, built.arrays.allowed)
    # Only the changed routes were scheduled again; the positions moved with the nodes.
    assert grown.live.schedules == built.live.schedules
    assert np.array_equal(grown.live.table.flat(), built.live.table.flat())
    assert grown.live.plan == built.live.plan


def test_an_order_the_day_cannot_take_is_left_out_as_a_full_build_says(
    api: TestClient, headers: Headers, world: dict[str, Any], dispatch_settings: Settings
) -> None:
    applied_day(api, headers)
    ask(api, headers["dispatcher"])
    day, catalog = kept_day(api), dispatch_settings.skill_catalogue
    for new in (
        order(required_skills={"teleport": 1}),  # in no catalogue
        order(windows=(TimeWindow(20 * 3600, 21 * 3600),)),
        order(pinned_to="T-Z"),
    ):
        left_out = day.live_plan(new, catalog)
        assert isinstance(left_out, Unassigned), new
        assert left_out == day._rebuilt_live_plan(new, catalog)
