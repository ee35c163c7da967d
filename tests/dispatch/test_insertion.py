"""Real-time insertion: every constraint holds, the cheapest position wins, failures say why.

Instances sit on a street: location ``x`` is ``x`` hundredths of a degree east of the base and
one step takes 10 minutes, so times can be checked by hand.
"""

import itertools
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from dispatch import (
    Break,
    DropReason,
    Kpis,
    Plan,
    Problem,
    Route,
    Shift,
    SolveParams,
    TimeWindow,
    solve,
)
from dispatch.errors import UnknownReference
from dispatch.insertion import AlreadyPlanned, Insertion, LivePlan, NoInsertion, insert_order
from dispatch.model import Technician, TechnicianId, WorkOrder, WorkOrderId, node_lonlats
from dispatch.plan_io import plan_dict_with_route, plan_to_dict
from dispatch.routing_arrays import build_routing_arrays
from dispatch.schedule import schedule_route

STEP_S = 600
H = 3600


def tech(tech_id: str, **overrides: Any) -> Technician:
    fields: dict[str, Any] = {"start": (121.4, 31.2), "shifts": (Shift(8 * H, 18 * H),),
                              "skills": {"ac": 1}}  # fmt: skip
    fields.update(overrides)
    return Technician(TechnicianId(tech_id), **fields)


def order(order_id: str, x: float, **overrides: Any) -> WorkOrder:
    fields: dict[str, Any] = {"duration_s": 1800, "required_skills": {"ac": 1}}
    fields.update(overrides)
    return WorkOrder(WorkOrderId(order_id), (121.4 + x / 100, 31.2), **fields)


def street(techs: list[Technician], orders: list[WorkOrder]) -> Problem:
    lons, _ = node_lonlats(tuple(techs), tuple(orders))
    steps = np.rint((lons - 121.4) * 100)
    travel = (np.abs(steps[:, None] - steps[None, :]) * STEP_S).astype(np.int32)
    return Problem(datetime(2026, 3, 2, tzinfo=UTC), tuple(techs), tuple(orders), travel)


def empty_plan(problem: Problem) -> Plan:
    n = len(problem.orders)
    return Plan(problem.origin, (), (), Kpis(0, n, 1.0, None, 0.0, {}, 0, 0.0, 0))


def planned(problem: Problem, ids: list[str]) -> LivePlan:
    """A live plan built by inserting ``ids`` one after the other into an empty plan."""
    live = LivePlan(problem, empty_plan(problem))
    for order_id in ids:
        assert isinstance(live.insert(WorkOrderId(order_id)), Insertion)
    return live


def check_plan(problem: Problem, plan: Plan) -> None:
    """Check every route against the problem, independently of the insertion code."""
    orders = {o.id: o for o in problem.orders}
    techs = {t.id: t for t in problem.technicians}
    for route in plan.routes:
        t = techs[route.technician_id]
        shift = t.shifts[route.shift_index]
        assert [s.order_id for s in route.stops][: len(t.locked_stops)] == list(t.locked_stops)
        assert shift.start_s <= route.depart_s and route.return_s <= shift.end_s
        for s in route.stops:
            o = orders[s.order_id]
            assert problem.can_serve(t, o)
            assert not o.windows or any(w.contains(s.start_s) for w in o.windows)
            assert s.arrival_s <= s.start_s and s.end_s == s.start_s + problem.service_s(o, t)
        for a, b in itertools.pairwise(route.stops):
            assert a.end_s <= b.arrival_s <= b.start_s
        for brk in shift.breaks:
            assert _break_fits(route, shift.end_s, brk)
        assert t.max_orders is None or len(route.stops) <= t.max_orders
        assert (
            t.capacity is None or sum(orders[s.order_id].demand for s in route.stops) <= t.capacity
        )
        assert t.max_working_s is None or route.working_s <= t.max_working_s
        for part_type in {p for s in route.stops for p in orders[s.order_id].parts}:
            used = sum(orders[s.order_id].parts.get(part_type, 0) for s in route.stops)
            assert used <= t.stock.get(part_type, 0)


