"""What the map draws, read in a few set-wise queries (never one query per marker)."""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from api.db.spatial import SRID
from api.db.tables import (
    AssignmentRow,
    CustomerValueRow,
    DispatchPlanRow,
    DispatchRunRow,
    TechnicianLocationRow,
    TechnicianRow,
    TechnicianShiftRow,
    TicketRow,
)
from api.schemas import BBox


@dataclass(frozen=True, slots=True)
class TicketSpot:
    """A ticket as the map shows it, with its planned visit if it has one."""

    id: int
    external_id: str
    type: str
    status: str
    priority: str
    lon: float
    lat: float
    region_id: str | None
    technician_id: str | None
    address: str
    duration_min: int
    window_start_at: datetime | None
    window_end_at: datetime | None
    sla_due_at: datetime | None
    sequence: int | None
    eta_at: datetime | None
    start_at: datetime | None
    end_at: datetime | None
    customer_tier: str | None


@dataclass(frozen=True, slots=True)
class TechnicianSpot:
    """A technician, where they were last seen (or their base), and their shift that day."""

    id: str
    name: str
    skills: dict[str, int]
    base_lon: float
    base_lat: float
    seen_lon: float | None
    seen_lat: float | None
    seen_at: datetime | None
    shift_start_at: datetime | None
    shift_end_at: datetime | None
    break_min: int


def _day_condition(start: datetime, end: datetime) -> Any:
    """Tickets of a day: a window opening that day, or a visit planned on it."""
    planned = select(AssignmentRow.ticket_id).where(
        AssignmentRow.start_at >= start, AssignmentRow.start_at < end
    )
    in_window = and_(TicketRow.window_start_at >= start, TicketRow.window_start_at < end)
    return or_(in_window, TicketRow.id.in_(planned))


def _in_bbox(column: Any, bbox: BBox) -> Any:
    return func.ST_Intersects(column, func.ST_GeomFromText(_box_wkt(bbox), SRID))


def _box_wkt(bbox: BBox) -> str:
    x0, y0, x1, y1 = bbox
    return f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"


def tickets(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    bbox: BBox | None = None,
    region_ids: Collection[str] | None = None,
    technician_id: str | None = None,
    is_planned: bool = False,
    ticket_ids: Collection[int] | None = None,
) -> list[TicketSpot]:
    """Return the tickets of the local day ``[start, end)``, with their planned visits.

    ``is_planned`` keeps those with a place in a route; ``ticket_ids`` only those tickets.
    """
    query: Select[Any] = (
        select(
            TicketRow.id,
            TicketRow.external_id,
            TicketRow.type,
            TicketRow.status,
            TicketRow.priority,
            func.ST_X(TicketRow.location),
            func.ST_Y(TicketRow.location),
            TicketRow.region_id,
            TicketRow.technician_id,
            TicketRow.address,
            TicketRow.duration_min,
            TicketRow.window_start_at,
            TicketRow.window_end_at,
            TicketRow.sla_due_at,
            AssignmentRow.sequence,
            AssignmentRow.eta_at,
            AssignmentRow.start_at,
            AssignmentRow.end_at,
            CustomerValueRow.tier,
        )
        .outerjoin(AssignmentRow, AssignmentRow.ticket_id == TicketRow.id)
        .outerjoin(CustomerValueRow, CustomerValueRow.customer_id == TicketRow.customer_id)
        .where(_day_condition(start, end))
        .order_by(TicketRow.id)
    )
    if bbox is not None:
        query = query.where(_in_bbox(TicketRow.location, bbox))
    if region_ids is not None:
        query = query.where(TicketRow.region_id.in_(list(region_ids)))
    if technician_id is not None:
        query = query.where(TicketRow.technician_id == technician_id)
    if is_planned:
        query = query.where(AssignmentRow.sequence.is_not(None))
    if ticket_ids is not None:
        query = query.where(TicketRow.id.in_(list(ticket_ids)))
    return [TicketSpot(*row) for row in session.execute(query)]


@dataclass(frozen=True, slots=True)
class Load:
    """One technician's day in counts (``technician_id`` None: the tickets nobody holds)."""

    technician_id: str | None
    tickets: int
    done: int
    planned: int
    on_time: int
    is_on_site: bool
    is_en_route: bool
    first_arrival_at: datetime | None
    last_departure_at: datetime | None


