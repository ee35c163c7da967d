"""What a dispatch run covers: a region's tickets of a day, technicians on shift, pins, stamps.

Functions take a session and keyword arguments and only read.
"""

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from api.db.tables import (
    AssignmentRow,
    DispatchRunRow,
    TechnicianRow,
    TechnicianShiftRow,
    TicketRow,
)
from api.lifecycle import TicketStatus
from api.problem_builder import (
    Fleet,
    lonlat,
)
from geo.regions import RegionIndex

PLANNABLE = (TicketStatus.NEW.value, TicketStatus.SCHEDULED.value)
# A day's run also re-times dispatched tickets (kept on their technician).
DISPATCHED = TicketStatus.DISPATCHED.value


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
        return any(region_ids & index.descendants(t) for t in row.territory)
    lon, lat = lonlat(row.home_base)
    return any(r.id in region_ids for r in index.containing(lon, lat))


def pins(session: Session, *, ticket_ids: Iterable[int]) -> dict[int, str]:
    """Return ``{ticket id: technician id}`` for the pinned tickets among ``ticket_ids``."""
    query = select(AssignmentRow.ticket_id, AssignmentRow.technician_id).where(
        AssignmentRow.ticket_id.in_(list(ticket_ids)), AssignmentRow.is_pinned.is_(True)
    )
    return {ticket: tech for ticket, tech in session.execute(query)}


def ticket_versions(tickets: Iterable[TicketRow]) -> dict[str, list[Any]]:
    """Snapshot what a plan depends on: status, technician and last change of each ticket."""
    return {str(t.id): [t.status, t.technician_id, t.updated_at.isoformat()] for t in tickets}


def stale_ticket_ids(session: Session, *, run: DispatchRunRow) -> list[int]:
    """Return the run's tickets that changed since it was submitted (in id order)."""
    ids = [int(i) for i in run.ticket_versions]
    now = ticket_versions(tickets_by_id(session, ticket_ids=ids))
    return sorted(i for i in ids if now.get(str(i)) != run.ticket_versions[str(i)])


@dataclass(frozen=True, slots=True)
class ScopeState:
    """Stamps of everything a plan's live problem is built from; equal states, equal problems.

    Each ticket and technician by its ``updated_at`` (bumped by every change), pins as pairs,
    shifts by their content (a replaced shift may reuse its id on SQLite).
    """

    tickets: frozenset[tuple[int, datetime]]
    pins: frozenset[tuple[int, str]]
    technicians: frozenset[tuple[str, datetime]]
    shifts: frozenset[tuple[str, datetime, datetime, str]]

    def with_ticket(self, ticket_id: int, updated_at: datetime) -> "ScopeState":
        """Return the state with ``ticket_id`` (added or changed) stamped ``updated_at``."""
        tickets = {t for t in self.tickets if t[0] != ticket_id} | {(ticket_id, updated_at)}
        return replace(self, tickets=frozenset(tickets))


def scope_state(
    session: Session, *, ticket_ids: Collection[int], technician_ids: Collection[str], day: date
) -> ScopeState:
    """Read the stamps of these tickets, their pins, these technicians and their shifts."""
    tickets = select(TicketRow.id, TicketRow.updated_at).where(TicketRow.id.in_(list(ticket_ids)))
    pinned = select(AssignmentRow.ticket_id, AssignmentRow.technician_id).where(
        AssignmentRow.ticket_id.in_(list(ticket_ids)), AssignmentRow.is_pinned.is_(True)
    )
    techs = select(TechnicianRow.id, TechnicianRow.updated_at).where(
        TechnicianRow.id.in_(list(technician_ids))
    )
    shift = TechnicianShiftRow
    shifts = select(shift.technician_id, shift.start_at, shift.end_at, shift.breaks).where(
        shift.technician_id.in_(list(technician_ids)), shift.day == day
    )
    return ScopeState(
        tickets=frozenset((i, at) for i, at in session.execute(tickets)),
        pins=frozenset((i, tech) for i, tech in session.execute(pinned)),
        technicians=frozenset((i, at) for i, at in session.execute(techs)),
        shifts=frozenset(
            (tech, start, end, json.dumps(breaks, sort_keys=True))
            for tech, start, end, breaks in session.execute(shifts)
        ),
    )
