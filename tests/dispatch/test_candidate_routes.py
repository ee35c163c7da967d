"""The routes offered to an order: near ones and one empty, never a disallowed vehicle."""

import numpy as np
import pytest

from dispatch import InvalidSolveParams, Shift
from dispatch.local_search import AnnealingParams, LocalSearch
from dispatch.routing_arrays import RoutingArrays, build_routing_arrays
from dispatch.search_anneal import place_route
from dispatch.search_instance import build_instance, empty_state
from dispatch.search_moves import candidate_vehicles

from .conftest import at, make_order, make_problem, make_technician, window
from .test_local_search import LUNCH, assert_feasible

ORDERS_NEAR = 45  # more than an order's neighbour list, so the far order is not among them


def street() -> RoutingArrays:
    """Ten technicians two steps apart (t9 lacks the skill), orders near t0 and one far east.

    Order 0 is at step 1; orders 1-44 at steps 2-3; order 45 at step 16, t8's home.
    """
    techs = [make_technician(f"t{i}", start=at(2 * i)) for i in range(9)]
    techs.append(make_technician("t9", start=at(18), skills={"gas": 1}))
    orders = [make_order("o0", 1, duration_s=60)]
    orders += [make_order(f"o{i}", 2 + i % 2, duration_s=60) for i in range(1, ORDERS_NEAR)]
    orders.append(make_order("far", 16, duration_s=60))
    return build_routing_arrays(make_problem(techs, orders))


def offered(arrays: RoutingArrays, routes: dict[int, list[int]], home_vehicles: int) -> set[int]:
    instance = build_instance(arrays, np.ones(arrays.n_orders, dtype=np.int64), (1, 0, 0))
    state = empty_state(instance)
    for v, orders in routes.items():
        assert place_route(instance, state, v, np.asarray(orders, dtype=np.int64))
    n_vehicles = len(arrays.vehicles)
    candidates = np.empty(n_vehicles, dtype=np.int64)
    seen = np.zeros(n_vehicles, dtype=np.bool_)
    count = candidate_vehicles(instance, state, 0, home_vehicles, candidates, seen)
    assert not seen.any()  # left clean for the next order
    return set(candidates[:count].tolist())


def test_near_homes_neighbours_routes_and_the_nearest_empty_vehicle() -> None:
    arrays = street()
    # t0 and t1 are busy, t7 serves a neighbour of order 0, t8 serves only the far order
    routes = {0: [5], 1: [6], 7: [1], 8: [ORDERS_NEAR]}
    # the two nearest homes (t0, t1), t7 for its neighbour, t2 as the nearest empty one
    assert offered(arrays, routes, home_vehicles=2) == {0, 1, 2, 7}


def test_zero_offers_every_allowed_vehicle() -> None:
    arrays = street()
    assert offered(arrays, {0: [5], 8: [ORDERS_NEAR]}, home_vehicles=0) == set(range(9))


def test_an_empty_near_home_needs_no_extra_vehicle() -> None:
    arrays = street()
    assert offered(arrays, {1: [6]}, home_vehicles=2) == {0, 1}


def test_negative_home_vehicles_is_refused() -> None:
    with pytest.raises(InvalidSolveParams, match="home_vehicles"):
        AnnealingParams(home_vehicles=-1)


@pytest.mark.parametrize("seed", range(3))
def test_a_large_fleet_with_few_routes_offered_stays_feasible(seed: int) -> None:
    """Thirty technicians along the street, each order offered a handful of routes."""
    rng = np.random.default_rng(seed)
    techs = [
        make_technician(f"t{i}", start=at(3 * i), shifts=(Shift(8 * 3600, 18 * 3600, LUNCH),),
                        skills={"ac": 1 + i % 2}, max_orders=6)
        for i in range(30)
    ]  # fmt: skip
    orders = [
        make_order(
            f"o{i}", float(rng.integers(0, 90)), duration_s=int(rng.integers(10, 60)) * 60,
            windows=() if i % 2 else (window(8 + i % 6, 11 + i % 6),),
            required_skills={"ac": 1 + i % 3 // 2},
        )
        for i in range(150)
    ]  # fmt: skip
    arrays = build_routing_arrays(make_problem(techs, orders))
    penalties = np.full(arrays.n_orders, 10**6, dtype=np.int64)
    search = LocalSearch(
        arrays, penalties, (1, 0, 0), seed, params=AnnealingParams(home_vehicles=2)
    )
    constructed = search.best_cost
    search.run(60.0, 3000)
    assert search.best_cost < constructed
    assert_feasible(arrays, search.best_routes)
