"""Compiled route timing: windows, the shift, and breaks placed exactly.

``time_route`` refreshes one route of a ``SearchState`` (the O(1) insertion relaxation,
totals and exact cost); ``schedule_breaks`` decides whether a route can take all its breaks
and what lateness it then has. Semantics match :mod:`dispatch.schedule`: a break never
overlaps travel or service; it is taken in a gap between two stops, either before leaving
(then the travel follows) or on arrival (waiting for a window may be spent on it).
"""

import numpy as np

from dispatch.jit import jit
from dispatch.search_instance import SearchInstance, SearchState

INF = 1 << 60  # "never": an unreachable time or an infeasible cost


@jit
def earliest_start(inst: SearchInstance, order: int, arrive: int) -> int:
    """Earliest start of service at ``order`` when arriving at ``arrive``; INF if too late."""
    for w in range(inst.win_start.shape[1]):
        if inst.win_end[order, w] >= arrive:
            return max(arrive, int(inst.win_start[order, w]))
    return INF


@jit
def latest_start(inst: SearchInstance, order: int, bound: int) -> int:
    """Latest start of service at ``order`` no later than ``bound``; -INF if none."""
    best = -INF
    for w in range(inst.win_start.shape[1]):
        if inst.win_start[order, w] <= bound:
            best = max(best, min(inst.win_end[order, w], bound))
    return best


@jit
def schedule_breaks(inst: SearchInstance, v: int, seq: np.ndarray, length: int) -> tuple[bool, int]:
    """Whether ``seq[:length]`` on vehicle ``v`` fits every break; and its lateness.

    A dynamic programme over stops whose state is the number of breaks taken so far and
    whose value is the earliest time ready to leave: earlier is never worse, since the
    earliest start of service is monotone in the arrival.
    """
    if length == 0:
        return True, 0
    n_breaks = inst.break_count[v]
    ready = np.full(n_breaks + 1, INF, dtype=np.int64)
    late = np.zeros(n_breaks + 1, dtype=np.int64)
    arrive = np.empty(n_breaks + 1, dtype=np.int64)
    arrive_late = np.zeros(n_breaks + 1, dtype=np.int64)
    ready[0] = inst.shift_start[v]
    prev = inst.start_node[v]
    for j in range(length + 1):
        node = seq[j] if j < length else inst.end_node[v]
        leg = inst.travel[prev, node]
        arrive[:] = INF
        for k in range(n_breaks + 1):
            if ready[k] >= INF:
                continue
            for taken in range(n_breaks - k + 1):
                for before in range(taken + 1):  # the first `before` breaks precede travel
                    t = _through_gap(inst, v, ready[k], leg, k, before, taken)
                    if t < arrive[k + taken]:
                        arrive[k + taken], arrive_late[k + taken] = t, late[k]
        if j == length:
            return arrive[n_breaks] <= inst.shift_end[v], arrive_late[n_breaks]
        for k in range(n_breaks + 1):
            start = earliest_start(inst, node, arrive[k]) if arrive[k] < INF else INF
            ready[k] = start + inst.service[v, node] if start < INF else INF
            late[k] = arrive_late[k] + max(start - inst.sla[node], 0) if start < INF else 0
        prev = node
    return False, 0


@jit
def _through_gap(
    inst: SearchInstance, v: int, ready: int, leg: int, first: int, before: int, taken: int
) -> int:
    """Arrival after a gap in which breaks ``first .. first + taken - 1`` are taken."""
    t = ready
    for b in range(first, first + taken):
        if b == first + before:
            t += leg
        t = max(t, inst.break_earliest[v, b])
        if t > inst.break_latest[v, b]:
            return INF
        t += inst.break_duration[v, b]
    return t + leg if before == taken else t


@jit
def time_route(inst: SearchInstance, st: SearchState, v: int) -> bool:
    """Refresh route ``v``'s slots and totals; return whether the route is feasible."""
    length = st.length[v]
    t = inst.shift_start[v]
    st.depart[v, 0] = t
    prev = inst.start_node[v]
    travel, late, load, service, feasible = 0, 0, 0, 0, True
    for j in range(length):
        order = st.route[v, j]
        st.position[order] = j
        leg = inst.travel[prev, order]
        travel += leg
        start = earliest_start(inst, order, t + leg)
        if start >= INF:
            feasible, start = False, t + leg
        late += max(start - inst.sla[order], 0)
        t = start + inst.service[v, order]
        st.depart[v, j + 1] = t
        load += inst.demand[order, 0]
        service += inst.service[v, order]
        prev = order
    if length:
        leg = inst.travel[prev, inst.end_node[v]]
        travel += leg
        feasible &= t + leg <= inst.shift_end[v]
    st.latest[v, length] = inst.shift_end[v]
    after, bound_next = inst.end_node[v], inst.shift_end[v]
    for j in range(length - 1, -1, -1):
        order = st.route[v, j]
        bound = bound_next - inst.travel[order, after] - inst.service[v, order]
        bound_next = latest_start(inst, order, bound)
        st.latest[v, j] = bound_next
        after = order
    if feasible and inst.break_count[v] > 0:
        feasible, late = schedule_breaks(inst, v, st.route[v], length)
    if not feasible:  # never insert into a broken route
        st.latest[v, : length + 1] = -INF
    st.travel[v], st.lateness[v], st.load[v, 0] = travel, late, load
    for d in range(1, inst.demand.shape[1]):  # part types: one pass each, sums in a register
        units = 0
        for j in range(length):
            units += inst.demand[st.route[v, j], d]
        st.load[v, d] = units
    st.working[v] = travel + service
    st.cost[v] = inst.weights[0] * travel + inst.weights[1] * late
    return feasible
