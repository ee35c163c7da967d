"""Compiled local-search descent over granular neighbourhoods (HGS-style moves).

Ruin and recreate reorders a route only a string at a time, which on routes of 30-100
stops leaves detours that a classic move removes at once. For each order ``u`` on the
routes in scope and each of its ``granular`` nearest orders ``w``, the descent tries:

- relocate a segment of one to three orders starting at ``u`` to just before or after
  ``w`` (or-opt when both are on one route);
- swap ``u`` and ``w``;
- 2-opt* when they are on different routes (``u``'s route continues with ``w`` and the
  rest of ``w``'s route, which continues with the rest of ``u``'s), and 2-opt within a
  route (the stops between ``u`` and ``w`` reversed);
- 2-opt* with an empty vehicle: the stops after ``u`` open a route of their own.

A move is screened by its change of travel in O(1) and, only when that is negative, the
changed routes are timed in full (windows, shift, working time, breaks, load, order limit,
skills and territory): the descent never leaves feasible space and applies a move only
when the objective (travel, lateness and the balance term) strictly falls. Locked stops
keep their places.
"""

import numpy as np

from dispatch.jit import jit
from dispatch.search_instance import SearchInstance, SearchState
from dispatch.search_timing import INF, earliest_start, schedule_breaks, time_route

MAX_SEGMENT = 3  # or-opt moves segments of one to three orders


@jit
def descend(
    inst: SearchInstance, st: SearchState, scope: np.ndarray, n_scope: int, granular: int,
    touched: np.ndarray, touched_list: np.ndarray, n_touched: int, seq_a: np.ndarray,
    seq_b: np.ndarray,
) -> int:  # fmt: skip
    """Move the orders ``scope[:n_scope]`` until no move improves; return routes touched.

    Every route a move changes is added to ``touched_list``. ``seq_a`` and ``seq_b`` are
    scratch rows of at least twice the route width.
    """
    improved = True
    while improved:
        improved = False
        for i in range(n_scope):
            u = scope[i]
            v = st.vehicle_of[u]
            if v < 0 or st.position[u] < inst.locked[v]:
                continue
            applied, n_touched = _improve_order(
                inst, st, u, granular, touched, touched_list, n_touched, seq_a, seq_b
            )
            improved |= applied
    return n_touched


@jit
def _improve_order(
    inst: SearchInstance, st: SearchState, u: int, granular: int, touched: np.ndarray,
    touched_list: np.ndarray, n_touched: int, seq_a: np.ndarray, seq_b: np.ndarray,
) -> tuple[bool, int]:  # fmt: skip
    """Apply the first improving move of ``u`` with one of its neighbours, if any.

    The screens are written out here rather than in helpers: a compiled call that takes the
    instance and the state costs more than the screen itself.
    """
    d, route, length, position = inst.travel, st.route, st.length, st.position
    a, pu = st.vehicle_of[u], st.position[u]
    length_a = length[a]
    u_prev = inst.start_node[a] if pu == 0 else route[a, pu - 1]
    for i in range(1, min(granular, inst.neighbours.shape[1] - 1) + 1):
        w = inst.neighbours[u, i]
        b = st.vehicle_of[w]
        if b < 0:
            continue
        pw, length_b = position[w], length[b]
        w_prev = inst.start_node[b] if pw == 0 else route[b, pw - 1]
        w_next = inst.end_node[b] if pw + 1 == length_b else route[b, pw + 1]
        for size in range(1, min(MAX_SEGMENT, length_a - pu) + 1):
            last = route[a, pu + size - 1]
            after = inst.end_node[a] if pu + size == length_a else route[a, pu + size]
            removal = d[u_prev, after] - d[u_prev, u] - d[last, after]
            for slot in (pw + 1, pw):
                if slot < inst.locked[b] or (a == b and pu <= slot <= pu + size):
                    continue
                x, y = (w, w_next) if slot == pw + 1 else (w_prev, w)
                if removal + d[x, u] + d[last, y] - d[x, y] < 0 and _relocate(
                    inst, st, a, pu, size, b, slot, seq_a, seq_b
                ):
                    return True, _mark(touched, touched_list, n_touched, a, b)
        if pw >= inst.locked[b] and not (a == b and abs(pu - pw) <= 1):
            u_next = inst.end_node[a] if pu + 1 == length_a else route[a, pu + 1]
            delta = (d[u_prev, w] + d[w, u_next] - d[u_prev, u] - d[u, u_next]
                     + d[w_prev, u] + d[u, w_next] - d[w_prev, w] - d[w, w_next])  # fmt: skip
            if delta < 0 and _swap(inst, st, a, pu, b, pw, seq_a, seq_b):
                return True, _mark(touched, touched_list, n_touched, a, b)
        if a != b:
            if _cross_gain(inst, st, a, pu, b, pw) < 0 and _cross(
                inst, st, a, pu, b, pw, seq_a, seq_b
            ):
                return True, _mark(touched, touched_list, n_touched, a, b)
        elif pw > pu + 1:
            first = route[a, pu + 1]
            # screened as if travel were symmetric; the timing in _commit is exact
            if d[u, w] + d[first, w_next] - d[u, first] - d[w, w_next] < 0 and _reverse(
                inst, st, a, pu, pw, seq_a
            ):
                return True, n_touched
    empty = _empty_vehicle(inst, st, a, pu)
    if (
        empty >= 0
        and _cross_gain(inst, st, a, pu, empty, 0) < 0
        and _cross(inst, st, a, pu, empty, 0, seq_a, seq_b)
    ):
        return True, _mark(touched, touched_list, n_touched, a, empty)
    return False, n_touched