def _break_fits(route: Route, shift_end_s: int, brk: Break) -> bool:
    """Whether some gap between visits holds the break (taken on arrival or before leaving)."""
    stops = route.stops
    legs = [s.travel_s for s in stops] + [route.travel_s - sum(s.travel_s for s in stops)]
    ends = [route.depart_s] + [s.end_s for s in stops]
    starts = [s.start_s for s in stops] + [shift_end_s]
    for leave, leg, next_start in zip(ends, legs, starts, strict=True):
        on_arrival = max(leave + leg, brk.earliest_start_s)
        before_leaving = max(leave, brk.earliest_start_s)
        if on_arrival <= brk.latest_start_s and on_arrival + brk.duration_s <= next_start:
            return True
        if before_leaving <= brk.latest_start_s and (
            before_leaving + brk.duration_s + leg <= next_start
        ):
            return True
    return False


def test_cheapest_position_over_all_technicians_is_chosen() -> None:
    techs = [tech("t1"), tech("t2", start=(121.5, 31.2))]
    orders = [order("a", 2), order("b", 8), order("c", 5), order("new", 9)]
    problem = street(techs, orders)
    live = planned(problem, ["a", "b", "c"])
    result = live.best_insertion(WorkOrderId("new"))
    assert isinstance(result, Insertion)
    arrays = live.arrays
    exact = []
    for v, schedule in enumerate(live.schedules):
        assert schedule is not None
        for p in range(len(schedule.orders) + 1):
            trial = schedule_route(arrays, v, (*schedule.orders[:p], 3, *schedule.orders[p:]))
            if trial is not None:
                exact.append(trial.travel_s - schedule.travel_s)
    assert result.added_travel_s == min(exact)
    assert result.cost_delta == min(exact)  # no SLA: the cost is the detour


def test_insert_updates_plan_and_kpis() -> None:
    problem = street([tech("t1")], [order("a", 2), order("b", 4), order("new", 3)])
    live = planned(problem, ["a", "b"])
    before = live.plan
    result = live.insert(WorkOrderId("new"))
    assert isinstance(result, Insertion)
    (route,) = live.plan.routes
    assert sorted(s.order_id for s in route.stops) == ["a", "b", "new"]
    assert result.added_travel_s == 0  # on the way between the base and the farthest order
    assert route.travel_s == 8 * STEP_S
    assert live.plan.kpis.assigned == before.kpis.assigned + 1
    assert live.plan.kpis.objective == before.kpis.objective + result.cost_delta
    check_plan(problem, live.plan)


def test_insertion_into_a_solved_plan_keeps_every_constraint() -> None:
    techs = [
        tech("t1", skills={"ac": 2}, max_orders=4, capacity=3, max_working_s=7 * H),
        tech("t2", start=(121.45, 31.2), territory=frozenset({"east"}),
             shifts=(Shift(8 * H, 18 * H, (Break(12 * H, 13 * H, 45 * 60),)),)),
    ]  # fmt: skip
    windows = (TimeWindow(9 * H, 11 * H), TimeWindow(14 * H, 16 * H))
    orders = [
        order(f"o{i}", x, windows=windows if i % 2 else (), demand=1, region_id="east",
              required_skills={"ac": 1 + (i == 3)})
        for i, x in enumerate([1, 3, 6, 2, 7, 5])
    ] + [order("new", 4, priority=2, sla_deadline_s=12 * H, region_id="east")]  # fmt: skip
    problem = street(techs, orders)
    plan = solve(
        street(techs, orders[:-1]), SolveParams(2.0, is_deterministic=True, solution_limit=10)
    )
    assert plan.routes
    new_plan, result = insert_order(problem, plan, WorkOrderId("new"))
    assert isinstance(result, Insertion)
    assert "new" in new_plan.assigned_ids()
    check_plan(problem, new_plan)
    untouched = [r for r in plan.routes if r.technician_id != result.technician_id]
    assert all(r in new_plan.routes for r in untouched)
    # The new plan's document, patched from the old one, is the one written from scratch.
    route = new_plan.route_of(result.technician_id, result.shift_index)
    assert route is not None
    patched = plan_dict_with_route(plan_to_dict(plan), new_plan, route)
    assert patched == plan_to_dict(new_plan)
    assert patched != plan_to_dict(plan)


def test_break_is_kept() -> None:
    lunch = Break(12 * H, 12 * H, H)  # lunch is exactly 12:00-13:00
    problem = street(
        [tech("t1", shifts=(Shift(8 * H, 18 * H, (lunch,)),))],
        [order("new", 1, windows=(TimeWindow(int(11.9 * H), int(13.5 * H)),))],
    )
    live = LivePlan(problem, empty_plan(problem))
    result = live.insert(WorkOrderId("new"))
    assert isinstance(result, Insertion)
    assert result.start_s == 13 * H  # 30 min from 11:54 would run into lunch: after it then
    check_plan(problem, live.plan)


