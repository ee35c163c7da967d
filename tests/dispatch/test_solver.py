"""Solver invariants on tiny instances: never exact routes, always the rules."""

import dataclasses

import pytest

from dispatch import (
    Break,
    DropReason,
    Plan,
    Problem,
    Shift,
    SolveParams,
    TechnicianId,
    WorkOrderId,
    solve,
    warm_up,
)

from .conftest import DAY, at, make_order, make_problem, make_technician, window

FAST = SolveParams(time_limit_s=1.0, is_deterministic=True, solution_limit=50)


def assert_consistent(problem: Problem, plan: Plan) -> None:
    """Every rule a plan must keep, checked from the problem alone."""
    techs = {t.id: t for t in problem.technicians}
    orders = {o.id: o for o in problem.orders}
    served = [s.order_id for r in plan.routes for s in r.stops]
    assert len(served) == len(set(served))
    assert set(served) | {u.order_id for u in plan.unassigned} == set(orders)
    assert not set(served) & {u.order_id for u in plan.unassigned}
    for route in plan.routes:
        tech = techs[route.technician_id]
        shift = tech.shifts[route.shift_index]
        assert shift.start_s <= route.depart_s and route.return_s <= shift.end_s
        ready = route.depart_s
        for stop in route.stops:
            order = orders[stop.order_id]
            assert problem.can_serve(tech, order)
            assert stop.arrival_s == ready + stop.travel_s
            assert stop.start_s >= stop.arrival_s
            assert stop.end_s - stop.start_s == problem.service_s(order, tech)
            if order.windows and order.id not in tech.locked_stops:
                assert any(w.contains(stop.start_s) for w in order.windows)
            ready = stop.end_s
        assert ready <= route.return_s
        if tech.capacity is not None:
            assert sum(orders[s.order_id].demand for s in route.stops) <= tech.capacity
        for part_type in {p for s in route.stops for p in orders[s.order_id].parts}:
            used = sum(orders[s.order_id].parts.get(part_type, 0) for s in route.stops)
            assert used <= tech.stock.get(part_type, 0), (route.technician_id, part_type)
        if tech.max_orders is not None:
            assert len(route.stops) <= tech.max_orders
        if tech.max_working_s is not None:
            assert route.working_s <= tech.max_working_s
    assert plan.kpis.assigned == len(served)


def reasons(plan: Plan) -> dict[str, DropReason]:
    return {u.order_id: u.reason for u in plan.unassigned}


def test_serves_all_orders_respecting_skills_and_windows(two_tech_problem: Problem) -> None:
    plan = solve(two_tech_problem, FAST)
    assert_consistent(two_tech_problem, plan)
    assert plan.kpis.assigned == 6 and not plan.unassigned
    by_order = {s.order_id: r.technician_id for r in plan.routes for s in r.stops}
    assert by_order["o3"] == by_order["o6"] == "t2"  # gas and ac level 2


def test_kpis_add_up(two_tech_problem: Problem) -> None:
    plan = solve(two_tech_problem, FAST)
    kpis = plan.kpis
    assert kpis.travel_min == pytest.approx(sum(r.travel_s for r in plan.routes) / 60)
    assert sum(kpis.load_s_by_technician.values()) == sum(r.working_s for r in plan.routes)
    assert kpis.load_spread_s == max(kpis.load_s_by_technician.values()) - min(
        kpis.load_s_by_technician.values()
    )
    assert kpis.on_time_rate == 1.0 and kpis.travel_km is None and kpis.objective > 0


def test_reports_the_time_to_the_first_feasible_plan(two_tech_problem: Problem) -> None:
    warm_up()  # in a fresh process the first solve loads the kernels before its first plan
    plan = solve(two_tech_problem, SolveParams(time_limit_s=0.5))  # searches the whole 0.5 s
    first = plan.kpis.first_feasible_s
    assert first is not None and 0.0 < first < plan.kpis.solve_s
    assert plan.kpis.solve_s - first >= 0.3  # the search ran after the first plan


def test_multiple_windows_use_the_later_one() -> None:
    tech = make_technician(shifts=(Shift(10 * 3600, 18 * 3600),))
    order = make_order(windows=(window(8, 9), window(14, 15)))
    problem = make_problem([tech], [order])
    plan = solve(problem, FAST)
    assert_consistent(problem, plan)
    assert 14 * 3600 <= plan.routes[0].stops[0].start_s <= 15 * 3600


def test_no_skill_reason() -> None:
    order = make_order("solar", required_skills={"solar": 1})
    problem = make_problem(
        [make_technician()], [order, make_order("o2")], skill_catalog=frozenset({"solar"})
    )
    plan = solve(problem, FAST)
    assert_consistent(problem, plan)
    assert reasons(plan) == {"solar": DropReason.NO_SKILL}


def test_skill_level_too_low_is_no_skill() -> None:
    problem = make_problem([make_technician()], [make_order("hard", required_skills={"ac": 2})])
    assert reasons(solve(problem, FAST)) == {"hard": DropReason.NO_SKILL}


def test_unreachable_by_territory_and_by_window() -> None:
    tech = make_technician(territory=frozenset({"pudong"}))
    far = make_order("far", 60, windows=(window(8, 9),), region_id="pudong")  # 6 h away
    elsewhere = make_order("xuhui", 1, region_id="xuhui")
    problem = make_problem([tech], [far, elsewhere])
    plan = solve(problem, FAST)
    assert reasons(plan) == {"far": DropReason.UNREACHABLE, "xuhui": DropReason.UNREACHABLE}


