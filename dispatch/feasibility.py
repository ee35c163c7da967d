"""Route timing and vectorised insertion checks over ``RoutingArrays``.

A route of vehicle ``v`` is a sequence of order indices. ``route_timing`` gives, per visited
node, the earliest start of service (forward pass) and the latest start that keeps the rest
of the route feasible (backward pass). With those, inserting an order between two neighbours
is checked in O(1): arriving at the successor no later than its latest start is feasible,
because the earliest start given an arrival is monotone in the arrival (multiple windows
included). ``insertion_costs`` applies that to many orders and all positions at once; the
construction heuristic and real-time insertion both build on it.

Breaks are not scheduled by the O(1) check: their total duration is reserved at the end of
the shift. A route that passes it is then confirmed by ``keeps_breaks``, which places every
break exactly (``dispatch.schedule``), before the route is kept.
"""

from dataclasses import dataclass

import numpy as np

from dispatch.routing_arrays import NO_WINDOW_START, IntArray, RoutingArrays, earliest_start
from dispatch.schedule import schedule_route

INFEASIBLE = np.iinfo(np.int64).max // 4


@dataclass(frozen=True, slots=True)
class RouteTiming:
    """Timing of one route; arrays run over ``[start, *orders, end]``.

    ``earliest_s[p]`` is the earliest start of service at position ``p`` (the departure at
    0, the arrival at the end); ``latest_s[p]`` the latest start keeping the rest feasible.
    The route is feasible iff ``earliest_s <= latest_s`` everywhere and the totals respect
    the vehicle's limits (``is_feasible``).
    """

    nodes: IntArray
    earliest_s: IntArray
    latest_s: IntArray
    service_s: IntArray  # per position; 0 at start and end
    load: int
    working_s: int  # travel plus service
    is_feasible: bool


def route_timing(arrays: RoutingArrays, vehicle: int, orders: list[int]) -> RouteTiming:
    """Time the route ``orders`` (order indices, in visiting order) for ``vehicle``."""
    spec = arrays.vehicles[vehicle]
    seq = np.asarray(orders, dtype=np.int64)
    nodes = np.concatenate(([arrays.start_node(vehicle)], seq, [arrays.end_node(vehicle)]))
    service = np.concatenate(([0], arrays.service_of(vehicle)[seq], [0])).astype(np.int64)
    legs = arrays.travel[nodes[:-1], nodes[1:]]
    earliest = np.empty(len(nodes), dtype=np.int64)
    earliest[0] = spec.start_s
    for p in range(1, len(nodes)):
        arrive = earliest[p - 1] + service[p - 1] + legs[p - 1]
        is_order = p < len(nodes) - 1
        earliest[p] = earliest_start(arrays, seq[p - 1], arrive) if is_order else arrive
    latest = np.empty(len(nodes), dtype=np.int64)
    latest[-1] = spec.end_s - sum(b.duration_s for b in spec.breaks)
    for p in range(len(nodes) - 2, -1, -1):
        bound = latest[p + 1] - legs[p] - service[p]
        latest[p] = _latest_start(arrays, int(seq[p - 1]), bound) if p > 0 else bound
    load = int(arrays.demand[seq].sum())
    working = int(legs.sum() + service.sum())
    is_feasible = bool(
        np.all(earliest <= latest)
        and load <= spec.capacity
        and len(orders) <= spec.max_orders
        and working <= spec.max_working_s
    )
    return RouteTiming(nodes, earliest, latest, service, load, working, is_feasible)


def _latest_start(arrays: RoutingArrays, order: int, bound: int) -> int:
    """Latest start of service at ``order`` no later than ``bound``; -INFEASIBLE if none."""
    starts, ends = arrays.win_start[order], arrays.win_end[order]
    usable = starts <= bound
    if not usable.any():
        return -INFEASIBLE
    return int(np.minimum(ends[usable], bound).max())


@dataclass(frozen=True, slots=True)
class InsertionCosts:
    """Cheapest feasible insertion of each candidate order into one route.

    ``cost`` is the added travel plus weighted lateness of the inserted order (``INFEASIBLE``
    where no position works); ``position`` is the index in the route's order list before
    which the order goes.
    """

    orders: IntArray
    cost: IntArray
    position: IntArray


def insertion_costs(
    arrays: RoutingArrays,
    vehicle: int,
    timing: RouteTiming,
    candidates: IntArray,
    *,
    travel_weight: int = 1,
    lateness_weight: int = 0,
    first_position: int = 0,
) -> InsertionCosts:
    """Evaluate every position of the timed route for every candidate order at once.

    ``first_position`` keeps locked stops at the head of the route. Travel is weighted by
    ``travel_weight``; lateness past each order's SLA by ``lateness_weight`` (only the
    inserted order's lateness: the knock-on delay is left to the local search).
    """
    spec = arrays.vehicles[vehicle]
    if not timing.is_feasible or len(timing.nodes) - 2 >= spec.max_orders or not len(candidates):
        return _none_feasible(candidates)
    prev, nxt = timing.nodes[first_position:-1], timing.nodes[first_position + 1 :]
    depart = (timing.earliest_s + timing.service_s)[first_position:-1]
    u = candidates[:, None]
    arrive_u = depart[None, :] + arrays.travel[prev[None, :], u]
    start_u = earliest_start(arrays, u, arrive_u)
    service_u = arrays.service_of(vehicle)[candidates]
    arrive_next = start_u + service_u[:, None] + arrays.travel[u, nxt[None, :]]
    detour = arrays.travel[prev[None, :], u] + arrays.travel[u, nxt[None, :]]
    detour -= arrays.travel[prev, nxt][None, :]
    ok = (start_u < NO_WINDOW_START) & (arrive_next <= timing.latest_s[first_position + 1 :])
    ok &= (timing.working_s + detour + service_u[:, None]) <= spec.max_working_s
    ok &= (timing.load + arrays.demand[candidates] <= spec.capacity)[:, None]
    late = np.maximum(start_u - arrays.sla_s[u], 0)
    cost = np.where(ok, travel_weight * detour + lateness_weight * late, INFEASIBLE)
    best = cost.argmin(axis=1)
    rows = np.arange(len(candidates))
    return InsertionCosts(candidates, cost[rows, best], best + first_position)


def _none_feasible(candidates: IntArray) -> InsertionCosts:
    full: IntArray = np.full(len(candidates), INFEASIBLE, dtype=np.int64)
    return InsertionCosts(candidates, full, np.zeros(len(candidates), dtype=np.int64))


def keeps_breaks(arrays: RoutingArrays, vehicle: int, orders: list[int]) -> bool:
    """Return whether every break of ``vehicle`` still fits around ``orders`` (exact check).

    Vehicles without breaks pass at once; the others are scheduled break by break.
    """
    if not arrays.vehicles[vehicle].breaks:
        return True
    head = len(arrays.vehicles[vehicle].locked)
    return schedule_route(arrays, vehicle, tuple(orders)) is not None or len(orders) <= head
