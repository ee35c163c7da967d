"""The solver's answer: routes with times per stop, unassigned orders with reasons, KPIs."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from dispatch.model import TechnicianId, WorkOrderId


class DropReason(StrEnum):
    """Why an order is not in the plan (decided after the solve)."""

    NO_SKILL = "no_skill"  # no technician holds the skills at the levels required
    UNREACHABLE = "unreachable"  # no shift / territory can reach it within its windows
    CAPACITY = "capacity"  # capacity, working time or max orders exhausted
    OUTRANKED = "outranked"  # dropped in favour of higher-priority orders


@dataclass(frozen=True, slots=True)
class Stop:
    """One visit; all times are seconds from the plan origin.

    ``wait_s`` is the idle time between arrival and the start of service; ``slack_s`` is how
    much later service could start without breaking any later window or the shift end;
    ``lateness_s`` is how far the start of service is past the order's SLA deadline.
    """

    order_id: WorkOrderId
    arrival_s: int
    start_s: int
    end_s: int
    wait_s: int
    slack_s: int
    lateness_s: int
    travel_s: int  # from the previous stop (or the start of the route)


@dataclass(frozen=True, slots=True)
class Route:
    """A technician's ordered stops during one shift."""

    technician_id: TechnicianId
    shift_index: int
    stops: tuple[Stop, ...]
    depart_s: int
    return_s: int
    travel_s: int  # including the way back
    service_s: int
    distance_m: float | None  # None when the problem has no distance matrix

    @property
    def working_s(self) -> int:
        """Travel plus service, the quantity limited by ``max_working_s``."""
        return self.travel_s + self.service_s


@dataclass(frozen=True, slots=True)
class Unassigned:
    """An order left out of the plan, with a reason code and a sentence for the dispatcher."""

    order_id: WorkOrderId
    reason: DropReason
    message: str


@dataclass(frozen=True, slots=True)
class Kpis:
    """Plan-level figures a dispatcher judges a plan by.

    ``load_s_by_technician`` is working time (travel + service) over all shifts;
    ``load_spread_s`` is its max minus min over technicians; ``objective`` is the solver's
    cost (travel, lateness, drop and balance terms with the weights used);
    ``first_feasible_s`` is how long after ``solve`` was called the first feasible plan (the
    construction, before any search) was ready, ``None`` where it is not known (a plan merged
    from parts solved in other processes); ``polish_gain`` is how much OR-Tools' descent
    lowered the objective after the search (0 when it found nothing better), ``None`` where
    it did not run.
    """

    assigned: int
    unassigned: int
    on_time_rate: float  # share of assigned orders started by their SLA deadline
    travel_km: float | None
    travel_min: float
    load_s_by_technician: Mapping[TechnicianId, int]
    load_spread_s: int
    solve_s: float
    objective: int
    first_feasible_s: float | None = None
    polish_gain: int | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Routes, unassigned orders and KPIs for a ``Problem``."""

    origin: datetime
    routes: tuple[Route, ...]
    unassigned: tuple[Unassigned, ...]
    kpis: Kpis

    def at(self, t_s: int) -> datetime:
        """Return the instant ``t_s`` seconds after the origin (timezone-aware)."""
        return self.origin + timedelta(seconds=t_s)

    def route_of(self, technician_id: TechnicianId, shift_index: int = 0) -> Route | None:
        """Return the route of a technician's shift, or ``None`` if it has none."""
        return next(
            (
                r
                for r in self.routes
                if r.technician_id == technician_id and r.shift_index == shift_index
            ),
            None,
        )

    def assigned_ids(self) -> frozenset[WorkOrderId]:
        """Ids of all orders served by the plan."""
        return frozenset(s.order_id for r in self.routes for s in r.stops)
