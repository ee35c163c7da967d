"""A run's problem: its scope's tickets and technicians as a ``DayProblem``, within the caps.

Technicians start where they are now (a recent ping, or the job they are doing) and free when
that job ends. Functions take a session and keyword arguments and only read.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from api.db.tables import AssignmentRow, TechnicianLocationRow, TicketRow
from api.lifecycle import TicketStatus
from api.problem_builder import (
    DayProblem,
    EmptyScope,
    Fleet,
    build_problem,
    day_bounds,
    lonlat,
)
from api.repositories.dispatch_scope import (
    DISPATCHED,
    PLANNABLE,
    fleet,
    pins,
    region_tickets,
    tickets_by_id,
)
from dispatch import DispatchError
from geo.regions import RegionIndex

UNDER_WAY = (TicketStatus.EN_ROUTE.value, TicketStatus.ON_SITE.value)
POSITION_MAX_AGE = timedelta(minutes=30)  # an older ping says little about where someone is


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
    region_ids = index.descendants(region_id)
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
    covering = {a for t in tickets if t.region_id for a in index.ancestors(t.region_id)}
    crew = fleet(session, day=day, index=index, region_ids=covering)
    return _build(session, index, tickets, crew, day, zone, limits, catalog, now), tickets


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
