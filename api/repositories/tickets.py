"""Tickets in the database: loading one, and moving it through its lifecycle.

Functions take a session and keyword arguments, may flush, and never commit. Creation lives in
``ticket_creation``, listing in ``ticket_queries``, confirmations in ``ticket_confirmations``;
the creation names below stay importable from here for the modules that use them.
"""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.spatial import from_wkb
from api.db.tables import TicketRow, TicketStatusChangeRow
from api.lifecycle import ASSIGNED, Actor, IllegalTransition, TicketStatus, check_transition
from api.repositories.ticket_creation import NewCustomer as NewCustomer
from api.repositories.ticket_creation import NewTicket as NewTicket
from api.repositories.ticket_creation import create_tickets as create_tickets
from api.repositories.ticket_creation import existing_external_ids as existing_external_ids


def begin_write(session: Session) -> None:
    """Do nothing: every SQLite transaction now begins as a writer (``BEGIN IMMEDIATE``).

    Kept only for ``api.routes.technician_locations``, which still calls it; delete both.
    """


def get_ticket(session: Session, *, ticket_id: int, for_update: bool = False) -> TicketRow | None:
    """Return one ticket, optionally locked against concurrent changes (PostgreSQL).

    A locked read refreshes a row the session already holds: the status a change is checked
    against must be the one read under the lock, not one loaded before waiting for it.
    """
    query = select(TicketRow).where(TicketRow.id == ticket_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalar(query)


def point_of(row: TicketRow) -> tuple[float, float]:
    """Return a ticket's ``(lon, lat)``."""
    point = from_wkb(row.location)
    return point.x, point.y  # type: ignore[attr-defined]


def transition(
    session: Session,
    *,
    ticket: TicketRow,
    target: TicketStatus,
    actor: Actor,
    actor_key_id: str | None,
    at: datetime,
    note: str | None = None,
    technician_id: str | None = None,
) -> TicketStatusChangeRow:
    """Move ``ticket`` (loaded ``for_update``) to ``target`` and append the change to its history.

    Raises ``IllegalTransition`` / ``TransitionNotPermitted`` from the state machine, and
    ``IllegalTransition`` when the ticket would be scheduled without a technician.
    """
    current = TicketStatus(ticket.status)
    check_transition(current, target, actor)
    if technician_id is not None:
        ticket.technician_id = technician_id
    if target is TicketStatus.NEW:
        ticket.technician_id = None  # back in the pool: unassigned
    if target in ASSIGNED and ticket.technician_id is None:
        raise IllegalTransition(
            f"cannot go from {current} to {target}: no technician is assigned "
            "(send technician_id with to=scheduled)",
            from_status=current.value,
            to_status=target.value,
        )
    ticket.status = target.value
    ticket.updated_at = at
    change = TicketStatusChangeRow(
        ticket_id=ticket.id,
        from_status=current.value,
        to_status=target.value,
        at=at,
        actor_key_id=actor_key_id,
        note=note,
    )
    session.add(change)
    session.flush()
    return change


def mark_settled(
    session: Session, *, ticket_id: int, at: datetime, note: str | None = None
) -> TicketStatusChangeRow:
    """Move a confirmed ticket to ``settled``; the settlement engine calls this once paid out.

    Raises ``LookupError`` for an unknown ticket and ``IllegalTransition`` unless it is
    ``confirmed``.
    """
    ticket = get_ticket(session, ticket_id=ticket_id, for_update=True)
    if ticket is None:
        raise LookupError(f"no ticket {ticket_id}")
    return transition(
        session,
        ticket=ticket,
        target=TicketStatus.SETTLED,
        actor=Actor.SETTLEMENT,
        actor_key_id=None,
        at=at,
        note=note,
    )
