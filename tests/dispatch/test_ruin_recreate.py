import numpy as np
import pytest

from dispatch.construction import regret_insertion
from dispatch.feasibility import route_timing
from dispatch.routing_arrays import RoutingArrays, build_routing_arrays
from dispatch.ruin_recreate import RuinRecreate

from .conftest import make_order, make_problem, make_technician, window


@pytest.fixture(scope="module")
def zigzag() -> RoutingArrays:
    """Three technicians, twenty orders scattered on the line, some with windows."""
    rng = np.random.default_rng(7)
    orders = [
        make_order(f"o{i}", float(rng.integers(-8, 9)), duration_s=900,
                   windows=(window(9, 12),) if i % 4 == 0 else ())
        for i in range(20)
    ]  # fmt: skip
    techs = [make_technician(f"t{k}", max_orders=9) for k in range(3)]
    return build_routing_arrays(make_problem(techs, orders))


def explore(arrays: RoutingArrays, seed: int) -> RuinRecreate:
    search = RuinRecreate(arrays, regret_insertion(arrays), np.full(20, 10**6), 1, seed)
    search.run(60.0, max_iterations=150)
    return search


def test_best_is_feasible_and_not_worse(zigzag: RoutingArrays) -> None:
    start_cost = RuinRecreate(zigzag, regret_insertion(zigzag), np.full(20, 10**6), 1, 0).cost
    search = explore(zigzag, 0)
    assert search.best_cost <= start_cost
    assert sorted(o for r in search.best for o in r) == list(range(20))
    for v, route in enumerate(search.best):
        assert route_timing(zigzag, v, route).is_feasible
        assert len(route) <= 9


def test_same_seed_same_routes(zigzag: RoutingArrays) -> None:
    assert explore(zigzag, 3).best == explore(zigzag, 3).best


def test_unserved_order_is_inserted_when_room_appears() -> None:
    orders = [make_order("a", 1), make_order("b", 2)]
    arrays = build_routing_arrays(make_problem([make_technician()], orders))
    search = RuinRecreate(arrays, [[0]], np.full(2, 10**6), 1, 0)
    search.run(10.0, max_iterations=5)
    assert sorted(search.best[0]) == [0, 1]
