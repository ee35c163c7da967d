"""Compiled ruin-and-recreate moves over a ``SearchState`` (SISR, Christiaens & Vanden Berghe).

Ruin removes strings of consecutive orders from the routes around a random seed order and
offers the unserved orders near it a place; recreate puts them back one by one at their
cheapest feasible position, skipping each position with a small probability ("blinks") so
that equal-cost choices vary. Locked stops are never moved.

An order is offered the routes that serve one of its nearest orders, the allowed vehicles
whose homes are nearest to it and the nearest empty one, rather than every route: on a day
of 200 technicians that is about a fifth of the vehicles allowed to serve it, and the
others would rarely take it (``candidate_vehicles``).
"""

import numpy as np

from dispatch.jit import jit
from dispatch.search_instance import SearchInstance, SearchState
from dispatch.search_timing import INF, earliest_start, schedule_breaks, time_route

BY_RANDOM, BY_DEMAND, BY_WINDOW_WIDTH, BY_WINDOW_END = range(4)
SPLIT_BETA = 0.01  # a split string's kept run grows by one while a draw exceeds this


@jit
def best_insertion(
    inst: SearchInstance, st: SearchState, order: int, blink: float, home_vehicles: int,
    scratch: np.ndarray, candidates: np.ndarray, seen: np.ndarray, rng: np.random.Generator,
) -> tuple[int, int, int]:  # fmt: skip
    """Cheapest feasible ``(vehicle, slot, cost)`` for ``order``; vehicle -1 if none.

    The cost is the weighted detour plus the order's own weighted lateness. Positions pass
    the O(1) window check first; routes with breaks are then scheduled exactly, but only
    for positions cheaper than the best so far.
    """
    best, best_v, best_k = INF, -1, -1
    w_travel, w_late = inst.weights[0], inst.weights[1]
    n_candidates = candidate_vehicles(inst, st, order, home_vehicles, candidates, seen)
    for c in range(n_candidates):
        v = candidates[c]
        length = st.length[v]
        if length >= inst.max_orders[v]:
            continue
        if not fits_load(inst, st, v, order):
            continue
        service = inst.service[v, order]
        for k in range(inst.locked[v], length + 1):
            if blink > 0.0 and rng.random() < blink:
                continue
            prev = inst.start_node[v] if k == 0 else st.route[v, k - 1]
            after = inst.end_node[v] if k == length else st.route[v, k]
            leg_in = inst.travel[prev, order]
            start = earliest_start(inst, order, st.depart[v, k] + leg_in)
            if start >= INF:
                continue
            leg_out = inst.travel[order, after]
            if start + service + leg_out > st.latest[v, k]:
                continue
            detour = leg_in + leg_out - (inst.travel[prev, after] if length else 0)
            if st.working[v] + detour + service > inst.max_working[v]:
                continue
            cost = w_travel * detour + w_late * max(start - inst.sla[order], 0)
            if cost >= best:
                continue
            if inst.break_count[v] > 0:
                scratch[:k] = st.route[v, :k]
                scratch[k] = order
                scratch[k + 1 : length + 1] = st.route[v, k:length]
                if not schedule_breaks(inst, v, scratch, length + 1)[0]:
                    continue
            best, best_v, best_k = cost, v, k
    return best_v, best_k, best


@jit
def candidate_vehicles(
    inst: SearchInstance, st: SearchState, order: int, home_vehicles: int, candidates: np.ndarray,
    seen: np.ndarray,
) -> int:  # fmt: skip
    """Fill ``candidates`` with the routes worth trying for ``order``; return how many.

    With ``home_vehicles`` 0, every vehicle allowed to serve it. Otherwise the routes that
    serve one of its nearest orders, the ``home_vehicles`` allowed vehicles whose start and end
    are nearest to it, and the nearest allowed vehicle with an empty route (so a route can
    always open).
    """
    if home_vehicles == 0:
        n = 0
        for i in range(inst.nearest_vehicles.shape[1]):
            v = inst.nearest_vehicles[order, i]
            if v < 0:
                break
            candidates[n] = v
            n += 1
        return n
    n = 0
    for i in range(1, inst.neighbours.shape[1]):
        v = st.vehicle_of[inst.neighbours[order, i]]
        if v >= 0 and not seen[v] and inst.allowed[order, v]:
            seen[v], candidates[n] = True, v
            n += 1
    taken, has_empty = 0, False
    for i in range(inst.nearest_vehicles.shape[1]):
        v = inst.nearest_vehicles[order, i]
        if v < 0 or (taken >= home_vehicles and has_empty):
            break
        is_empty = st.length[v] == inst.locked[v]
        if taken < home_vehicles or is_empty:
            taken += 1
            has_empty |= is_empty
            if not seen[v]:
                seen[v], candidates[n] = True, v
                n += 1
    for i in range(n):
        seen[candidates[i]] = False
    return n


