"""The compiled annealing loop: ruin, recreate, accept or undo; keep the best solution.

Three states take part: ``current`` (the annealing walk), ``trial`` (current plus one move)
and ``best``. Only the routes a move touched are copied back and forth, so an iteration
costs what the move costs, not the size of the plan. On long routes every new best is
first taken to a local optimum of the granular descent (:mod:`dispatch.search_descent`),
and the walk goes on from there.
"""

import math

import numpy as np

from dispatch.jit import jit
from dispatch.search_descent import descend
from dispatch.search_instance import SearchInstance, SearchState
from dispatch.search_moves import open_route, recreate, ruin
from dispatch.search_timing import time_route


@jit
def total_cost(inst: SearchInstance, st: SearchState) -> int:
    """Weighted travel and lateness, unserved penalties, and the balance term."""
    longest = st.working.max() if len(st.working) else 0
    return int(st.cost.sum() + st.unserved_penalty[0] + inst.weights[2] * longest)


@jit
def construct(
    inst: SearchInstance, st: SearchState, how: int, home_vehicles: int, rng: np.random.Generator
) -> None:
    """Insert every unserved order into ``st`` (higher priority first, then ``how``)."""
    n = len(st.vehicle_of)
    pool = np.flatnonzero(st.vehicle_of < 0)
    in_pool = np.zeros(n, dtype=np.bool_)
    touched = np.zeros(len(st.length), dtype=np.bool_)
    touched_list = np.empty(len(st.length), dtype=np.int64)
    scratch = np.empty(st.route.shape[1] + 1, dtype=np.int64)
    recreate(
        inst, st, pool, in_pool, len(pool), how, 0.0, home_vehicles, scratch, touched, touched_list,
        0, rng,
    )  # fmt: skip


@jit
def anneal(
    inst: SearchInstance, current: SearchState, trial: SearchState, best: SearchState,
    costs: np.ndarray, dirty: np.ndarray, iterations: int, t_from: float, t_to: float,
    mean_removed: int, max_string: int, split_share: float, blink: float, home_vehicles: int,
    granular: int, open_share: float, rng: np.random.Generator,
) -> int:  # fmt: skip
    """Run ``iterations`` moves, cooling from ``t_from`` to ``t_to``; return moves accepted.

    ``costs`` holds [current, best] and is updated; ``dirty`` marks routes of ``current``
    that differ from ``best``. ``trial`` must equal ``current`` on entry and does on exit.
    """
    n_vehicles, n_orders = len(current.length), len(current.vehicle_of)
    touched = np.zeros(n_vehicles, dtype=np.bool_)
    touched_list = np.empty(n_vehicles, dtype=np.int64)
    pool = np.empty(3 * n_orders + 1, dtype=np.int64)
    in_pool = np.zeros(n_orders, dtype=np.bool_)
    scratch = np.empty(current.route.shape[1] + 1, dtype=np.int64)
    seq_a = np.empty(2 * current.route.shape[1] + 1, dtype=np.int64)
    seq_b = np.empty(2 * current.route.shape[1] + 1, dtype=np.int64)
    scope = np.empty(n_orders, dtype=np.int64)
    accepted = 0
    for it in range(iterations):
        temperature = t_from * (t_to / t_from) ** (it / iterations) if t_from > 0 else 0.0
        n_touched, opened = 0, True
        if open_share > 0 and rng.random() < open_share:
            n_touched, opened = open_route(inst, trial, touched, touched_list, 0, scratch, rng)
        n_pool, n_touched, feasible = ruin(
            inst, trial, mean_removed, max_string, split_share, pool, in_pool, touched,
            touched_list, n_touched, rng,
        )  # fmt: skip
        feasible &= opened
        n_touched, rebuilt = recreate(
            inst, trial, pool, in_pool, n_pool, int(rng.integers(0, 4)), blink, home_vehicles,
            scratch, touched, touched_list, n_touched, rng,
        )  # fmt: skip
        cost = total_cost(inst, trial)
        threshold = costs[0] - temperature * math.log(1.0 - rng.random())
        if feasible and rebuilt and cost < threshold:
            _copy_routes(trial, current, touched_list, n_touched)
            costs[0] = cost
            accepted += 1
            for i in range(n_touched):
                dirty[touched_list[i]] = True
            if cost < costs[1] and granular > 0:
                cost = _descend_new_best(
                    inst, current, trial, dirty, granular, scope, touched, touched_list,
                    n_touched, seq_a, seq_b,
                )  # fmt: skip
                costs[0], n_touched = cost, 0  # _descend_new_best cleared the marks
            if cost < costs[1]:
                _copy_routes(current, best, np.flatnonzero(dirty), int(dirty.sum()))
                dirty[:] = False
                costs[1] = cost
        else:
            _copy_routes(current, trial, touched_list, n_touched)
        for i in range(n_touched):
            touched[touched_list[i]] = False
    return accepted


