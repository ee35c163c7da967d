"""Pricing one done ticket under the customer price list in force: for a bill, or at settlement.

Settling a ticket records its bill total beside the technician's pay (the settlement row's
``bill_total_fen``), so that the cost report sums bills and margins in the same query as pay.
This module is what both settling and ``GET /v1/tickets/{id}/bill`` price with: the same facts
and the same list give the same lines.
"""

from datetime import datetime

from sqlalchemy.orm import Session

from api.customers.value_store import value_tiers
from api.db.tables import PriceListVersionRow, TicketRow
from api.price_lists import repository as price_lists
from settlement import SettlementError
from settlement.bill import Bill, BillFacts, price_bill


def price_ticket(
    ticket: TicketRow, *, service_at: datetime, travel_m: int, row: PriceListVersionRow,
    tier: str | None,
) -> Bill:  # fmt: skip
    """Price ``ticket`` under the list ``row`` (raises ``SettlementError`` if it cannot)."""
    facts = BillFacts(
        ticket_id=str(ticket.id),
        ticket_type=ticket.type,
        service_at=service_at,
        units=ticket.units,
        travel_m=travel_m,
        priority=ticket.priority,
        materials=tuple((m["code"], m["quantity"]) for m in ticket.materials),
    )
    return price_bill(facts, price_lists.price_list_of(row), tier)


def bill_when_settled(
    session: Session, *, ticket: TicketRow, service_at: datetime, travel_m: int
) -> Bill | None:
    """Return the bill of a ticket being settled, or None when no list in force can price it.

    A ticket without a bill still settles: the technician's pay never waits for the customer
    price list.
    """
    row = price_lists.in_force_at(
        price_lists.candidates_before(session, latest=service_at), service_at
    )
    if row is None:
        return None
    customer = ticket.customer_id
    tier = None if customer is None else value_tiers(session, customer_ids=[customer]).get(customer)
    try:
        return price_ticket(ticket, service_at=service_at, travel_m=travel_m, row=row, tier=tier)
    except SettlementError:
        return None
