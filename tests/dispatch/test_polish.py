"""OR-Tools' descent after the search: groups of routes, breaks as break intervals."""

import time

import numpy as np
import pytest

from dispatch import InvalidSolveParams, Shift, SolveParams, solve, solver
from dispatch.local_search import LocalSearch
from dispatch.polish import Group, descend, route_groups, whole_day
from dispatch.routing_arrays import RoutingArrays, build_routing_arrays
from dispatch.schedule import schedule_route

from .conftest import at, make_order, make_problem, make_technician, window
from .test_local_search import LUNCH, assert_feasible, random_day
from .test_solver import assert_consistent

NO_LIMIT = SolveParams(time_limit_s=5.0)


def construction(arrays: RoutingArrays) -> list[list[int]]:
    """Routes of the search's construction, before any move: room for the descent."""
    penalties = np.where(arrays.priority > 0, 10**8, 10**6).astype(np.int64)
    locked = [list(v.locked) for v in arrays.vehicles]
    return LocalSearch(arrays, penalties, (1, 10, 0), 0, locked).best_routes


def zigzag_day() -> RoutingArrays:
    """One technician with a lunch break and eight orders on a street, visited zigzag."""
    tech = make_technician("t0", shifts=(Shift(8 * 3600, 18 * 3600, LUNCH),))
    orders = [make_order(f"o{i}", 1 + i, duration_s=1200) for i in range(8)]
    return build_routing_arrays(make_problem([tech], orders))


def travel_of(arrays: RoutingArrays, vehicle: int, route: list[int]) -> int:
    schedule = schedule_route(arrays, vehicle, tuple(route))
    assert schedule is not None
    return schedule.travel_s


def test_descent_straightens_a_route_around_its_lunch_break() -> None:
    arrays = zigzag_day()
    zigzag = [7, 0, 6, 1, 5, 2, 4, 3]
    assert schedule_route(arrays, 0, tuple(zigzag)) is not None
    found = descend(arrays, NO_LIMIT, whole_day(arrays), [zigzag], time.perf_counter() + 5)
    assert found is not None
    assert sorted(found[0]) == list(range(8))
    assert travel_of(arrays, 0, found[0]) < travel_of(arrays, 0, zigzag) / 2


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_groups_keep_every_rule_of_a_day_with_breaks(seed: int) -> None:
    arrays = random_day(seed)
    routes = construction(arrays)
    for group in route_groups(arrays, routes, size=2, unserved_per_route=3):
        deadline = time.perf_counter() + 5
        found = descend(arrays, NO_LIMIT, group, [routes[v] for v in group.vehicles], deadline)
        assert found is not None
        new = [list(r) for r in routes]
        for v, route in zip(group.vehicles, found, strict=True):
            assert set(route) <= set(group.orders)
            new[v] = route
        assert_feasible(arrays, new)  # locks first, allowed, no order twice, exact schedule


def test_groups_take_each_used_route_once_with_its_nearest_unserved_orders() -> None:
    techs = [make_technician(f"t{i}", start=at(10 * i)) for i in range(5)]
    techs.append(make_technician("idle", start=at(60), skills={"ac": 1, "gas": 1}))
    orders = [make_order(f"o{i}", i, duration_s=600) for i in range(50)]
    orders.append(make_order("gas", 1, required_skills={"gas": 1}))
    arrays = build_routing_arrays(make_problem(techs, orders))
    routes: list[list[int]] = [[10 * i, 10 * i + 1] for i in range(5)] + [[]]
    groups = route_groups(arrays, routes, size=2, unserved_per_route=2)
    assert sorted(v for g in groups for v in g.vehicles) == [0, 1, 2, 3, 4]
    assert [len(g.vehicles) for g in groups] == [2, 2, 1]
    assert all(abs(a - b) == 1 for g in groups if len(g.vehicles) == 2 for a, b in [g.vehicles])
    for group in groups:
        served = {o for v in group.vehicles for o in routes[v]}
        unserved = set(group.orders) - served
        assert len(unserved) <= 2 * len(group.vehicles)
        for order in unserved:  # the nearest ones along the street, never one nobody may do
            assert any(abs(order - 10 * v) <= 3 for v in group.vehicles)
    assert 50 not in {o for g in groups for o in g.orders}


def test_an_unserved_order_near_two_groups_goes_to_the_first_that_takes_it() -> None:
    arrays = random_day(1)
    group = Group((0, 1), (3, 4, 5, 6))
    routes = [[3], [], [5, 9], []]  # vehicle 2, outside the group, took order 5 meanwhile
    assert group.without_orders_served_elsewhere(routes) == Group((0, 1), (3, 4, 6))
    assert len(arrays.vehicles) == len(routes)


def test_an_order_both_groups_could_take_is_served_once() -> None:
    shift = Shift(8 * 3600, 18 * 3600, LUNCH)
    techs = [make_technician(f"t{i}", start=at(i), shifts=(shift,)) for i in range(6)]
    orders = [make_order(f"o{i}", i, duration_s=600) for i in range(6)]
    orders.append(make_order("between", 2.5, duration_s=600))  # offered to both groups
    arrays = build_routing_arrays(make_problem(techs, orders))
    routes = [[i] for i in range(6)]  # as if the search had left "between" out
    groups = route_groups(arrays, routes, solver.GROUP_ROUTES, solver.GROUP_UNSERVED)
    assert len(groups) == 2 and all(6 in g.orders for g in groups)
    params = SolveParams(5.0)
    penalties = solver._penalties(arrays, params)  # the solver's own loop, as solve runs it
    schedules = solver._schedules(arrays, routes)
    polished, _ = solver._polish(
        arrays, params, penalties, routes, schedules, time.perf_counter() + 5
    )
    served = [o for route in polished for o in route]
    assert sorted(served) == list(range(7))  # taken in, and only once


def test_a_day_with_breaks_is_polished_and_reports_the_gain() -> None:
    shift = Shift(8 * 3600, 18 * 3600, LUNCH)
    techs = [make_technician(f"t{i}", start=at(3 * i), shifts=(shift,)) for i in range(3)]
    orders = [
        make_order(f"o{i}", i % 9, windows=(window(8 + i % 6, 12 + i % 6),), duration_s=1500)
        for i in range(24)
    ]  # fmt: skip
    problem = make_problem(techs, orders)
    plan = solve(problem, SolveParams(2.0, is_deterministic=True, solution_limit=5))
    assert_consistent(problem, plan)
    assert isinstance(plan.kpis.polish_gain, int) and plan.kpis.polish_gain >= 0
    alone = SolveParams(2.0, is_deterministic=True, solution_limit=5, polish_share=0)
    assert solve(problem, alone).kpis.polish_gain is None


def test_whole_day_group_holds_everything() -> None:
    arrays = random_day(1, n_orders=10)
    assert whole_day(arrays) == Group((0, 1, 2, 3), tuple(range(10)))


@pytest.mark.parametrize("share", [-0.1, 0.6])
def test_polish_share_outside_its_range_is_refused(share: float) -> None:
    with pytest.raises(InvalidSolveParams, match="polish_share") as refused:
        SolveParams(polish_share=share)
    assert refused.value.details["field"] == "polish_share"