@jit
def _descend_new_best(
    inst: SearchInstance, current: SearchState, trial: SearchState, dirty: np.ndarray,
    granular: int, scope: np.ndarray, touched: np.ndarray, touched_list: np.ndarray,
    n_touched: int, seq_a: np.ndarray, seq_b: np.ndarray,
) -> int:  # fmt: skip
    """Take ``current``, a new best, to a local optimum of the granular descent; its cost.

    The orders it moves are those on routes that differ from the best so far (every best
    before was descended already), each with its neighbours on any route, so a new best
    costs what changed rather than the size of the plan. ``trial`` follows ``current``;
    the routes changed are marked dirty and left unmarked as touched.
    """
    for i in range(n_touched):
        touched[touched_list[i]] = False
    n_scope = 0
    for v in np.flatnonzero(dirty):
        for j in range(current.length[v]):
            scope[n_scope] = current.route[v, j]
            n_scope += 1
    n_touched = descend(
        inst, current, scope, n_scope, granular, touched, touched_list, 0, seq_a, seq_b
    )
    _copy_routes(current, trial, touched_list, n_touched)
    for i in range(n_touched):
        dirty[touched_list[i]] = True
        touched[touched_list[i]] = False
    return total_cost(inst, current)


@jit
def _copy_routes(src: SearchState, dst: SearchState, vehicles: np.ndarray, count: int) -> None:
    """Make routes ``vehicles[:count]`` of ``dst`` equal to ``src``'s, orders' places too.

    Every old order is unplaced before any new one is placed, since an order may have moved
    between two of the copied routes.
    """
    for i in range(count):
        v = vehicles[i]
        for j in range(dst.length[v]):
            dst.vehicle_of[dst.route[v, j]] = -1
    for i in range(count):
        v = vehicles[i]
        length = src.length[v]
        dst.route[v, :length] = src.route[v, :length]
        dst.depart[v, : length + 1] = src.depart[v, : length + 1]
        dst.latest[v, : length + 1] = src.latest[v, : length + 1]
        dst.length[v], dst.travel[v], dst.lateness[v] = length, src.travel[v], src.lateness[v]
        dst.working[v], dst.cost[v] = src.working[v], src.cost[v]
        for d in range(src.load.shape[1]):
            dst.load[v, d] = src.load[v, d]
        for j in range(length):
            dst.vehicle_of[src.route[v, j]] = v
            dst.position[src.route[v, j]] = j
    dst.unserved_penalty[0] = src.unserved_penalty[0]


@jit
def place_route(inst: SearchInstance, st: SearchState, v: int, orders: np.ndarray) -> bool:
    """Make ``orders`` route ``v`` of ``st`` (which must not serve them elsewhere)."""
    for j in range(len(orders)):
        st.route[v, j] = orders[j]
        st.vehicle_of[orders[j]] = v
        st.unserved_penalty[0] -= inst.penalty[orders[j]]
    st.length[v] = len(orders)
    return time_route(inst, st, v)
