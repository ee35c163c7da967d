"""The dispatch problem: technicians, work orders and the travel times between them.

Times are whole seconds from ``Problem.origin`` (a timezone-aware datetime); locations are
WGS84 ``(lon, lat)`` pairs. Node layout of the travel matrix, used by every solver component:
order ``i`` is node ``i``; technician ``k`` owns nodes ``n + 3k`` (base, where a shift starts),
``n + 3k + 1`` (end, where a shift ends) and ``n + 3k + 2`` (current position for in-day
re-planning; the base when there is none), with ``n = len(orders)``.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, NewType

import numpy as np
from numpy.typing import NDArray

from dispatch.validation import validate_problem

if TYPE_CHECKING:
    from geo.distance import TravelTimeProvider

TechnicianId = NewType("TechnicianId", str)
WorkOrderId = NewType("WorkOrderId", str)
LonLatPair = tuple[float, float]

NODES_PER_TECHNICIAN = 3
PRIORITY_SCALE: Final[Mapping[str, int]] = MappingProxyType(
    {"normal": 0, "urgent": 1, "emergency": 2}
)  # ``WorkOrder.priority`` of each named priority; the service, demo and docs use these


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A closed interval ``[start_s, end_s]`` in seconds from the problem origin."""

    start_s: int
    end_s: int

    def contains(self, t_s: int) -> bool:
        """Return whether ``t_s`` lies in the window (both ends included)."""
        return self.start_s <= t_s <= self.end_s

    def overlaps(self, other: "TimeWindow") -> bool:
        """Return whether the two closed intervals share at least one instant."""
        return self.start_s <= other.end_s and other.start_s <= self.end_s


@dataclass(frozen=True, slots=True)
class Break:
    """A break of ``duration_s`` that must start within ``[earliest_start_s, latest_start_s]``."""

    earliest_start_s: int
    latest_start_s: int
    duration_s: int


@dataclass(frozen=True, slots=True)
class Shift:
    """A working day: leave the base at or after ``start_s``, be back by ``end_s``."""

    start_s: int
    end_s: int
    breaks: tuple[Break, ...] = ()

    @property
    def window(self) -> TimeWindow:
        """The shift as a time window."""
        return TimeWindow(self.start_s, self.end_s)


@dataclass(frozen=True, slots=True)
class Technician:
    """A technician: one routing vehicle per shift.

    Parameters
    ----------
    id
        Stable caller-supplied id.
    start
        Base ``(lon, lat)`` where every shift starts.
    shifts
        One shift per day, sorted and disjoint.
    skills
        ``{skill: level}``; levels are positive integers, higher is more senior.
    end
        Where every shift ends; ``None`` means back at ``start``.
    max_orders, max_working_s, capacity
        Per-shift limits (``None``: unlimited). Working time is travel plus service;
        capacity is the one-number load (``WorkOrder.demand``).
    territory
        Region ids this technician may serve; ``None``: anywhere.
    current_position, available_from_s
        In-day re-planning: the technician is at ``current_position`` and free from
        ``available_from_s``; shifts that ended before it are ignored, the shift in progress
        starts there and then.
    locked_stops
        Orders (en route / on site) that stay first, in this order, on the first open shift.
    stock
        ``{part type: units}`` carried on each shift; a type not listed is zero units. A
        route holds only while every type lasts (``WorkOrder.parts``). Tools are skills,
        not stock: they are not used up.
    """

    id: TechnicianId
    start: LonLatPair
    shifts: tuple[Shift, ...]
    skills: Mapping[str, int] = field(default_factory=dict)
    end: LonLatPair | None = None
    max_orders: int | None = None
    max_working_s: int | None = None
    capacity: int | None = None
    territory: frozenset[str] | None = None
    current_position: LonLatPair | None = None
    available_from_s: int | None = None
    locked_stops: tuple[WorkOrderId, ...] = ()
    stock: Mapping[str, int] = field(default_factory=dict)

    def open_shifts(self) -> tuple[tuple[int, Shift], ...]:
        """Return ``(shift index, shift)`` for shifts still usable, the current one clipped.

        Examples
        --------
        >>> t = Technician(TechnicianId("t1"), (121.5, 31.2), (Shift(0, 100), Shift(200, 300)),
        ...                available_from_s=50)
        >>> [(i, s.start_s, s.end_s) for i, s in t.open_shifts()]
        [(0, 50, 100), (1, 200, 300)]
        """
        if self.available_from_s is None:
            return tuple(enumerate(self.shifts))
        now = self.available_from_s
        return tuple(
            (i, Shift(max(s.start_s, now), s.end_s, s.breaks))
            for i, s in enumerate(self.shifts)
            if s.end_s >= now
        )


