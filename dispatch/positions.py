"""Every insertion position of every route as flat arrays, ranked for one order in one pass.

A position ``(vehicle, p)`` means "before the ``p``-th stop" (``p == len(route)``: before
the way back). For each position the table keeps the node before and after, when the
technician can leave the node before, and the latest start at the node after that keeps the
rest of the route feasible (breaks aside: the exact check in ``schedule`` settles them). With
those, a whole plan is screened for one order with a handful of numpy operations.
"""

from dataclasses import dataclass

import numpy as np

from dispatch.params import ObjectiveWeights
from dispatch.routing_arrays import (
    NO_WINDOW_START,
    UNLIMITED,
    BoolArray,
    IntArray,
    RoutingArrays,
    earliest_start,
)
from dispatch.schedule import RouteSchedule


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-vehicle limits on orders, load and working seconds (``UNLIMITED`` for none).

    ``capacity`` is (vehicles, load dimensions): the one-number capacity, then the stock of
    each part type (``Vehicle.capacities``).
    """

    max_orders: IntArray
    capacity: IntArray
    max_working_s: IntArray

    @classmethod
    def of(cls, arrays: RoutingArrays) -> "Limits":
        """Return the limits the problem sets."""
        vehicles = arrays.vehicles
        return cls(
            np.asarray([v.max_orders for v in vehicles], dtype=np.int64),
            np.asarray([v.capacities for v in vehicles], dtype=np.int64).reshape(
                len(vehicles), arrays.demand.shape[1]
            ),
            np.asarray([v.max_working_s for v in vehicles], dtype=np.int64),
        )

    def held_back(self, share: float) -> "Limits":
        """Return the limits with ``share`` of each finite one kept for emergencies."""

        def keep(limit: IntArray) -> IntArray:
            kept: IntArray = np.where(
                limit < UNLIMITED, np.floor(limit * (1.0 - share)).astype(np.int64), limit
            )
            return kept

        return Limits(keep(self.max_orders), keep(self.capacity), keep(self.max_working_s))


@dataclass(frozen=True, slots=True)
class Candidate:
    """A position that passed the screen, with its approximate cost (travel and own lateness)."""

    vehicle: int
    position: int
    approx_cost: int
    start_s: int


class PositionTable:
    """Insertion positions of all routes; ``update`` after a route changes."""

    def __init__(self, arrays: RoutingArrays, schedules: list[RouteSchedule | None]) -> None:
        n_vehicles = len(arrays.vehicles)
        self.arrays = arrays
        self.limits = Limits.of(arrays)
        self.service_class = np.asarray([v.service_class for v in arrays.vehicles], dtype=np.int64)
        self.count = np.zeros(n_vehicles, dtype=np.int64)
        self.load = np.zeros((n_vehicles, arrays.demand.shape[1]), dtype=np.int64)
        self.working_s = np.zeros(n_vehicles, dtype=np.int64)
        self.is_open = np.zeros(n_vehicles, dtype=bool)
        self._blocks: list[IntArray] = [np.empty((6, 0), dtype=np.int64)] * n_vehicles
        self._flat: IntArray | None = None
        for v, schedule in enumerate(schedules):
            self.update(v, schedule)

    def extended(self, arrays: RoutingArrays) -> "PositionTable":
        """Return a copy of the table for ``arrays``: its problem with orders appended last.

        Every position stays; only the technicians' nodes, numbered after the orders, move up
        by the number of orders appended. Cheaper than a table built from the schedules.
        """
        added = arrays.n_orders - self.arrays.n_orders
        if added < 0 or len(arrays.vehicles) != len(self.arrays.vehicles):
            raise ValueError("the arrays are not this table's problem with orders appended")
        first_technician_node = self.arrays.n_orders
        table = object.__new__(PositionTable)
        table.arrays, table.limits = arrays, self.limits
        table.service_class = np.asarray([v.service_class for v in arrays.vehicles], dtype=np.int64)
        table.count, table.load = self.count.copy(), self.load.copy()
        table.working_s, table.is_open = self.working_s.copy(), self.is_open.copy()
        table._blocks = [_moved_nodes(b, first_technician_node, added) for b in self._blocks]
        table._flat = None
        return table

    def update(self, v: int, schedule: RouteSchedule | None) -> None:
        """Replace vehicle ``v``'s positions by those of ``schedule`` (``None``: closed)."""
        self._flat = None
        self.is_open[v] = schedule is not None
        if schedule is None:
            self._blocks[v] = np.empty((6, 0), dtype=np.int64)
            return
        arrays, orders = self.arrays, list(schedule.orders)
        self.count[v], self.load[v], self.working_s[v] = (
            len(orders),
            schedule.load,
            schedule.working_s,
        )
        nodes = np.asarray([arrays.start_node(v), *orders, arrays.end_node(v)], dtype=np.int64)
        service = arrays.service_of(v)[orders] if orders else np.empty(0, dtype=np.int64)
        depart = np.concatenate(([schedule.depart_s], np.asarray(schedule.start_s) + service))
        latest_next = np.concatenate((schedule.latest_s, [arrays.vehicles[v].end_s]))
        first = len(arrays.vehicles[v].locked)  # locked stops stay first
        positions = np.arange(len(orders) + 1, dtype=np.int64)
        block = np.vstack(
            [np.full(len(positions), v), positions, nodes[:-1], nodes[1:], depart, latest_next]
        ).astype(np.int64)
        self._blocks[v] = block[:, first:]

    def flat(self) -> IntArray:
        """Rows: vehicle, position, node before, node after, leave-before time, latest after."""
        if self._flat is None:
            self._flat = np.concatenate(self._blocks, axis=1)
        return self._flat

    def full_vehicles(self, arrays: RoutingArrays, order: int, limits: Limits) -> BoolArray:
        """Per vehicle: closed, or no room for ``order`` in orders, load, parts or working time."""
        service = arrays.service[self.service_class, order]
        full: BoolArray = (
            ~self.is_open
            | (self.count + 1 > limits.max_orders)
            | (self.load + arrays.demand[order] > limits.capacity).any(axis=1)
            | (self.working_s + service > limits.max_working_s)
        )
        return full