@jit
def _mark(touched: np.ndarray, touched_list: np.ndarray, n_touched: int, a: int, b: int) -> int:
    for v in (a, b):
        if not touched[v]:
            touched[v] = True
            touched_list[n_touched] = v
            n_touched += 1
    return n_touched


@jit
def _empty_vehicle(inst: SearchInstance, st: SearchState, a: int, pu: int) -> int:
    """Return the first empty vehicle that may serve the order after place ``pu``, or -1."""
    if pu + 1 >= st.length[a]:
        return -1
    after = st.route[a, pu + 1]
    for v in range(len(st.length)):
        if st.length[v] == 0 and inst.allowed[after, v] and inst.locked[v] == 0:
            return v
    return -1


@jit
def _relocate(
    inst: SearchInstance, st: SearchState, a: int, pu: int, size: int, b: int, slot: int,
    seq_a: np.ndarray, seq_b: np.ndarray,
) -> bool:  # fmt: skip
    """Move the ``size`` orders from place ``pu`` of route ``a`` into slot ``slot`` of ``b``."""
    length_a, length_b = st.length[a], st.length[b]
    if a == b:
        to = slot if slot < pu else slot - size  # the slot once the segment is out
        k = 0
        for j in range(length_a):
            if pu <= j < pu + size:
                continue
            if k == to:
                seq_a[k : k + size] = st.route[a, pu : pu + size]
                k += size
            seq_a[k] = st.route[a, j]
            k += 1
        if k == to:
            seq_a[k : k + size] = st.route[a, pu : pu + size]
        return _commit(inst, st, a, seq_a, length_a, -1, seq_b, 0)
    seq_a[:pu] = st.route[a, :pu]
    seq_a[pu : length_a - size] = st.route[a, pu + size : length_a]
    seq_b[:slot] = st.route[b, :slot]
    seq_b[slot : slot + size] = st.route[a, pu : pu + size]
    seq_b[slot + size : length_b + size] = st.route[b, slot:length_b]
    return _commit(inst, st, a, seq_a, length_a - size, b, seq_b, length_b + size)


@jit
def _swap(
    inst: SearchInstance, st: SearchState, a: int, pu: int, b: int, pw: int,
    seq_a: np.ndarray, seq_b: np.ndarray,
) -> bool:  # fmt: skip
    """Exchange the order in place ``pu`` of route ``a`` with the one in ``pw`` of ``b``."""
    u, w = st.route[a, pu], st.route[b, pw]
    length_a, length_b = st.length[a], st.length[b]
    seq_a[:length_a] = st.route[a, :length_a]
    if a == b:
        seq_a[pu], seq_a[pw] = w, u
        return _commit(inst, st, a, seq_a, length_a, -1, seq_b, 0)
    seq_b[:length_b] = st.route[b, :length_b]
    seq_a[pu], seq_b[pw] = w, u
    return _commit(inst, st, a, seq_a, length_a, b, seq_b, length_b)


@jit
def _cross_gain(inst: SearchInstance, st: SearchState, a: int, pu: int, b: int, pw: int) -> int:
    """Change of travel by ``_cross``; an empty route counts as its start to its end."""
    d, route = inst.travel, st.route
    length_a, length_b = st.length[a], st.length[b]
    end_a, end_b = inst.end_node[a], inst.end_node[b]
    u = route[a, pu]
    prev_b = inst.start_node[b] if pw == 0 else route[b, pw - 1]
    tail_a, tail_b = pu + 1 < length_a, pw < length_b
    next_a = route[a, pu + 1] if tail_a else end_a
    head_b = route[b, pw] if tail_b else end_b
    gain = d[u, head_b if tail_b else end_a] + d[prev_b, next_a if tail_a else end_b]
    gain -= d[u, next_a] + d[prev_b, head_b]
    if tail_b:  # b's tail now ends at a's end
        last_b = route[b, length_b - 1]
        gain += d[last_b, end_a] - d[last_b, end_b]
    if tail_a:
        last_a = route[a, length_a - 1]
        gain += d[last_a, end_b] - d[last_a, end_a]
    return int(gain)


