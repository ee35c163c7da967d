"""The compiled search: every state it keeps is feasible by the exact schedule."""

import itertools

import numpy as np
import pytest

from dispatch import Break, InvalidSolveParams, Shift, WorkOrderId
from dispatch.local_search import AnnealingParams, LocalSearch
from dispatch.routing_arrays import RoutingArrays, build_routing_arrays
from dispatch.schedule import schedule_route
from dispatch.search_anneal import total_cost
from dispatch.search_instance import build_instance, copy_state
from dispatch.search_moves import open_route, ruin
from dispatch.search_timing import schedule_breaks

from .conftest import make_order, make_problem, make_technician, window

LUNCH = (Break(11 * 3600 + 1800, 13 * 3600, 1800),)
TWO_BREAKS = (Break(10 * 3600, 10 * 3600 + 1800, 900), Break(12 * 3600, 13 * 3600, 1800))


def random_day(seed: int, n_orders: int = 40) -> RoutingArrays:
    """Four technicians with breaks, skills, limits and a locked stop; windowed orders."""
    rng = np.random.default_rng(seed)
    orders = []
    for i in range(n_orders):
        start = float(rng.integers(8, 16))
        windows = () if i % 3 == 0 else (window(start, start + float(rng.integers(1, 4))),)
        if i % 7 == 0:
            windows = (window(8, 10), window(14, 17))
        orders.append(
            make_order(
                f"o{i}", float(rng.integers(-6, 7)), duration_s=int(rng.integers(10, 50)) * 60,
                windows=windows, demand=int(rng.integers(0, 3)), priority=int(i % 5 == 0),
                required_skills={"ac": int(rng.integers(1, 3))},
                sla_deadline_s=int(start * 3600) + 1800 if i % 4 == 0 else None,
            )
        )  # fmt: skip
    shift = Shift(8 * 3600, 18 * 3600, LUNCH)
    techs = [
        make_technician("t0", shifts=(shift,), skills={"ac": 2}, capacity=8),
        make_technician("t1", shifts=(Shift(8 * 3600, 18 * 3600, TWO_BREAKS),), max_orders=6),
        make_technician("t2", shifts=(shift,), skills={"ac": 2}, max_working_s=5 * 3600,
                        locked_stops=(WorkOrderId("o1"),)),
        make_technician("t3", start=(121.45, 31.2), skills={"ac": 2}),
    ]  # fmt: skip
    return build_routing_arrays(make_problem(techs, orders))


def search_on(arrays: RoutingArrays, seed: int = 0, moves: int = 400) -> LocalSearch:
    penalties = np.where(arrays.priority > 0, 10**8, 10**6).astype(np.int64)
    search = LocalSearch(
        arrays, penalties, (1, 10, 0), seed, [list(v.locked) for v in arrays.vehicles]
    )
    search.run(60.0, moves)
    return search


def assert_feasible(arrays: RoutingArrays, routes: list[list[int]]) -> None:
    served = [o for r in routes for o in r]
    assert len(served) == len(set(served))
    for v, route in enumerate(routes):
        spec = arrays.vehicles[v]
        assert route[: len(spec.locked)] == list(spec.locked)
        assert all(arrays.allowed[o, v] for o in route)
        if route:
            assert schedule_route(arrays, v, tuple(route)) is not None, (v, route)


@pytest.mark.parametrize("seed", range(6))
def test_every_kept_route_passes_the_exact_schedule(seed: int) -> None:
    arrays = random_day(seed)
    search = search_on(arrays, seed)
    assert_feasible(arrays, search.best_routes)
    assert total_cost(search.instance, search.best) == search.best_cost


@pytest.mark.parametrize("seed", range(4))
def test_break_check_agrees_with_the_exact_schedule(seed: int) -> None:
    """Random order sequences: the kernel's break programme and the schedule agree."""
    arrays = random_day(seed, n_orders=14)
    instance = build_instance(arrays, np.ones(arrays.n_orders, dtype=np.int64), (1, 0, 0))
    rng = np.random.default_rng(seed)
    agreed = 0
    for _ in range(300):
        v = int(rng.integers(0, 2))  # the two vehicles with breaks, without order limits
        size = int(rng.integers(1, 6))
        route = rng.choice(arrays.n_orders, size=size, replace=False).astype(np.int64)
        exact = schedule_route(arrays, v, tuple(int(o) for o in route))
        limits_ok = exact is not None or _within_limits(arrays, v, route)
        kernel = bool(schedule_breaks(instance, v, route, size)[0])
        if limits_ok:
            assert kernel == (exact is not None), (v, route.tolist())
            agreed += kernel
    assert agreed > 10  # the sample holds feasible routes, not only hopeless ones