def loads(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    region_ids: Collection[str] | None = None,
    technician_id: str | None = None,
) -> list[Load]:
    """Count each technician's tickets of the day (cancelled ones left out), in one query."""
    started = AssignmentRow.start_at.is_not(None)
    in_window = or_(
        TicketRow.window_end_at.is_(None), AssignmentRow.start_at <= TicketRow.window_end_at
    )
    is_on_time = and_(started, in_window)

    def count_if(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    query: Select[Any] = (
        select(
            TicketRow.technician_id,
            func.count(TicketRow.id),
            count_if(TicketRow.status.in_(["completed", "confirmed", "settled", "failed"])),
            count_if(started),
            count_if(is_on_time),
            func.max(case((TicketRow.status == "on_site", 1), else_=0)),
            func.max(case((TicketRow.status == "en_route", 1), else_=0)),
            func.min(func.coalesce(AssignmentRow.eta_at, AssignmentRow.start_at)),
            func.max(AssignmentRow.end_at),
        )
        .outerjoin(AssignmentRow, AssignmentRow.ticket_id == TicketRow.id)
        .where(_day_condition(start, end), TicketRow.status != "cancelled")
        .group_by(TicketRow.technician_id)
    )
    if region_ids is not None:
        query = query.where(TicketRow.region_id.in_(list(region_ids)))
    if technician_id is not None:
        query = query.where(TicketRow.technician_id == technician_id)
    return [
        Load(
            technician_id=tech, tickets=int(n), done=int(done), planned=int(planned),
            on_time=int(on_time), is_on_site=bool(on_site), is_en_route=bool(en_route),
            first_arrival_at=first, last_departure_at=last,
        )  # min and max keep their column's type, so the times come back aware
        for tech, n, done, planned, on_time, on_site, en_route, first, last
        in session.execute(query)
    ]  # fmt: skip


def open_tickets_by_region(
    session: Session, *, start: datetime, end: datetime, statuses: Collection[str]
) -> dict[str | None, int]:
    """Count the day's tickets in ``statuses`` per region (one grouped query)."""
    query = (
        select(TicketRow.region_id, func.count(TicketRow.id))
        .where(_day_condition(start, end), TicketRow.status.in_(list(statuses)))
        .group_by(TicketRow.region_id)
    )
    return {region_id: int(count) for region_id, count in session.execute(query)}


def technicians(
    session: Session, *, day: date, technician_id: str | None = None
) -> list[TechnicianSpot]:
    """Return the active technicians with their latest ping and their shift on ``day``."""
    latest = (
        select(func.max(TechnicianLocationRow.id).label("id"))
        .group_by(TechnicianLocationRow.technician_id)
        .subquery()
    )
    seen = (
        select(
            TechnicianLocationRow.technician_id,
            func.ST_X(TechnicianLocationRow.location).label("lon"),
            func.ST_Y(TechnicianLocationRow.location).label("lat"),
            TechnicianLocationRow.recorded_at,
        )
        .join(latest, latest.c.id == TechnicianLocationRow.id)
        .subquery()
    )
    shift = select(TechnicianShiftRow).where(TechnicianShiftRow.day == day).subquery()
    query: Select[Any] = (
        select(
            TechnicianRow.id,
            TechnicianRow.name,
            TechnicianRow.skills,
            func.ST_X(TechnicianRow.home_base),
            func.ST_Y(TechnicianRow.home_base),
            seen.c.lon,
            seen.c.lat,
            seen.c.recorded_at,
            shift.c.start_at,
            shift.c.end_at,
            shift.c.breaks,
        )
        .outerjoin(seen, seen.c.technician_id == TechnicianRow.id)
        .outerjoin(shift, shift.c.technician_id == TechnicianRow.id)
        .where(TechnicianRow.is_active.is_(True))
        .order_by(TechnicianRow.id)
    )
    if technician_id is not None:
        query = query.where(TechnicianRow.id == technician_id)
    spots = []
    for row in session.execute(query):
        tech_id, name, skills, base_lon, base_lat, lon, lat, seen_at, start, end, breaks = row
        spots.append(
            TechnicianSpot(
                id=tech_id, name=name, skills=skills, base_lon=base_lon, base_lat=base_lat,
                seen_lon=lon, seen_lat=lat, seen_at=seen_at, shift_start_at=start,
                shift_end_at=end, break_min=sum(int(b["duration_min"]) for b in breaks or []),
            )
        )  # fmt: skip
    return spots


def applied_plans(session: Session, *, day: date) -> list[dict[str, Any]]:
    """Return the plan documents applied for ``day``, the earliest applied first."""
    query = (
        select(DispatchPlanRow.plan)
        .join(DispatchRunRow, DispatchRunRow.id == DispatchPlanRow.run_id)
        .where(DispatchRunRow.day == day, DispatchPlanRow.applied_at.is_not(None))
        .order_by(DispatchPlanRow.applied_at, DispatchRunRow.id)
    )
    return list(session.scalars(query))


def ticket_statuses(session: Session, *, ticket_ids: Collection[int]) -> dict[int, str]:
    """Return the status of each ticket of ``ticket_ids`` that exists."""
    if not ticket_ids:
        return {}
    query = select(TicketRow.id, TicketRow.status).where(TicketRow.id.in_(list(ticket_ids)))
    return {int(ticket_id): status for ticket_id, status in session.execute(query)}