def test_capacity_and_max_orders_reasons() -> None:
    orders = [make_order(f"o{i}", i, demand=1) for i in range(1, 4)]
    for limit in ({"capacity": 2}, {"max_orders": 2}):
        problem = make_problem([make_technician(**limit)], orders)
        plan = solve(problem, FAST)
        assert_consistent(problem, plan)
        assert plan.kpis.assigned == 2
        assert list(reasons(plan).values()) == [DropReason.CAPACITY]


def test_working_time_limit() -> None:
    orders = [make_order(f"o{i}", 1, duration_s=3600) for i in range(3)]
    problem = make_problem([make_technician(max_working_s=3 * 3600)], orders)
    plan = solve(problem, FAST)
    assert_consistent(problem, plan)
    assert plan.kpis.assigned == 2  # 20 min travel + 3 h of service would exceed 3 h
    assert list(reasons(plan).values()) == [DropReason.CAPACITY]


def test_higher_priority_wins_and_loser_is_outranked() -> None:
    slot = (window(9, 9.1),)
    low = make_order("low", 1, windows=slot, duration_s=3600)
    high = make_order("high", 1, windows=slot, duration_s=3600, priority=3)
    problem = make_problem([make_technician()], [low, high])
    plan = solve(problem, FAST)
    assert_consistent(problem, plan)
    assert reasons(plan) == {"low": DropReason.OUTRANKED}
    message = plan.unassigned[0].message
    assert "1 of them carry higher-priority orders" in message and "at time" in message


def test_pinned_order_goes_to_its_technician() -> None:
    near = make_technician("near")
    far = make_technician("far", start=at(9))
    order = make_order("pinned", 8, pinned_to=TechnicianId("near"))
    problem = make_problem([near, far], [order])
    plan = solve(problem, FAST)
    assert_consistent(problem, plan)
    assert plan.routes[0].technician_id == "near"


def test_locked_stops_stay_first_in_order() -> None:
    tech = make_technician(locked_stops=(WorkOrderId("far"), WorkOrderId("mid")))
    orders = [make_order("near", 1), make_order("mid", 5), make_order("far", 9)]
    problem = make_problem([tech], orders)
    plan = solve(problem, FAST)
    assert_consistent(problem, plan)
    assert [s.order_id for s in plan.routes[0].stops][:2] == ["far", "mid"]


def test_in_day_replanning_starts_at_current_position() -> None:
    tech = make_technician(current_position=at(5), available_from_s=12 * 3600)
    problem = make_problem([tech], [make_order("o", 6)])
    plan = solve(problem, FAST)
    assert_consistent(problem, plan)
    route = plan.routes[0]
    assert route.depart_s >= 12 * 3600 and route.stops[0].travel_s == 600


def test_second_day_shift_serves_second_day_window() -> None:
    tomorrow = Shift(DAY.start_s + 86400, DAY.end_s + 86400)
    tech = make_technician(shifts=(DAY, tomorrow))
    order = make_order(windows=(window(24 + 9, 24 + 10),))
    problem = make_problem([tech], [order, make_order("today", 2)])
    plan = solve(problem, FAST)
    assert_consistent(problem, plan)
    assert plan.route_of(TechnicianId("t1"), 1) is not None


def test_break_is_kept_free_of_service() -> None:
    lunch = Break(12 * 3600, 12 * 3600, 3600)
    tech = make_technician(shifts=(Shift(8 * 3600, 18 * 3600, (lunch,)),))
    orders = [make_order(f"o{i}", 0, duration_s=2 * 3600) for i in range(4)]
    problem = make_problem([tech], orders)
    plan = solve(problem, FAST)
    assert_consistent(problem, plan)
    assert plan.kpis.assigned == 4
    for stop in plan.routes[0].stops:
        assert stop.end_s <= 12 * 3600 or stop.start_s >= 13 * 3600


def test_senior_finishes_faster() -> None:
    problem = make_problem(
        [make_technician(skills={"ac": 2})], [make_order(duration_s=3600)],
        duration_factor_by_level={2: 0.5},
    )  # fmt: skip
    stop = solve(problem, FAST).routes[0].stops[0]
    assert stop.end_s - stop.start_s == 1800


def test_sla_lateness_is_reported() -> None:
    late = make_order("late", 3, sla_deadline_s=8 * 3600 + 60)  # 30 min away
    problem = make_problem([make_technician()], [late])
    plan = solve(problem, FAST)
    assert plan.routes[0].stops[0].lateness_s >= 30 * 60 - 60
    assert plan.kpis.on_time_rate == 0.0


def test_deterministic_mode_repeats_itself(two_tech_problem: Problem) -> None:
    first, second = solve(two_tech_problem, FAST), solve(two_tech_problem, FAST)
    assert first.routes == second.routes and first.unassigned == second.unassigned


def test_warm_start_keeps_feasible_routes_and_adds_new_orders(two_tech_problem: Problem) -> None:
    previous = solve(two_tech_problem, FAST)
    extra = make_order("new", 2.5)
    grown = dataclasses.replace(
        two_tech_problem,
        orders=(*two_tech_problem.orders, extra),
        travel_s=make_problem(
            two_tech_problem.technicians, (*two_tech_problem.orders, extra)
        ).travel_s,
    )
    plan = solve(grown, SolveParams(time_limit_s=1.0, use_local_search=False), warm_start=previous)
    assert_consistent(grown, plan)
    assert plan.kpis.assigned == 7
    for route in previous.routes:  # without local search the old sequences survive
        kept = [s.order_id for s in plan.route_of(route.technician_id).stops if s.order_id != "new"]
        assert kept == [s.order_id for s in route.stops]
