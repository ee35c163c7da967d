"""The routing problem and a solution as flat arrays for the compiled search kernels.

``SearchInstance`` holds what never changes during a search (travel, service per vehicle,
windows, limits, breaks, weights, neighbour lists); ``SearchState`` one solution with the
per-route timing that makes an insertion check O(1). Both are named tuples of numpy arrays,
the shape numba compiles against; :mod:`dispatch.search_timing` and
:mod:`dispatch.search_moves` read and write them.

Slot ``k`` of a route with ``L`` orders is the gap between its node ``k`` and node ``k + 1``
over ``[start, *orders, end]``. ``depart[v, k]`` is the earliest departure from node ``k`` and
``latest[v, k]`` the latest arrival at node ``k + 1`` that keeps the rest of the route
feasible, both with breaks left out: a relaxation, exact for vehicles without breaks and
confirmed by the exact break schedule for the others.

Load is two-dimensional: ``demand[order, d]`` against ``capacity[vehicle, d]`` over the load
dimensions of :mod:`dispatch.routing_arrays` (the one-number demand, then each part type),
and ``load[vehicle, d]`` sums a route per dimension.
"""

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from dispatch.routing_arrays import RoutingArrays

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

NEIGHBOURS = 40  # orders considered around a ruin seed
INFINITE_TRIP = 1 << 62  # a vehicle that may not serve the order
NEIGHBOUR_ROWS = 512  # rows of the order travel matrix sorted at a time (bounds memory)


class SearchInstance(NamedTuple):
    """Everything a search reads and never changes (see the module docstring)."""

    travel: IntArray  # (nodes, nodes) seconds over solver nodes
    service: IntArray  # (vehicles, orders) service seconds
    win_start: IntArray  # (orders, windows), padded as in RoutingArrays
    win_end: IntArray
    demand: IntArray  # (orders, load dimensions)
    priority: IntArray
    penalty: IntArray  # cost of leaving the order unserved
    sla: IntArray  # soft deadline on the start of service
    allowed: BoolArray  # (orders, vehicles)
    start_node: IntArray  # per vehicle
    end_node: IntArray
    shift_start: IntArray
    shift_end: IntArray
    capacity: IntArray  # (vehicles, load dimensions)
    max_orders: IntArray
    max_working: IntArray
    locked: IntArray  # number of locked stops opening each route
    break_count: IntArray  # per vehicle
    break_earliest: IntArray  # (vehicles, max breaks), sorted by earliest start
    break_latest: IntArray
    break_duration: IntArray
    neighbours: IntArray  # (orders, k): the order itself, then the nearest orders
    nearest_vehicles: IntArray  # (orders, vehicles): allowed ones by home round trip, -1 after
    weights: IntArray  # travel per s, lateness per s, balance per s


class SearchState(NamedTuple):
    """One solution: routes, where each order is, and per-route timing and totals."""

    route: IntArray  # (vehicles, max length) order indices
    length: IntArray
    depart: IntArray  # (vehicles, max length + 1)
    latest: IntArray  # (vehicles, max length + 1)
    travel: IntArray  # per vehicle, seconds
    lateness: IntArray  # per vehicle, seconds past SLA deadlines (exact schedule)
    load: IntArray  # (vehicles, load dimensions)
    working: IntArray  # travel plus service
    cost: IntArray  # weighted travel plus weighted lateness
    vehicle_of: IntArray  # per order, -1 when unserved
    position: IntArray  # per served order, its place in its route
    unserved_penalty: IntArray  # one element: the sum of penalties of unserved orders


