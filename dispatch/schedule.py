"""Exact timing of one route with its breaks: the check behind every real-time change.

``feasibility.route_timing`` reserves the breaks at the end of the shift, which suits the
construction but refuses routes the solver planned with a lunch break in the middle of the
day. Here a route is simulated as driven: each break is placed in one gap between stops
(tried in every gap, in order), taken on arrival at the next stop when its start window
allows, otherwise before leaving. A break never overlaps travel or service. The schedule with
the least lateness (then the earliest return) wins, so a change that passes here can be
shown to the technician as is.
"""

import itertools
from dataclasses import dataclass

import numpy as np

from dispatch.routing_arrays import RoutingArrays


@dataclass(frozen=True, slots=True)
class RouteSchedule:
    """When each stop of a feasible route starts, and how much later it could start.

    ``latest_s[i]`` keeps every later window and the shift end (breaks placed as in this
    schedule); ``lateness_s`` is the total time past SLA deadlines over the route.
    """

    vehicle: int
    orders: tuple[int, ...]
    start_s: tuple[int, ...]
    latest_s: tuple[int, ...]
    depart_s: int
    return_s: int
    travel_s: int
    service_s: int
    lateness_s: int
    load: tuple[int, ...]  # units per load dimension (``RoutingArrays.demand``'s columns)

    @property
    def working_s(self) -> int:
        """Travel plus service, the quantity limited by ``max_working_s``."""
        return self.travel_s + self.service_s


def schedule_route(
    arrays: RoutingArrays, vehicle: int, orders: tuple[int, ...]
) -> RouteSchedule | None:
    """Return the best schedule of ``orders`` on ``vehicle``, or ``None`` if none is feasible.

    Checks windows, the shift, breaks, capacity, each part type's stock, max orders and
    working time; locked stops are the caller's business (they must open the route).
    """
    spec = arrays.vehicles[vehicle]
    nodes = [arrays.start_node(vehicle), *orders, arrays.end_node(vehicle)]
    legs = [int(arrays.travel[a, b]) for a, b in itertools.pairwise(nodes)]
    service = arrays.service_of(vehicle)
    durations = [int(service[o]) for o in orders]
    load = arrays.load_of(orders)
    working = sum(legs) + sum(durations)
    if len(orders) > spec.max_orders or working > spec.max_working_s:
        return None
    if arrays.overloaded(vehicle, load):
        return None
    best: tuple[int, int, list[int], tuple[int, ...]] | None = None
    gaps = range(len(orders) + 1)
    for placement in itertools.combinations_with_replacement(gaps, len(spec.breaks)):
        starts = _forward(arrays, vehicle, orders, legs, durations, placement)
        if starts is None:
            continue
        served = zip(starts[1:-1], orders, strict=True)
        lateness = sum(max(s - int(arrays.sla_s[o]), 0) for s, o in served)
        key = (lateness, starts[-1])
        if best is None or key < best[:2]:
            best = (lateness, starts[-1], starts, placement)
    if best is None:
        return None
    lateness, _, starts, placement = best
    latest = _backward(arrays, vehicle, orders, legs, durations, placement)
    return RouteSchedule(
        vehicle=vehicle, orders=orders, start_s=tuple(starts[1:-1]), latest_s=tuple(latest),
        depart_s=starts[0], return_s=starts[-1], travel_s=sum(legs), service_s=sum(durations),
        lateness_s=lateness, load=tuple(load.tolist()),
    )  # fmt: skip


def _forward(
    arrays: RoutingArrays,
    vehicle: int,
    orders: tuple[int, ...],
    legs: list[int],
    durations: list[int],
    placement: tuple[int, ...],
) -> list[int] | None:
    """Start times over ``[depart, *orders, return]`` with break ``k`` in gap ``placement[k]``.

    Returns ``None`` if a window, a break window or the shift end is missed.
    """
    spec = arrays.vehicles[vehicle]
    breaks = sorted(zip(placement, spec.breaks, strict=True), key=lambda pb: pb[0])
    times = [spec.start_s]
    ready = spec.start_s
    pending = 0
    for gap, leg in enumerate(legs):
        arrive = ready + leg
        while pending < len(breaks) and breaks[pending][0] == gap:
            brk = breaks[pending][1]
            on_arrival = max(arrive, brk.earliest_start_s)  # take it where the next job is
            before_leaving = max(ready, brk.earliest_start_s)
            if on_arrival <= brk.latest_start_s:
                arrive = on_arrival + brk.duration_s
            elif before_leaving <= brk.latest_start_s:
                arrive = before_leaving + brk.duration_s + leg
            else:
                return None
            ready = arrive - leg  # later breaks in the same gap follow this one
            pending += 1
        if gap == len(orders):
            times.append(arrive)
            return times if arrive <= spec.end_s else None
        start = _earliest_start(arrays, orders[gap], arrive)
        if start is None:
            return None
        times.append(start)
        ready = start + durations[gap]
    return None  # unreachable: the last leg always returns


def _earliest_start(arrays: RoutingArrays, order: int, arrive_s: int) -> int | None:
    """Scalar ``routing_arrays.earliest_start``: the first window still open decides."""
    windows = zip(arrays.win_start[order].tolist(), arrays.win_end[order].tolist(), strict=True)
    for start, end in windows:  # padding has end -1: never open
        if end >= arrive_s:
            return max(arrive_s, int(start))
    return None


def _backward(
    arrays: RoutingArrays,
    vehicle: int,
    orders: tuple[int, ...],
    legs: list[int],
    durations: list[int],
    placement: tuple[int, ...],
) -> list[int]:
    """Latest start per order keeping later windows and the shift end, breaks in their gaps."""
    break_s = [0] * (len(orders) + 1)
    for gap, brk in zip(placement, arrays.vehicles[vehicle].breaks, strict=True):
        break_s[gap] += brk.duration_s
    latest = [0] * len(orders)
    next_latest = arrays.vehicles[vehicle].end_s
    for i in range(len(orders) - 1, -1, -1):
        bound = next_latest - break_s[i + 1] - legs[i + 1] - durations[i]
        usable = arrays.win_start[orders[i]] <= bound
        latest[i] = int(np.minimum(arrays.win_end[orders[i]][usable], bound).max())
        next_latest = latest[i]
    return latest
