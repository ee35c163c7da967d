"""What a dispatch run covers: tickets of a region and day, technicians on shift, pins.

Functions take a session and keyword arguments and only read.
"""

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from api.db.tables import (
    AssignmentRow,
    DispatchRunRow,
    TechnicianLocationRow,
    TechnicianRow,
    TechnicianShiftRow,
    TicketRow,
)
from api.lifecycle import TicketStatus
from api.problem_builder import (
    DayProblem,
    EmptyScope,
    Fleet,
    build_problem,
    day_bounds,
    descendants,
    lonlat,
)
from dispatch import DispatchError
from geo.regions import RegionIndex

PLANNABLE = (TicketStatus.NEW.value, TicketStatus.SCHEDULED.value)
# A day's run also re-times dispatched tickets (kept on their technician) and works around
# the jobs technicians are driving to or doing.
DISPATCHED = TicketStatus.DISPATCHED.value
UNDER_WAY = (TicketStatus.EN_ROUTE.value, TicketStatus.ON_SITE.value)
POSITION_MAX_AGE = timedelta(minutes=30)  # an older ping says little about where someone is


def region_tickets(
    session: Session, *, region_ids: Collection[str], day: date, start: datetime, end: datetime
) -> list[TicketRow]:
    """Tickets to plan in ``region_ids`` on ``day`` (local ``[start, end)``).

    New, scheduled or dispatched tickets whose windows meet the day, or that have no window;
    a ticket assigned to another day stays there.
    """
    other_day = select(AssignmentRow.ticket_id).where(AssignmentRow.day != day)
    query = (
        select(TicketRow)
        .where(
            TicketRow.region_id.in_(list(region_ids)),
            TicketRow.status.in_([*PLANNABLE, DISPATCHED]),
            or_(
                TicketRow.window_start_at.is_(None),
                and_(TicketRow.window_start_at < end, TicketRow.window_end_at > start),
            ),
            TicketRow.id.not_in(other_day),
        )
        .order_by(TicketRow.id)
    )
    return list(session.scalars(query))


def tickets_by_id(session: Session, *, ticket_ids: Sequence[int]) -> list[TicketRow]:
    """Return the tickets with these ids, in id order (missing ids are simply absent)."""
    query = select(TicketRow).where(TicketRow.id.in_(list(ticket_ids))).order_by(TicketRow.id)
    return list(session.scalars(query))


def fleet(
    session: Session,
    *,
    day: date,
    index: RegionIndex,
    region_ids: Collection[str] | None,
    technician_ids: Collection[str] | None = None,
) -> Fleet:
    """Active technicians with a shift on ``day`` who may work in ``region_ids``.

    A technician qualifies by a territory that meets ``region_ids`` or, without a territory,
    by a home base inside them; ``region_ids=None`` takes everyone on shift.
    """
    shifts: dict[str, list[TechnicianShiftRow]] = {}
    for shift in session.scalars(select(TechnicianShiftRow).where(TechnicianShiftRow.day == day)):
        shifts.setdefault(shift.technician_id, []).append(shift)
    query = select(TechnicianRow).where(
        TechnicianRow.is_active.is_(True), TechnicianRow.id.in_(list(shifts))
    )
    if technician_ids is not None:
        query = query.where(TechnicianRow.id.in_(list(technician_ids)))
    rows = list(session.scalars(query.order_by(TechnicianRow.id)))
    if region_ids is not None:
        wanted = set(region_ids)
        rows = [r for r in rows if _works_in(r, wanted, index)]
    return Fleet(rows, shifts)


def _works_in(row: TechnicianRow, region_ids: set[str], index: RegionIndex) -> bool:
    if row.territory is not None:
        return any(region_ids & descendants(index, t) for t in row.territory)
    lon, lat = lonlat(row.home_base)
    return any(r.id in region_ids for r in index.containing(lon, lat))