@jit
def fits_load(inst: SearchInstance, st: SearchState, v: int, order: int) -> bool:
    """Whether route ``v`` can carry ``order`` in every load dimension (parts included)."""
    for d in range(inst.demand.shape[1]):
        if st.load[v, d] + inst.demand[order, d] > inst.capacity[v, d]:
            return False
    return True


@jit
def insert(inst: SearchInstance, st: SearchState, order: int, v: int, k: int) -> bool:
    """Put ``order`` into slot ``k`` of route ``v``; return whether the route is feasible."""
    length = st.length[v]
    st.route[v, k + 1 : length + 1] = st.route[v, k:length].copy()
    st.route[v, k] = order
    st.length[v] = length + 1
    st.vehicle_of[order] = v
    st.unserved_penalty[0] -= inst.penalty[order]
    return time_route(inst, st, v)


@jit
def remove(inst: SearchInstance, st: SearchState, v: int, first: int, count: int) -> bool:
    """Take ``count`` orders from position ``first`` of route ``v`` out of the solution."""
    length = st.length[v]
    for j in range(first, first + count):
        st.vehicle_of[st.route[v, j]] = -1
        st.unserved_penalty[0] += inst.penalty[st.route[v, j]]
    st.route[v, first : length - count] = st.route[v, first + count : length].copy()
    st.length[v] = length - count
    return time_route(inst, st, v)


@jit
def open_route(
    inst: SearchInstance,
    st: SearchState,
    touched: np.ndarray,
    touched_list: np.ndarray,
    n_touched: int,
    tail: np.ndarray,
    rng: np.random.Generator,
) -> tuple[int, bool]:
    """Move the tail of a random route to an empty vehicle allowed to serve all of it.

    Returns (routes touched, feasible). The search seldom opens a route on its own: an order
    whose cheapest place is an empty vehicle pays two trips to the depot, and annealing at
    its temperatures rarely accepts that, so a plan of a few long routes stays one.
    """
    n_vehicles = len(st.length)
    v = int(rng.integers(0, n_vehicles))
    head, length = inst.locked[v], st.length[v]
    if touched[v] or length - head < 2:
        return n_touched, True
    first = rng.integers(head + 1, length)  # the tail [first, length); an order stays
    count = length - first
    start = rng.integers(0, n_vehicles)
    u = -1
    for i in range(n_vehicles):
        w = int((start + i) % n_vehicles)
        if w == v or st.length[w] != 0 or touched[w]:
            continue
        allowed = True
        for j in range(first, length):
            allowed &= inst.allowed[st.route[v, j], w]
        if allowed:
            u = w
            break
    if u < 0:
        return n_touched, True
    tail[:count] = st.route[v, first:length]
    feasible = remove(inst, st, v, first, count)
    for j in range(count):
        feasible &= fits_load(inst, st, u, tail[j]) and insert(inst, st, tail[j], u, j)
    touched[v], touched[u] = True, True
    touched_list[n_touched], touched_list[n_touched + 1] = v, u
    return n_touched + 2, feasible


