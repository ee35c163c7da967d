"""A ``Problem`` flattened into numpy arrays over routing vehicles (one per open shift).

Solver nodes: order ``i`` is node ``i``; vehicle ``v`` starts at node ``n + 2v`` and ends at
node ``n + 2v + 1``. The construction, the OR-Tools model and the route checks all read these
arrays, so they agree on service times, windows and who may serve what.

Load has one dimension per column of ``demand``: column 0 is the one-number ``demand``
against ``capacity``, column ``1 + j`` the units of ``part_types[j]`` against each vehicle's
stock of it. Only part types some order needs get a column, so a problem without parts has
exactly the one dimension it always had. A route is feasible only while every column's sum
stays within the vehicle's ``capacities``.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from dispatch.eligibility import eligibility_matrix
from dispatch.model import Break, Problem, Shift, Technician, WorkOrder

UNLIMITED = 2**31 - 1  # stands for "no limit" in integer dimensions
NO_WINDOW_START = 2**40  # padding of missing windows: never reachable
NO_WINDOW_END = -1

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Vehicle:
    """One technician shift as a routing vehicle; limits use ``UNLIMITED`` for none."""

    technician_index: int
    shift_index: int
    start_s: int
    end_s: int
    breaks: tuple[Break, ...]
    capacity: int
    max_orders: int
    max_working_s: int
    service_class: int
    locked: tuple[int, ...]  # order indices that open the route, in this order
    starts_at_current_position: bool
    stock: tuple[int, ...] = ()  # units of each of ``RoutingArrays.part_types``

    @property
    def capacities(self) -> tuple[int, ...]:
        """The limit of each load dimension: ``capacity``, then the stock of each part type."""
        return (self.capacity, *self.stock)


@dataclass(frozen=True, slots=True)
class RoutingArrays:
    """Everything the solver evaluates, as arrays (see the module docstring for nodes)."""

    n_orders: int
    vehicles: tuple[Vehicle, ...]
    node_of: IntArray  # problem node of each solver node
    travel: IntArray  # (nodes, nodes) seconds between solver nodes
    service: IntArray  # (classes, orders) service seconds per vehicle class
    win_start: IntArray  # (orders, max windows), padded with NO_WINDOW_START
    win_end: IntArray  # (orders, max windows), padded with NO_WINDOW_END
    demand: IntArray  # (orders, 1 + part types): see the module docstring
    priority: IntArray
    sla_s: IntArray  # soft deadline on the start of service, UNLIMITED for none
    has_skills: BoolArray  # (orders, technicians): skills and levels suffice (eligibility)
    in_territory: BoolArray  # (orders, technicians): territory and pin allow it (eligibility)
    allowed: BoolArray  # (orders, vehicles): may serve, and can reach it within the shift
    horizon_s: int
    part_types: tuple[str, ...] = ()

    def start_node(self, vehicle: int) -> int:
        """Solver node where ``vehicle`` starts."""
        return self.n_orders + 2 * vehicle

    def end_node(self, vehicle: int) -> int:
        """Solver node where ``vehicle`` ends."""
        return self.n_orders + 2 * vehicle + 1

    def service_of(self, vehicle: int) -> IntArray:
        """Service seconds of every order when done by ``vehicle``."""
        row: IntArray = self.service[self.vehicles[vehicle].service_class]
        return row

    def load_of(self, orders: Sequence[int]) -> IntArray:
        """Units of each load dimension that ``orders`` use together."""
        total: IntArray = self.demand[np.asarray(orders, dtype=np.int64)].sum(axis=0)
        return total

    def overloaded(self, vehicle: int, load: IntArray) -> list[str]:
        """Load dimensions, by name, in which ``load`` exceeds what ``vehicle`` carries.

        ``"capacity"`` for the one-number demand, else the part type.
        """
        names = ("capacity", *self.part_types)
        over = np.asarray(load) > np.asarray(self.vehicles[vehicle].capacities)
        return [names[d] for d in np.flatnonzero(over)]


def build_routing_arrays(problem: Problem) -> RoutingArrays:
    """Flatten ``problem`` into ``RoutingArrays``; pure and vectorised over orders."""
    n = len(problem.orders)
    eligibility = eligibility_matrix(problem.technicians, problem.orders)
    has_skills, in_territory = eligibility.has_skills, eligibility.in_territory
    bottleneck = _bottleneck_levels(problem)
    service_by_tech = _service_by_technician(problem, bottleneck)
    classes, class_of_tech = np.unique(service_by_tech, axis=0, return_inverse=True)
    locked_orders = {o: t for t, tech in enumerate(problem.technicians) for o in tech.locked_stops}
    part_types = needed_part_types(problem.orders)
    index_of = {o.id: i for i, o in enumerate(problem.orders)}
    vehicles: list[Vehicle] = []
    start_nodes: list[int] = []
    for t, tech in enumerate(problem.technicians):
        for rank, (shift_index, shift) in enumerate(tech.open_shifts()):
            is_current = rank == 0 and tech.available_from_s is not None
            locked = tuple(index_of[o] for o in tech.locked_stops) if rank == 0 else ()
            service_class = int(class_of_tech.ravel()[t])
            vehicles.append(
                _vehicle(tech, t, shift_index, shift, service_class, locked, is_current, part_types)
            )
            start_nodes.append(problem.current_node(t) if is_current else problem.base_node(t))
    node_of = np.arange(n, dtype=np.int64)
    ends = [problem.end_node(v.technician_index) for v in vehicles]
    pairs = np.column_stack([start_nodes, ends]).ravel() if vehicles else np.empty(0, np.int64)
    node_of = np.concatenate([node_of, pairs.astype(np.int64)])
    travel = problem.travel_s[np.ix_(node_of, node_of)].astype(np.int64)
    win_start, win_end = _windows(problem, set(locked_orders))
    horizon = max((v.end_s for v in vehicles), default=0)
    arrays = RoutingArrays(
        n_orders=n, vehicles=tuple(vehicles), node_of=node_of, travel=travel,
        service=classes.astype(np.int64), win_start=win_start, win_end=win_end,
        demand=demand_matrix(problem.orders, part_types),
        priority=np.asarray([o.priority for o in problem.orders], dtype=np.int64),
        sla_s=np.asarray([UNLIMITED if o.sla_deadline_s is None else o.sla_deadline_s
                          for o in problem.orders], dtype=np.int64),
        has_skills=has_skills, in_territory=in_territory,
        allowed=np.zeros((n, len(vehicles)), dtype=bool), horizon_s=horizon,
        part_types=part_types,
    )  # fmt: skip
    allowed = (
        _reachable(arrays) & (has_skills & in_territory)[:, [v.technician_index for v in vehicles]]
    )
    for order_id, owner in locked_orders.items():
        allowed[index_of[order_id]] = [
            v.technician_index == owner and bool(v.locked) for v in vehicles
        ]
    allowed.flags.writeable = False
    return replace(arrays, allowed=allowed)


def _vehicle(
    tech: Technician, t: int, shift_index: int, shift: Shift, service_class: int,
    locked: tuple[int, ...], is_current: bool, part_types: tuple[str, ...],
) -> Vehicle:  # fmt: skip
    return Vehicle(
        technician_index=t, shift_index=shift_index, start_s=shift.start_s, end_s=shift.end_s,
        breaks=shift.breaks,
        capacity=UNLIMITED if tech.capacity is None else tech.capacity,
        max_orders=UNLIMITED if tech.max_orders is None else tech.max_orders,
        max_working_s=UNLIMITED if tech.max_working_s is None else tech.max_working_s,
        service_class=service_class, locked=locked, starts_at_current_position=is_current,
        stock=tuple(tech.stock.get(p, 0) for p in part_types),
    )  # fmt: skip


def needed_part_types(orders: Sequence[WorkOrder]) -> tuple[str, ...]:
    """Part types some order uses at least one unit of, sorted: one load dimension each.

    A type only technicians stock constrains nothing, so it gets no dimension.
    """
    return tuple(sorted({p for o in orders for p, units in o.parts.items() if units > 0}))


def demand_matrix(orders: Sequence[WorkOrder], part_types: tuple[str, ...]) -> IntArray:
    """(orders, 1 + part types): ``demand``, then the units of each part type."""
    rows = [[o.demand, *(o.parts.get(p, 0) for p in part_types)] for o in orders]
    return np.asarray(rows, dtype=np.int64).reshape(len(orders), 1 + len(part_types))


def _bottleneck_levels(problem: Problem) -> IntArray:
    """(orders x technicians): lowest level held among the order's skills (0 if it needs none)."""
    skills = sorted({s for o in problem.orders for s in o.required_skills})
    n, m = len(problem.orders), len(problem.technicians)
    if not skills:
        return np.zeros((n, m), dtype=np.int64)
    required = np.asarray([[o.required_skills.get(s, 0) for s in skills] for o in problem.orders])
    held = np.asarray([[t.skills.get(s, 0) for s in skills] for t in problem.technicians])
    required, held = required.reshape(n, len(skills)), held.reshape(m, len(skills))
    masked = np.where(required[:, None, :] > 0, held[None, :, :], np.iinfo(np.int64).max)
    bottleneck = masked.min(axis=2, initial=np.iinfo(np.int64).max)
    needs_any = np.asarray(required.any(axis=1))
    return np.where(needs_any[:, None], bottleneck, 0).astype(np.int64)


