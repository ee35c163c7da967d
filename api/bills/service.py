"""The customer's bill of a done ticket, and bill totals for many tickets at once.

Facts, each read where the technician's pay reads it, so that a bill and the pay of the same
job agree on what happened:

- ticket type, units, materials and priority: the ticket's own fields;
- service time and trip: for a settled ticket, those its settlement priced (stored with it);
  before settlement, as settling would measure them (``api.settlement.facts``: the last arrival
  on site; straight-line metres from the technician's previous stop that day, else home base);
- price list: the version in force at the service time (``api.price_lists.repository``);
- value tier: the customer's stored tier (``api.customers.value_store``; docs/customers.md).

Bills are computed on request, not stored: price-list versions never change, so the same ticket
always gets the same bill.

A ticket not yet done has a *quote* (:func:`quotes`): the same pricing with the facts known
before the work, for escalation rules on order value.
"""

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from api.bills import repository as repo
from api.bills.pricing import price_ticket
from api.bills.repository import PricedTrip
from api.customers.value_store import value_tiers
from api.db.tables import PriceListVersionRow, TicketRow
from api.errors import ApiError
from api.price_lists import repository as price_lists
from api.settlement.facts import job_facts
from api.settlement.service import DEFAULT_SURGE_WINDOW
from api.tickets.rules import TicketStatus
from geo.regions import RegionIndex
from settlement import Money, SettlementError
from settlement.bill import Bill

#: A ticket has a bill once its work is done.
BILLABLE = (TicketStatus.COMPLETED.value, TicketStatus.CONFIRMED.value, TicketStatus.SETTLED.value)


def bill_of(session: Session, *, ticket: TicketRow, regions: RegionIndex) -> Bill:
    """Price a done ticket under the customer price list in force at its service time.

    Raises
    ------
    ApiError
        409 ``ticket_not_billable`` before the work is done, 409 ``no_price_list_in_force``.
    SettlementError
        422 when the list cannot price it (``unpriced_item``: a type or material without price).
    """
    if ticket.status not in BILLABLE:
        raise ApiError(
            409,
            "ticket_not_billable",
            f"ticket {ticket.id} is {ticket.status}; a bill is made once the work is completed",
            {"ticket_id": ticket.id, "status": ticket.status, "billable": list(BILLABLE)},
        )
    trip = repo.priced_trips(session, ticket_ids=[ticket.id]).get(ticket.id)
    if trip is None:
        trip = _measured_trip(session, ticket, regions)
    candidates = price_lists.candidates_before(session, latest=trip.service_at)
    row = price_lists.in_force_at(candidates, trip.service_at)
    if row is None:
        raise ApiError(
            409,
            "no_price_list_in_force",
            f"no customer price list is in force at ticket {ticket.id}'s service time "
            f"{trip.service_at.isoformat()}; upload one that covers it",
            {"ticket_id": ticket.id, "service_at": trip.service_at.isoformat()},
        )
    tiers = _tiers(session, [ticket])
    return _price(ticket, trip, row, tiers.get(ticket.id))


def bill_totals(
    session: Session, ticket_ids: Collection[int], *, regions: RegionIndex
) -> dict[int, Money]:
    """Return the bill total of every ticket among ``ticket_ids`` that has a bill.

    Left out: tickets that are not done (``BILLABLE``), that no price list in force covers, or
    that the list cannot price (an unpriced type or material). Queries: one for the tickets, one
    for their settlements, one for the price lists, whatever the number of tickets (in chunks
    of ``repo.CHUNK`` ids); a ticket done but not yet settled adds the few queries that measure
    its trip, as settling it would.
    """
    tickets = repo.tickets(session, ticket_ids=ticket_ids, statuses=BILLABLE)
    trips = repo.priced_trips(session, ticket_ids=[t.id for t in tickets])
    for ticket in tickets:
        if ticket.id not in trips:
            trips[ticket.id] = _measured_trip(session, ticket, regions)
    if not trips:
        return {}
    candidates = price_lists.candidates_before(
        session, latest=max(trip.service_at for trip in trips.values())
    )
    tiers = _tiers(session, tickets)
    totals = {}
    for ticket in tickets:
        trip = trips[ticket.id]
        row = price_lists.in_force_at(candidates, trip.service_at)
        if row is None:
            continue
        try:
            totals[ticket.id] = _price(ticket, trip, row, tiers.get(ticket.id)).total
        except SettlementError:
            continue
    return totals


def quotes(
    session: Session, ticket_ids: Collection[int], *, statuses: Sequence[str], now: datetime
) -> dict[int, Bill]:
    """Return the quote of every ticket among ``ticket_ids`` in ``statuses`` that can be priced.

    A quote is the bill priced with what is known before the work: the ticket's type, units,
    materials and priority, the customer's tier, and as service time the start of the first
    window not yet over (``now`` once it has begun, or for a ticket without windows). The trip
    is priced as the first travel band: its length depends on the technician who goes. Left
    out, as in :func:`bill_totals`: no list in force then, or an unpriced type or material.
    """
    tickets = repo.tickets(session, ticket_ids=ticket_ids, statuses=statuses)
    if not tickets:
        return {}
    due = {ticket.id: _expected_at(ticket, now) for ticket in tickets}
    candidates = price_lists.candidates_before(session, latest=max(due.values()))
    tiers = _tiers(session, tickets)
    priced = {}
    for ticket in tickets:
        row = price_lists.in_force_at(candidates, due[ticket.id])
        if row is None:
            continue
        try:
            priced[ticket.id] = _price(ticket, PricedTrip(due[ticket.id], 0), row,
                                       tiers.get(ticket.id))  # fmt: skip
        except SettlementError:
            continue
    return priced


def _expected_at(ticket: TicketRow, now: datetime) -> datetime:
    """When the work is expected: its first window not yet over, from now at the earliest."""
    for start, end in ticket.time_windows:
        if datetime.fromisoformat(end) > now:
            return max(datetime.fromisoformat(start), now)
    return now


def _price(ticket: TicketRow, trip: PricedTrip, row: PriceListVersionRow, tier: str | None) -> Bill:
    return price_ticket(
        ticket, service_at=trip.service_at, travel_m=trip.travel_m, row=row, tier=tier
    )


def _measured_trip(session: Session, ticket: TicketRow, regions: RegionIndex) -> PricedTrip:
    """Measure a done ticket's service time and trip as settling it will."""
    facts = job_facts(session, ticket=ticket, regions=regions, surge_window=DEFAULT_SURGE_WINDOW)
    return PricedTrip(facts.service_at, facts.order.travel_m)


def _tiers(session: Session, tickets: Collection[TicketRow]) -> dict[int, str]:
    """Return the value tier of each ticket's customer, by ticket id."""
    customers = {t.id: t.customer_id for t in tickets if t.customer_id is not None}
    tiers = value_tiers(session, customer_ids=set(customers.values()))
    return {tid: tiers[cid] for tid, cid in customers.items() if cid in tiers}
