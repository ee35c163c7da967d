"""Technicians in the database: profiles, shifts, GPS pings and the tickets of a day's route."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from geoalchemy2 import WKTElement

from api.db.spatial import SRID
from api.db.tables import TechnicianLocationRow, TechnicianRow, TechnicianShiftRow, TicketRow
from api.tickets.rules import TicketStatus

# Tickets that belong on a route: assigned and not yet finished.
ROUTE_STATUSES = [
    TicketStatus.SCHEDULED.value,
    TicketStatus.DISPATCHED.value,
    TicketStatus.EN_ROUTE.value,
    TicketStatus.ON_SITE.value,
]


@dataclass(frozen=True, slots=True)
class NewShift:
    """A shift to store; breaks as JSON-ready dicts."""

    day: date
    start_at: datetime
    end_at: datetime
    breaks: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class NewPing:
    """A position in WGS84."""

    lon: float
    lat: float
    recorded_at: datetime
    accuracy_m: float | None


def point(lon: float, lat: float) -> WKTElement:
    """Return a WGS84 point column value (full float precision)."""
    return WKTElement(f"POINT({lon!r} {lat!r})", srid=SRID)


def get_technician(session: Session, *, technician_id: str) -> TechnicianRow | None:
    """Return one technician or ``None``."""
    return session.get(TechnicianRow, technician_id)


def list_technicians(
    session: Session,
    *,
    after_id: str | None,
    limit: int,
    only_id: str | None = None,
    is_active: bool | None = None,
    skill: str | None = None,
) -> list[TechnicianRow]:
    """Return up to ``limit`` technicians with ids after ``after_id``, in id order.

    ``skill`` is matched in Python after the query: JSON key tests differ between databases
    and a company's technicians number in the thousands, not millions.
    """
    query = select(TechnicianRow).order_by(TechnicianRow.id)
    if after_id is not None:
        query = query.where(TechnicianRow.id > after_id)
    if only_id is not None:
        query = query.where(TechnicianRow.id == only_id)
    if is_active is not None:
        query = query.where(TechnicianRow.is_active == is_active)
    if skill is None:
        return list(session.scalars(query.limit(limit)))
    rows = (row for row in session.scalars(query) if skill in row.skills)
    return [row for _, row in zip(range(limit), rows, strict=False)]


def put_shifts(session: Session, *, technician_id: str, shifts: Sequence[NewShift]) -> None:
    """Store ``shifts``, replacing the technician's shifts on the same days."""
    days = [s.day for s in shifts]
    session.execute(
        delete(TechnicianShiftRow).where(
            TechnicianShiftRow.technician_id == technician_id, TechnicianShiftRow.day.in_(days)
        )
    )
    session.add_all(
        TechnicianShiftRow(
            technician_id=technician_id,
            day=s.day,
            start_at=s.start_at,
            end_at=s.end_at,
            breaks=s.breaks,
        )
        for s in shifts
    )
    session.flush()


def shifts_between(
    session: Session, *, technician_id: str, first: date, last: date
) -> list[TechnicianShiftRow]:
    """Return the technician's shifts on days ``first`` to ``last`` (both included)."""
    query = (
        select(TechnicianShiftRow)
        .where(
            TechnicianShiftRow.technician_id == technician_id,
            TechnicianShiftRow.day.between(first, last),
        )
        .order_by(TechnicianShiftRow.day)
    )
    return list(session.scalars(query))


def add_pings(
    session: Session, *, technician_id: str, pings: Sequence[NewPing], received_at: datetime
) -> int:
    """Store pings, skipping any whose ``(technician, recorded_at)`` is stored; return how many.

    Pings may arrive late and out of order (phones buffer them offline), so nothing here
    assumes order: the current position is read by ``recorded_at``.
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    unique = {p.recorded_at: p for p in pings}  # a batch may repeat itself too
    rows = [
        {
            "technician_id": technician_id,
            "location": point(p.lon, p.lat),
            "recorded_at": p.recorded_at,
            "received_at": received_at,
            "accuracy_m": p.accuracy_m,
        }
        for p in unique.values()
    ]
    statement = (
        dialect.insert(TechnicianLocationRow)
        .on_conflict_do_nothing(index_elements=["technician_id", "recorded_at"])
        .returning(TechnicianLocationRow.id)
    )
    return len(list(session.scalars(statement, rows)))


def current_location(session: Session, *, technician_id: str) -> TechnicianLocationRow | None:
    """Return the ping with the latest ``recorded_at`` (not the latest received)."""
    query = (
        select(TechnicianLocationRow)
        .where(TechnicianLocationRow.technician_id == technician_id)
        .order_by(TechnicianLocationRow.recorded_at.desc())
        .limit(1)
    )
    return session.scalar(query)


def route_tickets(
    session: Session, *, technician_id: str, start: datetime, end: datetime, is_today: bool
) -> list[TicketRow]:
    """Return the technician's open tickets whose windows meet ``[start, end)``, earliest first.

    Tickets without a window have no day of their own; they are listed on today's route, last.
    """
    in_day = and_(TicketRow.window_end_at > start, TicketRow.window_start_at < end)
    when = or_(in_day, TicketRow.window_start_at.is_(None)) if is_today else in_day
    query = (
        select(TicketRow)
        .where(
            TicketRow.technician_id == technician_id,
            TicketRow.status.in_(ROUTE_STATUSES),
            when,
        )
        .order_by(
            TicketRow.window_start_at.is_(None),
            TicketRow.window_start_at,
            TicketRow.window_end_at,
            TicketRow.id,
        )
    )
    return list(session.scalars(query))