def _service_by_technician(problem: Problem, bottleneck: IntArray) -> IntArray:
    """(technicians x orders) service seconds after the per-level duration factor."""
    durations = np.asarray([o.duration_s for o in problem.orders], dtype=np.float64)
    factor = np.ones_like(bottleneck, dtype=np.float64)
    for level, value in problem.duration_factor_by_level.items():
        factor[bottleneck == level] = value
    # Orders the technician cannot do keep any value; half-up rounding matches service_s.
    service = np.floor(durations[:, None] * factor + 0.5).astype(np.int64)
    return service.T.reshape(len(problem.technicians), len(problem.orders))


def _windows(problem: Problem, locked: set[str]) -> tuple[IntArray, IntArray]:
    """Return padded window arrays; unwindowed or locked (under way) orders get all day."""
    horizon = max((s.end_s for t in problem.technicians for s in t.shifts), default=0)
    width = max([len(o.windows) for o in problem.orders] + [1])
    starts = np.full((len(problem.orders), width), NO_WINDOW_START, dtype=np.int64)
    ends = np.full((len(problem.orders), width), NO_WINDOW_END, dtype=np.int64)
    for i, order in enumerate(problem.orders):
        windows = [(w.start_s, w.end_s) for w in order.windows]
        if not windows or order.id in locked:
            windows = [(0, horizon)]
        starts[i, : len(windows)] = [w[0] for w in windows]
        ends[i, : len(windows)] = [w[1] for w in windows]
    return starts, ends