@dataclass(frozen=True, slots=True)
class WorkOrder:
    """A job at one location.

    Parameters
    ----------
    id
        Stable caller-supplied id.
    location
        ``(lon, lat)``.
    duration_s
        Service time for a technician at the minimum required level.
    required_skills
        ``{skill: minimum level}``.
    windows
        Allowed starts of service, sorted and disjoint; ``()`` means any time in a shift.
    priority
        Higher priority is dropped last.
    sla_deadline_s
        Soft deadline on the start of service; lateness is penalised and reported.
    demand
        Load against the technician's one-number ``capacity``.
    pinned_to
        Only this technician may serve the order.
    region_id
        Region of the location; needed to serve it with a territory-limited technician.
    parts
        ``{part type: units}`` used up, taken from the serving technician's ``stock``.
    """

    id: WorkOrderId
    location: LonLatPair
    duration_s: int
    required_skills: Mapping[str, int] = field(default_factory=dict)
    windows: tuple[TimeWindow, ...] = ()
    priority: int = 0
    sla_deadline_s: int | None = None
    demand: int = 0
    pinned_to: TechnicianId | None = None
    region_id: str | None = None
    parts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Problem:
    """A validated dispatch problem; construction raises a ``DispatchError`` on bad input.

    Parameters
    ----------
    origin
        Timezone-aware instant that all ``*_s`` times count from.
    technicians, orders
        The fleet and the jobs.
    travel_s
        Square int32 matrix of whole seconds over the node layout of this module.
    distance_m
        Optional matrix of metres on the same nodes, for the travel-km KPI.
    duration_factor_by_level
        Service-time factor per skill level (``{3: 0.8}``: level-3 technicians need 80 %);
        missing levels use 1.0.
    skill_catalog
        Skills that exist even if nobody on today's fleet holds them; ``None``: the union
        of the technicians' skills. An order needing a skill outside it is a typo, an error.
    """

    origin: datetime
    technicians: tuple[Technician, ...]
    orders: tuple[WorkOrder, ...]
    travel_s: NDArray[np.int32]
    distance_m: NDArray[np.float64] | None = None
    duration_factor_by_level: Mapping[int, float] = field(default_factory=dict)
    skill_catalog: frozenset[str] | None = None

    def __post_init__(self) -> None:
        validate_problem(self)

    @classmethod
    def with_travel_times(
        cls,
        origin: datetime,
        technicians: tuple[Technician, ...],
        orders: tuple[WorkOrder, ...],
        provider: "TravelTimeProvider",
        *,
        depart_hour: int | None = None,
        **options: object,
    ) -> "Problem":
        """Build a problem whose travel times come from a ``TravelTimeProvider``.

        ``options`` are passed to the constructor (``duration_factor_by_level``,
        ``skill_catalog``); ``distance_m`` is the great-circle distance between nodes.
        """
        from dispatch.validation import validate_locations
        from geo.distance import HaversineTravelTime, haversine_matrix_m

        validate_locations(technicians, orders)
        lons, lats = node_lonlats(technicians, orders)
        distance_m = haversine_matrix_m(lons, lats)
        if isinstance(provider, HaversineTravelTime) and (
            type(provider).matrix_s is HaversineTravelTime.matrix_s
        ):  # its travel times scale these distances: computed once
            travel_s = provider.matrix_from_distances_s(
                distance_m, lons, lats, depart_hour=depart_hour
            )
        else:
            travel_s = provider.matrix_s(lons, lats, depart_hour=depart_hour)
        return cls(origin, technicians, orders, travel_s, distance_m, **options)  # type: ignore[arg-type]

    @property
    def n_nodes(self) -> int:
        """Number of nodes in the travel matrix."""
        return len(self.orders) + NODES_PER_TECHNICIAN * len(self.technicians)

    def base_node(self, tech_index: int) -> int:
        """Node where technician ``tech_index``'s shifts start."""
        return len(self.orders) + NODES_PER_TECHNICIAN * tech_index

    def end_node(self, tech_index: int) -> int:
        """Node where technician ``tech_index``'s shifts end."""
        return self.base_node(tech_index) + 1

    def current_node(self, tech_index: int) -> int:
        """Node of technician ``tech_index``'s current position (its base when unknown)."""
        return self.base_node(tech_index) + 2

    def service_s(self, order: WorkOrder, technician: Technician) -> int:
        """Service time of ``order`` done by ``technician``, scaled by the bottleneck level.

        The factor is that of the lowest level the technician holds among the order's
        required skills (the slowest part of the job); orders without skills take
        ``duration_s``.
        """
        if not order.required_skills or not self.duration_factor_by_level:
            return order.duration_s
        level = min(technician.skills.get(s, 0) for s in order.required_skills)
        return round(order.duration_s * self.duration_factor_by_level.get(level, 1.0))

    def can_serve(self, technician: Technician, order: WorkOrder) -> bool:
        """Return whether skills, pin and territory let ``technician`` serve ``order``."""
        if order.pinned_to is not None and order.pinned_to != technician.id:
            return False
        if technician.territory is not None and order.region_id not in technician.territory:
            return False
        return has_skills(technician, order)


def has_skills(technician: Technician, order: WorkOrder) -> bool:
    """Return whether the technician holds every required skill at or above its level."""
    return all(technician.skills.get(s, 0) >= lvl for s, lvl in order.required_skills.items())


def node_lonlats(
    technicians: tuple[Technician, ...], orders: tuple[WorkOrder, ...]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the ``(lons, lats)`` of every node, in the layout described in this module."""
    points: list[LonLatPair] = [o.location for o in orders]
    for t in technicians:
        points += [t.start, t.end or t.start, t.current_position or t.start]
    coords = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return coords[:, 0].copy(), coords[:, 1].copy()