def _moved_nodes(block: IntArray, first: int, added: int) -> IntArray:
    """Return ``block`` with its nodes from ``first`` on (the technicians') up by ``added``."""
    moved = block.copy()
    nodes = moved[2:4]
    nodes[nodes >= first] += added
    return moved


def rank_positions(
    table: PositionTable,
    arrays: RoutingArrays,
    order: int,
    weights: ObjectiveWeights,
    limits: Limits,
    *,
    top: int,
) -> list[Candidate]:
    """Return the ``top`` cheapest positions that pass the screen for ``order``, in order."""
    vehicle, position, before, after, leave_s, latest_after = table.flat()
    room = ~table.full_vehicles(arrays, order, limits) & arrays.allowed[order]
    keep = np.flatnonzero(room[vehicle])
    vehicle, position, before, after = vehicle[keep], position[keep], before[keep], after[keep]
    to_order, from_order = arrays.travel[before, order], arrays.travel[order, after]
    start = earliest_start(arrays, np.asarray([order]), leave_s[keep] + to_order)
    service = arrays.service[table.service_class[vehicle], order]
    detour = to_order + from_order - arrays.travel[before, after]
    is_ok = (start < NO_WINDOW_START) & (start + service + from_order <= latest_after[keep])
    is_ok &= table.working_s[vehicle] + detour + service <= limits.max_working_s[vehicle]
    late = np.maximum(start - arrays.sla_s[order], 0)
    cost = weights.travel_per_s * detour + weights.lateness_per_s * late
    ok = np.flatnonzero(is_ok)
    if len(ok) > top:
        ok = ok[np.argpartition(cost[ok], top - 1)[:top]]
    ranked = ok[np.lexsort((position[ok], vehicle[ok], cost[ok]))]  # ties: stable, seed-free
    return [
        Candidate(int(vehicle[i]), int(position[i]), int(cost[i]), int(start[i])) for i in ranked
    ]