REACH_BLOCK = 64  # vehicles per numpy pass: bounds the (vehicles, orders, windows) temporaries


def _reachable(arrays: RoutingArrays) -> BoolArray:
    """(orders x vehicles): start, serve and return within the shift, alone on the route."""
    n, vehicles = arrays.n_orders, arrays.vehicles
    reach = np.zeros((n, len(vehicles)), dtype=bool)
    orders = np.arange(n)
    for first in range(0, len(vehicles), REACH_BLOCK):
        block = range(first, min(first + REACH_BLOCK, len(vehicles)))
        starts = np.asarray([arrays.start_node(v) for v in block], dtype=np.int64)
        ends = np.asarray([arrays.end_node(v) for v in block], dtype=np.int64)
        shift_start = np.asarray([vehicles[v].start_s for v in block], dtype=np.int64)
        shift_end = np.asarray([vehicles[v].end_s for v in block], dtype=np.int64)
        service = arrays.service[[vehicles[v].service_class for v in block]]
        arrive = shift_start[:, None] + arrays.travel[starts, :n]
        start = earliest_start(arrays, orders, arrive)
        back = start + service + arrays.travel[:n, ends].T
        reach[:, first : first + len(block)] = (back <= shift_end[:, None]).T
    return reach


def earliest_start(arrays: RoutingArrays, orders: IntArray, arrive_s: IntArray) -> IntArray:
    """Earliest start of service at ``orders`` when arriving at ``arrive_s`` (broadcasts).

    The first window that is still open at arrival decides; ``NO_WINDOW_START`` when every
    window has closed.

    ``orders`` and ``arrive_s`` broadcast together; the result has their broadcast shape.
    """
    arrive = np.asarray(arrive_s)[..., None]
    starts, ends = arrays.win_start[orders], arrays.win_end[orders]
    candidate = np.where(ends >= arrive, np.maximum(arrive, starts), NO_WINDOW_START)
    result: IntArray = candidate.min(axis=-1)
    return result