@jit
def _cross(
    inst: SearchInstance, st: SearchState, a: int, pu: int, b: int, pw: int,
    seq_a: np.ndarray, seq_b: np.ndarray,
) -> bool:  # fmt: skip
    """2-opt*: exchange the tails of routes ``a`` (after place ``pu``) and ``b`` (from ``pw``).

    Route ``a`` keeps places up to ``pu`` then takes ``b``'s from ``pw`` on; ``b`` keeps its
    places before ``pw`` then takes ``a``'s after ``pu``.
    """
    length_a, length_b = st.length[a], st.length[b]
    if pu + 1 < inst.locked[a] or pw < inst.locked[b]:
        return False
    seq_a[: pu + 1] = st.route[a, : pu + 1]
    seq_a[pu + 1 : pu + 1 + length_b - pw] = st.route[b, pw:length_b]
    seq_b[:pw] = st.route[b, :pw]
    seq_b[pw : pw + length_a - pu - 1] = st.route[a, pu + 1 : length_a]
    return _commit(inst, st, a, seq_a, pu + 1 + length_b - pw, b, seq_b, pw + length_a - pu - 1)


@jit
def _reverse(
    inst: SearchInstance, st: SearchState, a: int, pu: int, pw: int, seq_a: np.ndarray
) -> bool:
    """2-opt: reverse places ``pu + 1`` to ``pw`` of route ``a``."""
    length = st.length[a]
    seq_a[:length] = st.route[a, :length]
    for j in range(pu + 1, pw + 1):
        seq_a[j] = st.route[a, pu + 1 + pw - j]
    return _commit(inst, st, a, seq_a, length, -1, seq_a, 0)


@jit
def _commit(
    inst: SearchInstance, st: SearchState, a: int, seq_a: np.ndarray, length_a: int, b: int,
    seq_b: np.ndarray, length_b: int,
) -> bool:  # fmt: skip
    """Apply the new route(s) if feasible and the objective strictly falls; say whether.

    ``seq_a`` becomes route ``a``, and ``seq_b`` route ``b`` unless ``b`` is -1.
    """
    cost_a, working_a = route_cost(inst, a, seq_a, length_a)
    if cost_a >= INF:
        return False
    delta = cost_a - st.cost[a]
    working_b = 0
    if b >= 0:
        if not (_fits(inst, a, seq_a, length_a) and _fits(inst, b, seq_b, length_b)):
            return False
        cost_b, working_b = route_cost(inst, b, seq_b, length_b)
        if cost_b >= INF:
            return False
        delta += cost_b - st.cost[b]
    if inst.weights[2] > 0:  # the balance term: weight times the longest working day
        longest = max(working_a, working_b)
        for v in range(len(st.working)):
            if v != a and v != b:
                longest = max(longest, st.working[v])
        delta += inst.weights[2] * (longest - st.working.max())
    if delta >= 0:
        return False
    _write(inst, st, a, seq_a, length_a)
    if b >= 0:
        _write(inst, st, b, seq_b, length_b)
    return True


@jit
def _write(inst: SearchInstance, st: SearchState, v: int, seq: np.ndarray, length: int) -> None:
    st.route[v, :length] = seq[:length]
    st.length[v] = length
    for j in range(length):
        st.vehicle_of[seq[j]] = v
    time_route(inst, st, v)


@jit
def _fits(inst: SearchInstance, v: int, seq: np.ndarray, length: int) -> bool:
    """Order limit, skills and territory, and every load dimension of a new route ``v``."""
    if length > inst.max_orders[v]:
        return False
    for j in range(length):
        if not inst.allowed[seq[j], v]:
            return False
    for dim in range(inst.demand.shape[1]):
        units = 0
        for j in range(length):
            units += inst.demand[seq[j], dim]
        if units > inst.capacity[v, dim]:
            return False
    return True


@jit
def route_cost(inst: SearchInstance, v: int, seq: np.ndarray, length: int) -> tuple[int, int]:
    """``(cost, working)`` of ``seq[:length]`` as route ``v``; cost INF when infeasible.

    The same figures as ``time_route`` gives (windows, shift end, breaks, weighted travel
    and lateness), with the working-time limit checked too, and nothing written.
    """
    if length == 0:
        return 0, 0
    t, prev = inst.shift_start[v], inst.start_node[v]
    travel, late, service = 0, 0, 0
    for j in range(length):
        order = seq[j]
        leg = inst.travel[prev, order]
        travel += leg
        start = earliest_start(inst, order, t + leg)
        if start >= INF:
            return INF, 0
        late += max(start - inst.sla[order], 0)
        t = start + inst.service[v, order]
        service += inst.service[v, order]
        prev = order
    leg = inst.travel[prev, inst.end_node[v]]
    travel += leg
    if t + leg > inst.shift_end[v] or travel + service > inst.max_working[v]:
        return INF, 0
    if inst.break_count[v] > 0:
        feasible, late = schedule_breaks(inst, v, seq, length)
        if not feasible:
            return INF, 0
    return inst.weights[0] * travel + inst.weights[1] * late, travel + service
