"""The technician pages' own queries (the route and the earnings come from their resources)."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.tables import TicketRow
from api.tickets.rules import TicketStatus

#: Tickets whose work is done; the route lists only the open ones, the day page shows these too.
FINISHED = [
    TicketStatus.COMPLETED.value,
    TicketStatus.CONFIRMED.value,
    TicketStatus.SETTLED.value,
]


def finished_tickets(
    session: Session, *, technician_id: str, start: datetime, end: datetime
) -> list[TicketRow]:
    """Return the technician's finished tickets whose windows meet ``[start, end)``."""
    query = (
        select(TicketRow)
        .where(
            TicketRow.technician_id == technician_id,
            TicketRow.status.in_(FINISHED),
            TicketRow.window_end_at > start,
            TicketRow.window_start_at < end,
        )
        .order_by(TicketRow.window_start_at, TicketRow.id)
    )
    return list(session.scalars(query))
