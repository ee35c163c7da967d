"""What a bill reads from the database: tickets and the trips their settlements priced."""

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.tables import CustomerRow, SettlementRow, TicketRow

#: Ids per ``IN (...)`` list: far below every database's limit on bound parameters.
CHUNK = 1000


@dataclass(frozen=True, slots=True)
class PricedTrip:
    """When service started and how long the trip was, as the technician's pay priced them."""

    service_at: datetime
    travel_m: int


def tickets(
    session: Session, *, ticket_ids: Collection[int], statuses: Sequence[str]
) -> list[TicketRow]:
    """Return the tickets among ``ticket_ids`` whose status is one of ``statuses``."""
    return [
        row
        for chunk in _chunks(ticket_ids)
        for row in session.scalars(
            select(TicketRow).where(TicketRow.id.in_(chunk), TicketRow.status.in_(statuses))
        )
    ]


def priced_trips(session: Session, *, ticket_ids: Collection[int]) -> dict[int, PricedTrip]:
    """Return the service time and trip of each settled ticket among ``ticket_ids``.

    A ticket settled under several rate-card versions (a correction) takes its latest
    settlement, as the technician's earnings do.
    """
    trips: dict[int, PricedTrip] = {}
    for chunk in _chunks(ticket_ids):
        rows = session.execute(
            select(SettlementRow.ticket_id, SettlementRow.service_at, SettlementRow.inputs)
            .where(SettlementRow.ticket_id.in_(chunk))
            .order_by(SettlementRow.id)
        )
        for ticket_id, service_at, inputs in rows:
            trips[ticket_id] = PricedTrip(service_at, int(inputs["travel_m"]))
    return trips


def _chunks(ids: Collection[int]) -> Iterator[list[int]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def customer_name(session: Session, *, customer_id: int | None) -> str | None:
    """Return the name of the customer a ticket is for, or None."""
    if customer_id is None:
        return None
    return session.scalar(select(CustomerRow.name).where(CustomerRow.id == customer_id))