def pins(session: Session, *, ticket_ids: Iterable[int]) -> dict[int, str]:
    """Return ``{ticket id: technician id}`` for the pinned tickets among ``ticket_ids``."""
    query = select(AssignmentRow.ticket_id, AssignmentRow.technician_id).where(
        AssignmentRow.ticket_id.in_(list(ticket_ids)), AssignmentRow.is_pinned.is_(True)
    )
    return {ticket: tech for ticket, tech in session.execute(query)}


def positions(
    session: Session, *, technician_ids: Collection[str], now: datetime
) -> dict[str, tuple[float, float]]:
    """Return the latest recent GPS position of each technician who has one."""
    latest = (
        select(
            TechnicianLocationRow.technician_id,
            func.max(TechnicianLocationRow.recorded_at).label("at"),
        )
        .where(
            TechnicianLocationRow.technician_id.in_(list(technician_ids)),
            TechnicianLocationRow.recorded_at >= now - POSITION_MAX_AGE,
        )
        .group_by(TechnicianLocationRow.technician_id)
        .subquery()
    )
    query = select(TechnicianLocationRow).join(
        latest,
        and_(
            TechnicianLocationRow.technician_id == latest.c.technician_id,
            TechnicianLocationRow.recorded_at == latest.c.at,
        ),
    )
    return {row.technician_id: lonlat(row.location) for row in session.scalars(query)}


def ticket_versions(tickets: Iterable[TicketRow]) -> dict[str, list[Any]]:
    """Snapshot what a plan depends on: status, technician and last change of each ticket."""
    return {str(t.id): [t.status, t.technician_id, t.updated_at.isoformat()] for t in tickets}


def stale_ticket_ids(session: Session, *, run: DispatchRunRow) -> list[int]:
    """Return the run's tickets that changed since it was submitted (in id order)."""
    ids = [int(i) for i in run.ticket_versions]
    now = ticket_versions(tickets_by_id(session, ticket_ids=ids))
    return sorted(i for i in ids if now.get(str(i)) != run.ticket_versions[str(i)])


@dataclass(frozen=True, slots=True)
class Limits:
    """Problem-size caps of one run."""

    max_orders: int
    max_technicians: int


def region_day_problem(
    session: Session,
    *,
    index: RegionIndex,
    region_id: str,
    day: date,
    limits: Limits,
    catalog: Collection[str],
    now: datetime,
) -> tuple[DayProblem, list[TicketRow]]:
    """Load and build the problem of a region (and the regions inside it) on ``day``."""
    zone = ZoneInfo(index.get(region_id).time_zone)
    region_ids = descendants(index, region_id)
    start, end = day_bounds(day, zone)
    tickets = region_tickets(session, region_ids=region_ids, day=day, start=start, end=end)
    crew = fleet(session, day=day, index=index, region_ids=region_ids)
    return _build(session, index, tickets, crew, day, zone, limits, catalog, now), tickets


def ticket_list_problem(
    session: Session,
    *,
    index: RegionIndex,
    ticket_ids: Sequence[int],
    day: date | None,
    limits: Limits,
    catalog: Collection[str],
    now: datetime,
    default_zone: str,
) -> tuple[DayProblem, list[TicketRow]]:
    """Load and build the problem of explicit tickets on ``day`` (default: their first window)."""
    _check_size(len(set(ticket_ids)), 0, limits)
    tickets = tickets_by_id(session, ticket_ids=ticket_ids)
    missing = sorted(set(ticket_ids) - {t.id for t in tickets})
    if missing:
        raise UnknownTickets(f"no tickets {missing}", field="scope.ticket_ids", ticket_ids=missing)
    closed = [t.id for t in tickets if t.status not in PLANNABLE]
    if closed:
        raise NotPlannable(
            f"tickets {closed} are past scheduling (only new and scheduled tickets are planned)",
            field="scope.ticket_ids", ticket_ids=closed,
        )  # fmt: skip
    region = next((t.region_id for t in tickets if t.region_id), None)
    zone = ZoneInfo(index.get(region).time_zone if region else default_zone)
    starts = [t.window_start_at for t in tickets if t.window_start_at is not None]
    if day is None and not starts:
        raise EmptyScope(
            "none of the tickets has a time window: give scope.date", field="scope.date"
        )
    day = day or min(starts).astimezone(zone).date()
    region_ids = {t.region_id for t in tickets if t.region_id}
    crew = fleet(session, day=day, index=index, region_ids=_with_ancestors(index, region_ids))
    return _build(session, index, tickets, crew, day, zone, limits, catalog, now), tickets


