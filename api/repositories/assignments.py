"""Assignments of tickets to technicians: create, move, pin, drop, and each day's stops.

Functions take a session and keyword arguments, may flush, and never commit.
"""

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.tables import AssignmentRow, DispatchRunRow, TechnicianShiftRow, TicketRow
from api.lifecycle import Actor, TicketStatus
from api.problem_builder import lonlat
from api.repositories import tickets as ticket_repo
from dispatch import Plan, Route


def assignment_of(session: Session, *, ticket_id: int) -> AssignmentRow | None:
    """Return the ticket's current assignment, or ``None``."""
    return session.scalar(select(AssignmentRow).where(AssignmentRow.ticket_id == ticket_id))


def shift_of(session: Session, *, technician_id: str, day: date) -> TechnicianShiftRow | None:
    """Return the technician's shift on ``day``, or ``None`` when off duty."""
    query = select(TechnicianShiftRow).where(
        TechnicianShiftRow.technician_id == technician_id, TechnicianShiftRow.day == day
    )
    return session.scalar(query)


def booked(
    session: Session, *, technician_id: str, day: date, except_ticket_id: int
) -> list[TicketRow]:
    """Return the other tickets assigned to the technician on ``day``."""
    query = (
        select(TicketRow)
        .join(AssignmentRow, AssignmentRow.ticket_id == TicketRow.id)
        .where(
            AssignmentRow.technician_id == technician_id,
            AssignmentRow.day == day,
            TicketRow.id != except_ticket_id,
        )
    )
    return list(session.scalars(query))


def upsert_assignment(
    session: Session,
    *,
    ticket_id: int,
    technician_id: str,
    day: date,
    sequence: int | None,
    times: tuple[datetime, datetime, datetime] | None,
    run_id: int | None,
    actor_key_id: str,
    at: datetime,
    is_pinned: bool | None = None,
) -> AssignmentRow:
    """Create or replace the ticket's assignment; a pin survives unless ``is_pinned`` is given."""
    row = session.scalar(select(AssignmentRow).where(AssignmentRow.ticket_id == ticket_id))
    if row is None:
        row = AssignmentRow(ticket_id=ticket_id, is_pinned=False)
        session.add(row)
    _fill(row, technician_id, day, sequence, times, run_id)
    row.assigned_at, row.assigned_by = at, actor_key_id
    if is_pinned is not None:
        row.is_pinned = is_pinned
    session.flush()
    return row


def _fill(
    row: AssignmentRow,
    technician_id: str,
    day: date,
    sequence: int | None,
    times: tuple[datetime, datetime, datetime] | None,
    run_id: int | None,
) -> None:
    row.technician_id, row.day, row.sequence = technician_id, day, sequence
    row.eta_at, row.start_at, row.end_at = times or (None, None, None)
    row.source, row.run_id = ("manual", None) if run_id is None else ("run", run_id)


def _as_filled(row: AssignmentRow) -> tuple[object, ...]:
    return (
        row.technician_id, row.day, row.sequence, row.eta_at, row.start_at, row.end_at,
        row.source, row.run_id,
    )  # fmt: skip


def unassign(
    session: Session, *, ticket: TicketRow, actor_key_id: str, at: datetime, note: str
) -> None:
    """Put a scheduled ticket back to ``new`` and drop its assignment."""
    ticket_repo.transition(
        session, ticket=ticket, target=TicketStatus.NEW, actor=Actor.STAFF,
        actor_key_id=actor_key_id, at=at, note=note,
    )  # fmt: skip
    row = session.scalar(select(AssignmentRow).where(AssignmentRow.ticket_id == ticket.id))
    if row is not None:
        session.delete(row)
    session.flush()


@dataclass(frozen=True, slots=True)
class PlannedStop:
    """One stop of a technician's planned day, for the route endpoint and the map."""

    sequence: int | None
    ticket_id: int
    status: str
    location: tuple[float, float]
    address: str
    eta_at: datetime | None
    start_at: datetime | None
    end_at: datetime | None
    is_pinned: bool
    source: str
    run_id: int | None


def planned_stops(session: Session, *, technician_id: str, day: date) -> list[PlannedStop]:
    """Return the technician's assigned tickets on ``day`` in visiting order, with ETAs.

    Stops without a sequence (manual assignments outside a plan) come last, by ticket id.
    """
    query = (
        select(AssignmentRow, TicketRow)
        .join(TicketRow, TicketRow.id == AssignmentRow.ticket_id)
        .where(AssignmentRow.technician_id == technician_id, AssignmentRow.day == day)
        .order_by(AssignmentRow.sequence.is_(None), AssignmentRow.sequence, AssignmentRow.ticket_id)
    )
    return [
        PlannedStop(
            sequence=a.sequence,
            ticket_id=t.id,
            status=t.status,
            location=lonlat(t.location),
            address=t.address,
            eta_at=a.eta_at,
            start_at=a.start_at,
            end_at=a.end_at,
            is_pinned=a.is_pinned,
            source=a.source,
            run_id=a.run_id,
        )
        for a, t in session.execute(query)
    ]


def store_route(
    session: Session,
    *,
    run: DispatchRunRow,
    plan: Plan,
    route: Route,
    actor_key_id: str,
    at: datetime,
) -> None:
    """Write a changed route's sequence and times to its tickets' assignments.

    Only the assignments that differ are written (and stamped ``at``): one query reads the
    route's rows, and a stop already stored with this technician, sequence, times and run
    stays as it is. A pin survives, as with ``upsert_assignment``.
    """
    ids = [int(stop.order_id) for stop in route.stops]
    query = select(AssignmentRow).where(AssignmentRow.ticket_id.in_(ids))
    rows = {row.ticket_id: row for row in session.scalars(query)}
    for sequence, (ticket_id, stop) in enumerate(zip(ids, route.stops, strict=True), start=1):
        row = rows.get(ticket_id)
        if row is None:
            row = AssignmentRow(ticket_id=ticket_id, is_pinned=False)
            session.add(row)
        before = None if row.id is None else _as_filled(row)
        times = (plan.at(stop.arrival_s), plan.at(stop.start_s), plan.at(stop.end_s))
        _fill(row, route.technician_id, run.day, sequence, times, run.id)
        if _as_filled(row) != before:
            row.assigned_at, row.assigned_by = at, actor_key_id
    session.flush()
