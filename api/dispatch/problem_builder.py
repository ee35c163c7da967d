"""Ticket and technician rows -> a ``dispatch.Problem`` for one working day.

The solver refuses a whole problem for one bad order (a skill nobody has, windows outside
every shift, a pin to someone off duty); a dispatcher wants the rest planned and that order
named. So those tickets are left out here, each with the reason the plan reports for it.
Travel times come from ``geo.HaversineTravelTime`` with each region's ``speed_kmh``.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from api.customers.value_tiers import TierTerms
from api.db.spatial import lonlat
from api.db.tables import TechnicianRow, TechnicianShiftRow, TicketRow
from dispatch import (
    Break,
    DispatchError,
    DropReason,
    Problem,
    Shift,
    Technician,
    TechnicianId,
    TimeWindow,
    Unassigned,
    WorkOrder,
    WorkOrderId,
)
from dispatch.model import PRIORITY_SCALE
from geo.distance import HaversineTravelTime
from geo.regions import RegionIndex

PRIORITY = PRIORITY_SCALE  # a ticket's priority name -> ``WorkOrder.priority``
DAY_S = 24 * 3600


class EmptyScope(DispatchError):
    """Nothing to plan: no ticket, or no technician on shift, in the scope."""

    code = "empty_scope"


@dataclass(frozen=True, slots=True)
class DayProblem:
    """A problem for one day, with what was left out before the solve and why."""

    problem: Problem
    excluded: tuple[Unassigned, ...]
    day: date
    zone: ZoneInfo


@dataclass(frozen=True, slots=True)
class Fleet:
    """Technicians with their shift rows of the day."""

    technicians: Sequence[TechnicianRow]
    shifts: Mapping[str, Sequence[TechnicianShiftRow]]


def day_origin(day: date, zone: ZoneInfo) -> datetime:
    """Return local midnight starting ``day``: the origin every ``*_s`` time counts from."""
    return datetime.combine(day, time(0), tzinfo=zone)


def build_problem(
    *,
    index: RegionIndex,
    tickets: Sequence[TicketRow],
    fleet: Fleet,
    pins: Mapping[int, str],
    day: date,
    zone: ZoneInfo,
    skill_catalog: Iterable[str],
    now: datetime | None,
    positions: Mapping[str, tuple[float, float]] | None = None,
    extra: Sequence[WorkOrder] = (),
    free_from: Mapping[str, datetime] | None = None,
    terms: TierTerms | None = None,
) -> DayProblem:
    """Build the problem of ``day`` from rows; orders it cannot take go to ``excluded``.

    ``pins`` maps ticket ids to the technician they are pinned to. Nothing is planned before
    ``now``: technicians are available from then (at ``positions`` when known); ``None``
    takes the day as a whole (to reproduce a plan made earlier). ``extra`` orders (built with
    ``ticket_order``, or a prospective booking) join the tickets. A technician busy with a job
    is free from ``free_from`` on, at the job's position. ``terms``: see :func:`ticket_order`.
    """
    origin = day_origin(day, zone)
    now_s = 0 if now is None else max(0, int((now - origin).total_seconds()))
    busy_s = {tech: _seconds(at, origin) for tech, at in (free_from or {}).items()}
    technicians = [
        _technician(
            row,
            fleet.shifts[row.id],
            origin,
            max(now_s, busy_s.get(row.id, 0)),
            index,
            (positions or {}).get(row.id),
        )
        for row in fleet.technicians
        if fleet.shifts.get(row.id)
    ]
    if not technicians:
        raise EmptyScope(f"no technician has a shift on {day.isoformat()} in this scope")
    catalog = frozenset(skill_catalog) | {s for t in technicians for s in t.skills}
    shifts = [s.window for t in technicians for s in t.shifts]
    tech_ids = {t.id for t in technicians}
    orders: list[WorkOrder] = []
    excluded: list[Unassigned] = []
    candidates = [
        ticket_order(t, origin, now_s=now_s, pinned_to=pins.get(t.id), terms=terms) for t in tickets
    ]
    for order, is_over in [*candidates, *((o, False) for o in extra)]:
        reason = _exclusion(order, catalog, shifts, tech_ids, is_over=is_over)
        if reason is None:
            orders.append(order)
        else:
            excluded.append(Unassigned(order.id, *reason))
    if not orders and not excluded:
        raise EmptyScope(f"no ticket to plan on {day.isoformat()} in this scope")
    provider = HaversineTravelTime(region_index=index)
    problem = Problem.with_travel_times(
        origin, tuple(technicians), tuple(orders), provider, skill_catalog=catalog
    )
    return DayProblem(problem, tuple(excluded), day, zone)


def _exclusion(
    order: WorkOrder,
    catalog: frozenset[str],
    shifts: Sequence[TimeWindow],
    tech_ids: set[TechnicianId],
    *,
    is_over: bool,
) -> tuple[DropReason, str] | None:
    unknown = sorted(set(order.required_skills) - catalog)
    if unknown:
        return DropReason.NO_SKILL, f"no technician on shift has skills {unknown}"
    if is_over:
        return DropReason.UNREACHABLE, "its time windows are over or on another day"
    if order.windows and not any(w.overlaps(s) for w in order.windows for s in shifts):
        return DropReason.UNREACHABLE, "none of its time windows meets a shift of the day"
    if order.pinned_to is not None and order.pinned_to not in tech_ids:
        return DropReason.UNREACHABLE, f"pinned to {order.pinned_to}, who has no shift that day"
    return None


def _seconds(at: datetime, origin: datetime) -> int:
    return int((at - origin).total_seconds())


def _technician(
    row: TechnicianRow,
    shift_rows: Sequence[TechnicianShiftRow],
    origin: datetime,
    now_s: int,
    index: RegionIndex,
    position: tuple[float, float] | None,
) -> Technician:
    shifts = tuple(
        Shift(
            max(0, _seconds(s.start_at, origin)),
            _seconds(s.end_at, origin),
            tuple(_break(b, origin) for b in s.breaks),
        )
        for s in sorted(shift_rows, key=lambda s: s.start_at)
    )
    territory = None
    if row.territory is not None:
        territory = frozenset().union(*(_known_descendants(index, r) for r in row.territory))
    return Technician(
        id=TechnicianId(row.id),
        start=lonlat(row.home_base),
        shifts=shifts,
        skills=dict(row.skills),
        max_orders=row.max_orders,
        capacity=row.capacity,
        territory=territory,
        current_position=position if now_s > 0 else None,
        available_from_s=now_s if now_s > 0 else None,
    )


def _known_descendants(index: RegionIndex, region_id: str) -> frozenset[str]:
    return index.descendants(region_id) if region_id else frozenset()


def _break(value: Mapping[str, object], origin: datetime) -> Break:
    earliest = datetime.fromisoformat(str(value["earliest_start_at"]))
    latest = datetime.fromisoformat(str(value["latest_start_at"]))
    duration_min = value["duration_min"]
    assert isinstance(duration_min, int)
    return Break(_seconds(earliest, origin), _seconds(latest, origin), duration_min * 60)


def ticket_order(
    ticket: TicketRow, origin: datetime, *, now_s: int, pinned_to: str | None,
    terms: TierTerms | None = None,
) -> tuple[WorkOrder, bool]:  # fmt: skip
    """Return the ticket as a work order (windows from ``now_s`` on) and whether they are over.

    With ``terms``, the customer's value tier raises the priority and shortens the SLA as the
    tier policy says (``api.customers.value_tiers``).
    """
    windows = _windows(ticket.time_windows, origin, now_s)
    priority, sla_due_at = ticket.priority, ticket.sla_due_at
    if terms is not None:
        priority, sla_due_at = terms.for_ticket(
            priority, ticket.created_at, sla_due_at, ticket.customer_id
        )
    sla_s = None if sla_due_at is None else max(0, _seconds(sla_due_at, origin))
    order = WorkOrder(
        id=WorkOrderId(str(ticket.id)),
        location=lonlat(ticket.location),
        duration_s=ticket.duration_min * 60,
        required_skills=dict(ticket.skills),
        windows=windows or (),
        priority=PRIORITY.get(priority, 0),
        sla_deadline_s=sla_s,
        demand=ticket.demand,
        pinned_to=None if pinned_to is None else TechnicianId(pinned_to),
        region_id=ticket.region_id,
    )
    return order, windows is None


def _windows(
    values: Sequence[Sequence[str]], origin: datetime, now_s: int
) -> tuple[TimeWindow, ...] | None:
    """Windows as seconds from ``origin``, clipped to start no earlier than ``now_s``.

    ``None`` when every window closed before ``now_s``; ``()`` (no windows) means any time
    in a shift.
    """
    windows = []
    for start_iso, end_iso in values:
        start = _seconds(datetime.fromisoformat(start_iso), origin)
        end = _seconds(datetime.fromisoformat(end_iso), origin)
        if end >= now_s:
            windows.append(TimeWindow(max(start, now_s), end))
    if values and not windows:
        return None
    return tuple(sorted(windows, key=lambda w: w.start_s))


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Return the instants at which local ``day`` starts and ends."""
    start = day_origin(day, zone)
    return start, day_origin(day + timedelta(days=1), zone)