def _within_limits(arrays: RoutingArrays, v: int, route: np.ndarray) -> bool:
    """Load, order count and working time hold (the break programme checks only time)."""
    spec, service = arrays.vehicles[v], arrays.service_of(v)
    nodes = [arrays.start_node(v), *route.tolist(), arrays.end_node(v)]
    working = sum(int(arrays.travel[a, b]) for a, b in itertools.pairwise(nodes))
    working += int(service[route].sum())
    return bool(
        not arrays.overloaded(v, arrays.load_of(route.tolist()))
        and len(route) <= spec.max_orders
        and working <= spec.max_working_s
    )


def long_route_day(seed: int) -> RoutingArrays:
    """Two technicians for 50 orders (25 a route): the search ruins with long strings."""
    rng = np.random.default_rng(seed)
    orders = [
        make_order(
            f"o{i}", float(rng.integers(-3, 4)), duration_s=int(rng.integers(1, 6)) * 60,
            windows=() if i % 2 else (window(8 + i % 8, 10 + i % 8),), demand=1,
        )
        for i in range(50)
    ]  # fmt: skip
    techs = [
        make_technician("t0", shifts=(Shift(8 * 3600, 18 * 3600, LUNCH),), capacity=30),
        make_technician("t1", locked_stops=(WorkOrderId("o0"),)),
    ]
    return build_routing_arrays(make_problem(techs, orders))


def test_ruin_sizes_follow_the_route_length() -> None:
    params = AnnealingParams()
    assert params.ruin_sizes(8.0) == (5, 5)
    assert params.ruin_sizes(25.0) == (10, 10)
    assert (params.granular(8.0), params.granular(25.0)) == (0, 20)  # descent on long routes
    with pytest.raises(InvalidSolveParams, match="max_string"):
        AnnealingParams(max_string=0)
    with pytest.raises(InvalidSolveParams, match="long_granular"):
        AnnealingParams(long_granular=-1)


@pytest.mark.parametrize("seed", range(3))
def test_long_routes_stay_feasible_and_improve(seed: int) -> None:
    arrays = long_route_day(seed)
    penalties = np.full(arrays.n_orders, 10**6, dtype=np.int64)
    search = LocalSearch(
        arrays, penalties, (1, 0, 0), seed, [list(v.locked) for v in arrays.vehicles]
    )
    constructed = search.best_cost
    assert sum(map(len, search.best_routes)) / 2 >= AnnealingParams().long_route
    search.run(60.0, 2000)
    assert search.best_cost < constructed
    assert_feasible(arrays, search.best_routes)


def removed_blocks(split_share: float, seed: int) -> int:
    """Ruin one 30-order route once; return how many runs of consecutive stops it removed."""
    orders = [make_order(f"o{i}", 1 + i % 5, duration_s=60) for i in range(30)]
    arrays = build_routing_arrays(make_problem([make_technician()], orders))
    search = LocalSearch(arrays, np.full(30, 10**6, dtype=np.int64), (1, 0, 0), seed)
    before = list(search.best_routes[0])
    state = copy_state(search.current)
    in_pool = np.zeros(30, dtype=np.bool_)
    touched, touched_list = np.zeros(1, dtype=np.bool_), np.zeros(1, dtype=np.int64)
    pool = np.zeros(31, dtype=np.int64)
    n_pool, _, feasible = ruin(search.instance, state, 5, 5, split_share, pool, in_pool,
                              touched, touched_list, 0, np.random.default_rng(seed))  # fmt: skip
    assert feasible and n_pool >= 1
    removed = [order in set(pool[:n_pool].tolist()) for order in before]
    assert state.route[0, : state.length[0]].tolist() == [
        o for o, gone in zip(before, removed, strict=True) if not gone
    ]
    return sum(1 for a, b in itertools.pairwise([False, *removed]) if b and not a)


def test_split_strings_keep_a_run_inside_the_removed_span() -> None:
    assert {removed_blocks(0.0, seed) for seed in range(20)} == {1}
    assert {removed_blocks(1.0, seed) for seed in range(20)} <= {1, 2}
    assert 2 in {removed_blocks(1.0, seed) for seed in range(20)}