def _with_ancestors(index: RegionIndex, region_ids: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for region_id in region_ids:
        current: str | None = region_id
        while current is not None and current not in found:
            found.add(current)
            current = index.get(current).parent_id
    return found


def _check_size(n_orders: int, n_technicians: int, limits: Limits) -> None:
    if n_orders > limits.max_orders or n_technicians > limits.max_technicians:
        raise ProblemTooLarge(
            f"{n_orders} tickets and {n_technicians} technicians exceed this service's cap of "
            f"{limits.max_orders} tickets and {limits.max_technicians} technicians per run; "
            "split the day by region",
            field="scope", n_tickets=n_orders, n_technicians=n_technicians,
            max_tickets=limits.max_orders, max_technicians=limits.max_technicians,
        )  # fmt: skip


def _build(
    session: Session,
    index: RegionIndex,
    tickets: list[TicketRow],
    crew: Fleet,
    day: date,
    zone: ZoneInfo,
    limits: Limits,
    catalog: Collection[str],
    now: datetime,
) -> DayProblem:
    _check_size(len(tickets), len(crew.technicians), limits)
    ids = [t.id for t in tickets]
    kept = {t.id: t.technician_id for t in tickets if t.status == DISPATCHED and t.technician_id}
    tech_ids = [t.id for t in crew.technicians]
    where = positions(session, technician_ids=tech_ids, now=now)
    jobs = jobs_under_way(session, technician_ids=tech_ids, day=day)
    where |= {tech: job[0] for tech, job in jobs.items()}
    return build_problem(
        index=index, tickets=tickets, fleet=crew, pins=pins(session, ticket_ids=ids) | kept,
        day=day, zone=zone, skill_catalog=catalog, now=now, positions=where,
        free_from={tech: job[1] for tech, job in jobs.items()},
    )  # fmt: skip


def jobs_under_way(
    session: Session, *, technician_ids: Collection[str], day: date
) -> dict[str, tuple[tuple[float, float], datetime]]:
    """Return, per technician en route or on site that day, where the job is and when it ends.

    The end is the assignment's planned end, or the job's duration from the status change.
    """
    query = (
        select(TicketRow, AssignmentRow.end_at)
        .join(AssignmentRow, AssignmentRow.ticket_id == TicketRow.id)
        .where(
            AssignmentRow.technician_id.in_(list(technician_ids)),
            AssignmentRow.day == day,
            TicketRow.status.in_(UNDER_WAY),
        )
        .order_by(AssignmentRow.sequence)
    )
    jobs: dict[str, tuple[tuple[float, float], datetime]] = {}
    for ticket, end_at in session.execute(query):
        until = end_at or ticket.updated_at + timedelta(minutes=ticket.duration_min)
        jobs[str(ticket.technician_id)] = (lonlat(ticket.location), until)
    return jobs


class ProblemTooLarge(DispatchError):
    """A run would exceed the service's problem-size cap."""

    code: ClassVar[str] = "problem_too_large"


class UnknownTickets(DispatchError):
    """A run names tickets that do not exist."""

    code: ClassVar[str] = "unknown_tickets"


class NotPlannable(DispatchError):
    """A run names tickets that are already dispatched, done or cancelled."""

    code: ClassVar[str] = "not_plannable"