@jit
def ruin(
    inst: SearchInstance, st: SearchState, mean_removed: int, max_string: int,
    split_share: float, pool: np.ndarray, in_pool: np.ndarray, touched: np.ndarray,
    touched_list: np.ndarray, n_touched: int, rng: np.random.Generator,
) -> tuple[int, int, bool]:  # fmt: skip
    """Remove strings around a random seed; return (pool size, routes touched, feasible).

    At most one string per route; unserved orders near the seed join the pool as well.
    With probability ``split_share`` a string is split: a longer span is chosen and a run of
    consecutive orders inside it stays (SISR's split string), so orders on both sides of
    the run can be rearranged around it. ``in_pool`` marks pooled orders so none is pooled
    twice; ``recreate`` clears it.
    """
    seed = rng.integers(0, len(st.vehicle_of))
    target = rng.integers(1, 2 * mean_removed + 1)
    removed, offered, n_pool, feasible = 0, 0, 0, True
    for i in range(inst.neighbours.shape[1]):
        order = inst.neighbours[seed, i]
        v = st.vehicle_of[order]
        if in_pool[order]:
            continue
        if v < 0:
            if offered < target:
                pool[n_pool], in_pool[order] = order, True
                n_pool += 1
                offered += 1
            continue
        if touched[v]:
            continue
        length, head = st.length[v], inst.locked[v]
        at = 0
        while st.route[v, at] != order:
            at += 1
        if at < head:  # a locked stop stays
            continue
        size = rng.integers(1, min(max_string, length - head) + 1)
        kept = 0
        if size < length - head and rng.random() < split_share:
            kept = 1
            while size + kept < length - head and rng.random() > SPLIT_BETA:
                kept += 1
        span = size + kept
        first = rng.integers(max(head, at - span + 1), min(at, length - span) + 1)
        stay = first + rng.integers(0, size + 1)  # the kept run is [stay, stay + kept)
        for j in range(first, first + span):
            if j < stay or j >= stay + kept:
                pool[n_pool], in_pool[st.route[v, j]] = st.route[v, j], True
                n_pool += 1
        touched[v] = True
        touched_list[n_touched] = v
        n_touched += 1
        if stay + kept < first + span:  # the part after the kept run first: indices hold
            feasible &= remove(inst, st, v, stay + kept, first + span - stay - kept)
        if stay > first:
            feasible &= remove(inst, st, v, first, stay - first)
        removed += size
        if removed >= target:
            break
    return n_pool, n_touched, feasible


@jit
def recreate(
    inst: SearchInstance, st: SearchState, pool: np.ndarray, in_pool: np.ndarray, n_pool: int,
    how: int, blink: float, home_vehicles: int, scratch: np.ndarray, touched: np.ndarray,
    touched_list: np.ndarray, n_touched: int, rng: np.random.Generator,
) -> tuple[int, bool]:  # fmt: skip
    """Insert the pooled orders (higher priority first, then ``how``); return routes touched."""
    keys = np.empty(n_pool, dtype=np.float64)
    for i in range(n_pool):
        order = pool[i]
        in_pool[order] = False
        if how == BY_RANDOM:
            key = rng.random()
        elif how == BY_DEMAND:
            key = -float(inst.demand[order].sum())
        elif how == BY_WINDOW_WIDTH:
            key = float(_window_width(inst, order))
        else:
            key = float(_window_end(inst, order))
        keys[i] = key - 1e15 * inst.priority[order]
    feasible = True
    candidates = np.empty(len(st.length), dtype=np.int64)
    seen = np.zeros(len(st.length), dtype=np.bool_)
    for i in np.argsort(keys):
        order = pool[i]
        v, k, _ = best_insertion(
            inst, st, order, blink, home_vehicles, scratch, candidates, seen, rng
        )
        if v < 0:
            continue
        feasible &= insert(inst, st, order, v, k)
        if not touched[v]:
            touched[v] = True
            touched_list[n_touched] = v
            n_touched += 1
    return n_touched, feasible


@jit
def _window_width(inst: SearchInstance, order: int) -> int:
    return _window_end(inst, order) - int(inst.win_start[order, 0])


@jit
def _window_end(inst: SearchInstance, order: int) -> int:
    end = int(inst.win_end[order, 0])
    for w in range(1, inst.win_end.shape[1]):
        end = max(end, int(inst.win_end[order, w]))
    return end