def test_same_seed_same_routes() -> None:
    arrays = random_day(11)
    assert search_on(arrays, 5).best_routes == search_on(arrays, 5).best_routes


def test_searches_in_one_thread_keep_their_own_random_streams() -> None:
    """Interleaved searches give what each gives alone: the generator is the search's own."""
    arrays = random_day(11)
    penalties = np.full(arrays.n_orders, 10**6, dtype=np.int64)

    def searches(*seeds: int) -> list[LocalSearch]:
        made = [LocalSearch(arrays, penalties, (1, 10, 0), seed) for seed in seeds]
        for _ in range(3):
            for search in made:
                search.run(60.0, 200)
        return made

    (alone,) = searches(5)
    interleaved, _ = searches(5, 6)
    assert interleaved.best_routes == alone.best_routes
    assert interleaved.best_cost == alone.best_cost


def test_annealing_improves_on_the_construction() -> None:
    arrays = random_day(3, n_orders=60)
    penalties = np.full(arrays.n_orders, 10**6, dtype=np.int64)
    search = LocalSearch(arrays, penalties, (1, 0, 0), 0, [list(v.locked) for v in arrays.vehicles])
    constructed = search.best_cost
    search.run(60.0, 3000)
    assert search.best_cost < constructed
    assert_feasible(arrays, search.best_routes)


def test_unserved_order_is_inserted_when_room_appears() -> None:
    orders = [make_order("a", 1), make_order("b", 2)]
    arrays = build_routing_arrays(make_problem([make_technician()], orders))
    search = LocalSearch(arrays, np.full(2, 10**6, dtype=np.int64), (1, 0, 0), 0, [[0]])
    assert sorted(search.best_routes[0]) == [0, 1]


def test_higher_priority_is_served_when_room_is_short() -> None:
    orders = [make_order(f"o{i}", 1 + i % 3, demand=1, priority=int(i == 4)) for i in range(5)]
    arrays = build_routing_arrays(make_problem([make_technician(capacity=2)], orders))
    penalties = np.asarray([10**6] * 4 + [10**8], dtype=np.int64)
    search = LocalSearch(arrays, penalties, (1, 0, 0), 0)
    search.run(60.0, 200)
    assert 4 in search.best_routes[0] and len(search.best_routes[0]) == 2


@pytest.mark.parametrize("seed", range(5))
def test_opening_a_route_moves_a_tail_to_an_empty_allowed_vehicle(seed: int) -> None:
    techs = [make_technician("busy"), make_technician("other"),
             make_technician("gas", skills={"gas": 1})]  # fmt: skip
    orders = [make_order(f"o{i}", 1 + i % 5, duration_s=60) for i in range(12)]
    orders.append(make_order("gas job", 9, required_skills={"gas": 1}))
    arrays = build_routing_arrays(make_problem(techs, orders))
    search = LocalSearch(arrays, np.full(13, 10**6, dtype=np.int64), (1, 0, 0), seed)
    state = copy_state(search.current)
    routes = {v: state.route[v, : state.length[v]].tolist() for v in range(3)}
    busy = max((0, 1), key=lambda v: len(routes[v]))
    state_routes = [list(r) for r in routes.values()]
    touched, touched_list = np.zeros(3, dtype=np.bool_), np.zeros(3, dtype=np.int64)
    tail = np.zeros(14, dtype=np.int64)
    rng = np.random.default_rng(seed)
    for _ in range(50):  # the route drawn may be one that cannot be split
        n_touched, feasible = open_route(
            search.instance, state, touched, touched_list, 0, tail, rng
        )
        if n_touched:
            break
    assert n_touched == 2 and feasible
    v, u = touched_list[:2]
    assert v == busy and u == 1 - busy  # never the gas technician: the tail needs "ac"
    head = state.route[v, : state.length[v]].tolist()
    moved = state.route[u, : state.length[u]].tolist()
    assert head and moved and head + moved == state_routes[busy]
    assert all(state.vehicle_of[o] == u for o in moved)
    assert_feasible(arrays, [state.route[w, : state.length[w]].tolist() for w in range(3)])


def test_open_share_outside_its_range_is_refused() -> None:
    with pytest.raises(InvalidSolveParams, match="open_share"):
        AnnealingParams(open_share=1.5)
