"""The granular descent: it only lowers the objective and keeps every route feasible."""

import numpy as np
import pytest

from dispatch.local_search import LocalSearch
from dispatch.routing_arrays import RoutingArrays, build_routing_arrays
from dispatch.search_anneal import total_cost
from dispatch.search_descent import descend
from dispatch.search_instance import SearchState, copy_state
from dispatch.search_timing import time_route

from .conftest import make_order, make_problem, make_technician
from .test_local_search import assert_feasible, random_day


def descend_all(search: LocalSearch, state: SearchState, granular: int = 20) -> int:
    """Descend over every order of ``state``; return how many routes changed."""
    n_vehicles, n_orders = len(state.length), len(state.vehicle_of)
    touched = np.zeros(n_vehicles, dtype=np.bool_)
    touched_list = np.zeros(n_vehicles, dtype=np.int64)
    width = 2 * state.route.shape[1] + 1
    seq_a, seq_b = np.zeros(width, dtype=np.int64), np.zeros(width, dtype=np.int64)
    return descend(search.instance, state, np.arange(n_orders), n_orders, granular, touched,
                   touched_list, 0, seq_a, seq_b)  # fmt: skip


def routes_of(state: SearchState) -> list[list[int]]:
    return [state.route[v, : state.length[v]].tolist() for v in range(len(state.length))]


def assert_consistent(search: LocalSearch, state: SearchState) -> None:
    """Places, vehicles and per-route totals agree with the routes, timed afresh."""
    for v, route in enumerate(routes_of(state)):
        for j, order in enumerate(route):
            assert state.vehicle_of[order] == v and state.position[order] == j
    fresh = copy_state(state)
    for v in range(len(state.length)):
        assert time_route(search.instance, fresh, v)
    assert total_cost(search.instance, fresh) == total_cost(search.instance, state)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("weights", [(1, 0, 0), (1, 10, 3)])
def test_descent_keeps_every_rule_and_never_costs_more(
    seed: int, weights: tuple[int, int, int]
) -> None:
    """Breaks, skills, a locked stop, order and working-time limits, lateness and balance."""
    arrays = random_day(seed)
    penalties = np.full(arrays.n_orders, 10**6, dtype=np.int64)
    search = LocalSearch(
        arrays, penalties, weights, seed, [list(v.locked) for v in arrays.vehicles]
    )
    state = copy_state(search.current)
    before = total_cost(search.instance, state)
    descend_all(search, state)
    assert total_cost(search.instance, state) <= before
    assert_feasible(arrays, routes_of(state))
    assert_consistent(search, state)


def parts_day() -> RoutingArrays:
    """Two vans with two valves each; four orders need one valve each, all on one line."""
    orders = [
        make_order(f"o{i}", 1 + i, duration_s=600, parts={"valve": 1} if i % 2 else {})
        for i in range(8)
    ]
    techs = [make_technician("t0", stock={"valve": 2}), make_technician("t1", stock={"valve": 2})]
    return build_routing_arrays(make_problem(techs, orders))


def test_moves_between_routes_respect_every_part_type() -> None:
    arrays = parts_day()
    search = LocalSearch(arrays, np.full(arrays.n_orders, 10**6, dtype=np.int64), (1, 0, 0), 0,
                         [[0, 1, 2, 3], [4, 5, 6, 7]])  # fmt: skip
    state = copy_state(search.current)
    descend_all(search, state)
    for route in routes_of(state):
        assert sum(1 for o in route if o % 2) <= 2
    assert_feasible(arrays, routes_of(state))
    assert_consistent(search, state)


def test_a_zigzag_route_is_straightened() -> None:
    """Or-opt and 2-opt undo a route that doubles back; out to the farthest and back is best."""
    orders = [make_order(f"o{i}", 1 + i, duration_s=60) for i in range(12)]
    arrays = build_routing_arrays(make_problem([make_technician()], orders))
    zigzag = [0, 11, 1, 10, 2, 9, 3, 8, 4, 7, 5, 6]
    search = LocalSearch(arrays, np.full(12, 10**6, dtype=np.int64), (1, 0, 0), 0, [zigzag])
    state = copy_state(search.current)
    assert descend_all(search, state) == 1
    base, farthest = arrays.start_node(0), 11
    assert state.travel[0] == 2 * arrays.travel[base, farthest]
    assert_consistent(search, state)