def test_locked_stops_stay_first() -> None:
    techs = [tech("t1", locked_stops=(WorkOrderId("far"),))]
    problem = street(techs, [order("far", 6), order("new", 1)])
    live = LivePlan(problem, empty_plan(problem))
    result = live.insert(WorkOrderId("new"))
    assert isinstance(result, Insertion)
    (route,) = live.plan.routes
    assert [s.order_id for s in route.stops] == ["far", "new"]


@pytest.mark.parametrize(
    ("new", "techs", "reason"),
    [
        (order("new", 1, required_skills={"ac": 3}), [tech("t1")], DropReason.NO_SKILL),
        (order("new", 1, region_id="west"), [tech("t1", territory=frozenset({"east"}))],
         DropReason.UNREACHABLE),
        (order("new", 1, demand=5), [tech("t1", capacity=4)], DropReason.CAPACITY),
        (order("new", 1, windows=(TimeWindow(9 * H, 10 * H),)), [tech("t1")], DropReason.CAPACITY),
    ],
)  # fmt: skip
def test_no_insertion_says_why(new: WorkOrder, techs: list[Technician], reason: DropReason) -> None:
    blocker = order("busy", 1, duration_s=3 * H, windows=(TimeWindow(8 * H + STEP_S, 9 * H),))
    problem = street(techs, [blocker, new])
    live = LivePlan(problem, empty_plan(problem))
    live.insert(WorkOrderId("busy"))
    before = live.plan
    result = live.insert(WorkOrderId("new"))
    assert isinstance(result, NoInsertion)
    assert result.reason == reason and result.message
    assert live.plan == before


def test_bad_requests_are_typed_errors() -> None:
    problem = street([tech("t1")], [order("a", 1)])
    live = planned(problem, ["a"])
    with pytest.raises(AlreadyPlanned):
        live.insert(WorkOrderId("a"))
    with pytest.raises(UnknownReference):
        live.insert(WorkOrderId("nope"))


def test_schedule_matches_the_arrays() -> None:
    problem = street([tech("t1")], [order("a", 3, windows=(TimeWindow(10 * H, 11 * H),))])
    arrays = build_routing_arrays(problem)
    schedule = schedule_route(arrays, 0, (0,))
    assert schedule is not None
    assert schedule.start_s == (10 * H,)  # arrives 08:30, waits for the window
    assert schedule.latest_s == (11 * H,)
    assert schedule.return_s == 10 * H + 1800 + 3 * STEP_S


def test_a_live_plan_extended_by_an_order_equals_one_built_afresh() -> None:
    techs = [tech("t1"), tech("t2", start=(121.45, 31.2), shifts=(Shift(9 * H, 17 * H),))]
    day = [order(f"o{i}", x) for i, x in enumerate([1, 3, 6, 2, 7])]
    live = planned(street(techs, day), [o.id for o in day])
    grown_problem = street(techs, [*day, order("new", 4)])
    grown_problem = Problem(  # the day's orders as the same objects, as a kept day has them
        grown_problem.origin, live.problem.technicians, (*live.problem.orders, order("new", 4)),
        grown_problem.travel_s,
    )  # fmt: skip
    arrays = build_routing_arrays(grown_problem)
    extended, afresh = live.extended(grown_problem, arrays), LivePlan(grown_problem, live.plan)
    assert extended.schedules == afresh.schedules
    assert np.array_equal(extended.table.flat(), afresh.table.flat())
    before = (list(live.schedules), live.table.flat().copy(), live.plan)
    mine, theirs = extended.insert(WorkOrderId("new")), afresh.insert(WorkOrderId("new"))
    assert isinstance(mine, Insertion) and mine == theirs
    assert extended.plan == afresh.plan
    # The plan it was extended from is untouched by the copy's insertion.
    assert (live.schedules, live.plan) == (before[0], before[2])
    assert np.array_equal(live.table.flat(), before[1])
    with pytest.raises(ValueError, match="appended"):
        live.extended(street(techs, day[:3]), build_routing_arrays(street(techs, day[:3])))