def build_instance(
    arrays: RoutingArrays, penalties: IntArray, weights: tuple[int, int, int]
) -> SearchInstance:
    """Flatten ``arrays`` for the kernels; ``weights`` are travel, lateness and balance."""
    vehicles = arrays.vehicles
    max_breaks = max((len(v.breaks) for v in vehicles), default=0) or 1
    shape = (len(vehicles), max_breaks)
    earliest, latest = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
    duration = np.zeros(shape, np.int64)
    for v, vehicle in enumerate(vehicles):
        for k, brk in enumerate(sorted(vehicle.breaks, key=lambda b: b.earliest_start_s)):
            earliest[v, k], latest[v, k] = brk.earliest_start_s, brk.latest_start_s
            duration[v, k] = brk.duration_s
    classes = np.asarray([v.service_class for v in vehicles], dtype=np.int64)

    def per_vehicle(values: list[int]) -> IntArray:
        return np.asarray(values, dtype=np.int64)

    return SearchInstance(
        travel=np.ascontiguousarray(arrays.travel, dtype=np.int64),
        service=np.ascontiguousarray(arrays.service[classes].reshape(len(vehicles), -1)),
        win_start=np.ascontiguousarray(arrays.win_start),
        win_end=np.ascontiguousarray(arrays.win_end),
        demand=np.ascontiguousarray(arrays.demand, dtype=np.int64),
        priority=arrays.priority.astype(np.int64),
        penalty=penalties.astype(np.int64), sla=arrays.sla_s.astype(np.int64),
        allowed=np.ascontiguousarray(arrays.allowed),
        start_node=per_vehicle([arrays.start_node(v) for v in range(len(vehicles))]),
        end_node=per_vehicle([arrays.end_node(v) for v in range(len(vehicles))]),
        shift_start=per_vehicle([v.start_s for v in vehicles]),
        shift_end=per_vehicle([v.end_s for v in vehicles]),
        capacity=np.asarray([v.capacities for v in vehicles], dtype=np.int64).reshape(
            len(vehicles), arrays.demand.shape[1]
        ),
        max_orders=per_vehicle([v.max_orders for v in vehicles]),
        max_working=per_vehicle([v.max_working_s for v in vehicles]),
        locked=per_vehicle([len(v.locked) for v in vehicles]),
        break_count=per_vehicle([len(v.breaks) for v in vehicles]),
        break_earliest=earliest, break_latest=latest, break_duration=duration,
        neighbours=nearest_orders(arrays.travel[: arrays.n_orders, : arrays.n_orders]),
        nearest_vehicles=nearest_vehicles(arrays),
        weights=np.asarray(weights, dtype=np.int64),
    )  # fmt: skip


def nearest_orders(order_travel: IntArray, k: int = NEIGHBOURS) -> IntArray:
    """Each order, then its ``k`` nearest orders by travel both ways, nearest first."""
    n = len(order_travel)
    k = min(k, max(n - 1, 0))
    result = np.empty((n, k + 1), dtype=np.int64)
    for first in range(0, n, NEIGHBOUR_ROWS):
        rows = slice(first, min(first + NEIGHBOUR_ROWS, n))
        both = order_travel[rows] + order_travel[:, rows].T
        both[np.arange(both.shape[0]), np.arange(rows.start, rows.stop)] = -1  # self first
        nearest = np.argpartition(both, k, axis=1)[:, : k + 1] if k < n - 1 else np.argsort(both)
        ranked = np.take_along_axis(both, nearest, axis=1).argsort(axis=1, kind="stable")
        result[rows] = np.take_along_axis(nearest, ranked, axis=1)[:, : k + 1]
    return result


def nearest_vehicles(arrays: RoutingArrays) -> IntArray:
    """Per order, the vehicles allowed to serve it by travel from their start and back.

    Row ``o`` lists them nearest first and is padded with -1.
    """
    n_vehicles = len(arrays.vehicles)
    starts = np.asarray([arrays.start_node(v) for v in range(n_vehicles)], dtype=np.int64)
    ends = np.asarray([arrays.end_node(v) for v in range(n_vehicles)], dtype=np.int64)
    orders = np.arange(arrays.n_orders)
    round_trip = arrays.travel[np.ix_(orders, ends)].astype(np.int64)
    round_trip += arrays.travel[np.ix_(starts, orders)].T
    round_trip[~arrays.allowed] = INFINITE_TRIP
    ranked = np.argsort(round_trip, axis=1, kind="stable")
    ranked[np.take_along_axis(round_trip, ranked, axis=1) == INFINITE_TRIP] = -1
    return np.ascontiguousarray(ranked, dtype=np.int64)


def empty_state(instance: SearchInstance) -> SearchState:
    """Return a solution with every route empty and every order unserved."""
    n_vehicles, n_orders = len(instance.start_node), len(instance.demand)
    servable = instance.allowed.sum(axis=0)  # no route is longer than what it may serve
    longest = int(np.minimum(instance.max_orders, servable).max(initial=0))
    width = longest + int(instance.locked.max(initial=0)) + 1
    zeros = np.zeros(n_vehicles, dtype=np.int64)
    depart = np.zeros((n_vehicles, width + 1), dtype=np.int64)
    latest = np.zeros((n_vehicles, width + 1), dtype=np.int64)
    depart[:, 0], latest[:, 0] = instance.shift_start, instance.shift_end  # empty routes
    return SearchState(
        route=np.zeros((n_vehicles, width), dtype=np.int64),
        length=zeros.copy(),
        depart=depart, latest=latest,
        travel=zeros.copy(), lateness=zeros.copy(),
        load=np.zeros((n_vehicles, instance.demand.shape[1]), dtype=np.int64),
        working=zeros.copy(),
        cost=zeros.copy(),
        vehicle_of=np.full(n_orders, -1, dtype=np.int64),
        position=np.zeros(n_orders, dtype=np.int64),
        unserved_penalty=np.asarray([int(instance.penalty.sum())], dtype=np.int64),
    )  # fmt: skip


def copy_state(state: SearchState) -> SearchState:
    """Return an independent copy of ``state``."""
    return SearchState(*(a.copy() for a in state))
