"""Route timing over ``RoutingArrays``, vectorised: a quick, conservative feasibility check.

A route of vehicle ``v`` is a sequence of order indices. ``route_timing`` gives, per visited
node, the earliest start of service (forward pass) and the latest start that keeps the rest
of the route feasible (backward pass). Breaks are not placed: their total duration is
reserved at the end of the shift. It is a quick filter, used to carry a previous plan's
routes into a warm start; the exact schedule of :mod:`dispatch.schedule` decides.
"""

from dataclasses import dataclass

import numpy as np

from dispatch.routing_arrays import IntArray, RoutingArrays, earliest_start

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
    load: tuple[int, ...]  # units per load dimension
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
    load = arrays.load_of(orders)
    working = int(legs.sum() + service.sum())
    is_feasible = bool(
        np.all(earliest <= latest)
        and not arrays.overloaded(vehicle, load)
        and len(orders) <= spec.max_orders
        and working <= spec.max_working_s
    )
    return RouteTiming(nodes, earliest, latest, service, tuple(load.tolist()), working, is_feasible)


def _latest_start(arrays: RoutingArrays, order: int, bound: int) -> int:
    """Latest start of service at ``order`` no later than ``bound``; -INFEASIBLE if none."""
    starts, ends = arrays.win_start[order], arrays.win_end[order]
    usable = starts <= bound
    if not usable.any():
        return -INFEASIBLE
    return int(np.minimum(ends[usable], bound).max())
