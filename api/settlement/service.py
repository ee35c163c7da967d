"""Settle a confirmed ticket: gather what the rate card looks at, price it, pay it, close it.

Facts taken from the database, each documented on the helper that reads it:

- service time: the ticket's (last) arrival on site, from its status history;
- rate card: the version in force at the service time (:func:`rate_cards.in_force_at`);
- region: located by the settlement package from the ticket's position;
- distance: straight-line (haversine) metres from the technician's previous stop that day, or
  from their home base for the first job;
- volume: the ticket's rank among the technician's completed jobs in the card's volume period;
- surge: demand (tickets created) against supply (technicians seen) in the job's region over
  the window before the service time, via ``geo.heat`` and ``settlement.demand_supply_ratio``.
- work: the ticket's units, difficulty flags and materials as submitted with it, and the
  customer's rating recorded with the confirmation (unit fee, difficulty, material deduction
  and review bonus rules).

The pricing, the ledger rules and idempotency live in ``settlement``; this module only reads,
calls and writes. Nothing commits but :func:`settle_pending` (see there): the caller owns the
unit of work.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.bills.pricing import bill_when_settled
from api.db.tables import LedgerEntryRow, RateCardVersionRow, SettlementRow, TicketRow
from api.errors import ApiError
from api.rate_cards import repository as card_repo
from api.settlement import repository as repo
from api.settlement.facts import JobFacts, job_facts
from api.tickets import repository as ticket_repo
from api.tickets.rules import TicketStatus
from geo.regions import RegionIndex
from settlement import LedgerEntry, PayoutBreakdown, SettlementError, order_context, price_order
from settlement.breakdown import region_names

log = logging.getLogger(__name__)

DEFAULT_SURGE_WINDOW = timedelta(minutes=30)


class SettlingError(Exception):
    """A ticket cannot be settled now; ``status`` is the HTTP status the API answers with."""

    code: ClassVar[str] = "settling_error"
    status: ClassVar[int] = 409

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.details = details


class TicketNotFound(SettlingError):
    """No ticket has that id."""

    code: ClassVar[str] = "ticket_not_found"
    status: ClassVar[int] = 404


class TicketNotSettleable(SettlingError):
    """The ticket is not confirmed (or, for a correction, not settled)."""

    code: ClassVar[str] = "ticket_not_settleable"


class NoRateCardInForce(SettlingError):
    """No rate-card version covers the service date."""

    code: ClassVar[str] = "no_rate_card_in_force"


@dataclass(frozen=True, slots=True)
class Settled:
    """What settling did: the settlement that stands and the ledger rows written now."""

    settlement: SettlementRow
    breakdown: PayoutBreakdown
    entries: tuple[LedgerEntryRow, ...]
    created: bool


def settle_ticket(
    session: Session,
    *,
    ticket_id: int,
    now: datetime,
    regions: RegionIndex,
    surge_window: timedelta = DEFAULT_SURGE_WINDOW,
) -> Settled:
    """Settle a confirmed ticket and move it to ``settled``; a settled ticket is returned as is.

    Raises
    ------
    TicketNotFound, TicketNotSettleable, NoRateCardInForce
        As their names say (HTTP 404, 409, 409).
    SettlementError
        If the card cannot price the order (say, an unknown service type): HTTP 422.
    """
    ticket = _ticket(session, ticket_id)
    existing = repo.latest_for_ticket(session, ticket_id=ticket_id)
    if existing is not None:
        breakdown = repo.breakdown_of(existing)
        return Settled(existing, breakdown, (), created=False)
    if ticket.status != TicketStatus.CONFIRMED:
        raise TicketNotSettleable(
            f"ticket {ticket_id} is {ticket.status}; only a confirmed ticket is settled",
            ticket_id=ticket_id,
            status=ticket.status,
        )
    before = _locked_ledger(session, ticket)
    facts, card_row, breakdown = _price(session, ticket, regions, surge_window)
    row = _store(session, ticket, facts, card_row, breakdown, now)
    after = before.ledger.record(breakdown, now)
    entries = repo.append(
        session, before=before, after=after, actor_key_id=None, settlement_of=lambda _: row.id
    )
    ticket_repo.mark_settled(session, ticket_id=ticket_id, at=now, note=breakdown.rate_card_version)
    return Settled(row, breakdown, tuple(entries), created=True)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One ticket's settlement attempt: what was settled, or why not (``code: message``)."""

    ticket_id: int
    settled: Settled | None
    refusal: str | None


def attempt_settle(
    session: Session,
    *,
    ticket_id: int,
    now: datetime,
    regions: RegionIndex,
    surge_window: timedelta = DEFAULT_SURGE_WINDOW,
) -> Attempt:
    """Settle a ticket in a SAVEPOINT; on refusal roll back only that and say why."""
    try:
        with session.begin_nested():
            settled = settle_ticket(
                session, ticket_id=ticket_id, now=now, regions=regions, surge_window=surge_window
            )
    except (SettlingError, SettlementError) as err:
        return Attempt(ticket_id, None, f"{err.code}: {err}")
    return Attempt(ticket_id, settled, None)


def try_settle(
    session: Session,
    *,
    ticket_id: int,
    now: datetime,
    regions: RegionIndex,
    surge_window: timedelta = DEFAULT_SURGE_WINDOW,
) -> Settled | None:
    """Settle right after confirmation, in a SAVEPOINT; on failure keep the confirmation.

    A confirmation must not be lost because no card is in force yet or the card does not price
    the ticket's type: the ticket then stays ``confirmed`` (it shows up as pending settlement)
    and ``POST /v1/tickets/{id}/settle`` or :func:`settle_pending` settles it later.
    """
    attempt = attempt_settle(
        session, ticket_id=ticket_id, now=now, regions=regions, surge_window=surge_window
    )
    if attempt.refusal is not None:
        log.warning("ticket %s confirmed but not settled: %s", ticket_id, attempt.refusal)
    return attempt.settled


def settle_pending(
    session: Session, *, now: datetime, regions: RegionIndex, limit: int
) -> list[Attempt]:
    """Settle up to ``limit`` confirmed tickets, oldest first, each committed on its own.

    The backlog after a card was missing or wrong: fix the card, then run this. A ticket that
    is still refused stays ``confirmed`` and its reason is reported. Unlike the rest of this
    module it commits, once per ticket: holding every ticket's and technician's lock until the
    end would deadlock with the single settlements and confirmations running meanwhile.
    """
    ticket_ids = session.scalars(
        select(TicketRow.id)
        .where(TicketRow.status == TicketStatus.CONFIRMED.value)
        .order_by(TicketRow.id)
        .limit(limit)
    ).all()
    session.commit()
    attempts = []
    for ticket_id in ticket_ids:
        attempts.append(attempt_settle(session, ticket_id=ticket_id, now=now, regions=regions))
        session.commit()
    return attempts


def resettle_ticket(
    session: Session,
    *,
    ticket_id: int,
    now: datetime,
    regions: RegionIndex,
    actor_key_id: str | None,
    memo: str,
    surge_window: timedelta = DEFAULT_SURGE_WINDOW,
) -> Settled:
    """Correct a settled ticket: price it under the card now in force for its service time.

    When that is the version it was settled under, nothing is added (same input, same
    breakdown); otherwise the old earning is reversed and the new one appended, as the
    ledger's ``correct`` prescribes, and the new settlement row is stored beside the old.
    """
    ticket = _ticket(session, ticket_id)
    current = repo.latest_for_ticket(session, ticket_id=ticket_id)
    if current is None or ticket.status != TicketStatus.SETTLED:
        raise TicketNotSettleable(
            f"ticket {ticket_id} is {ticket.status}; only a settled ticket can be corrected",
            ticket_id=ticket_id,
            status=ticket.status,
        )
    before = _locked_ledger(session, ticket)
    facts, card_row, breakdown = _price(session, ticket, regions, surge_window)
    if card_row.id == current.rate_card_version_id:
        return Settled(current, repo.breakdown_of(current), (), created=False)
    row = _store(session, ticket, facts, card_row, breakdown, now)
    after = before.ledger.correct(breakdown, now, memo)

    def settlement_of(entry: LedgerEntry) -> int | None:
        if entry.reverses is None:
            return row.id
        reversed_row = session.get(LedgerEntryRow, before.row_id(entry.reverses))
        return None if reversed_row is None else reversed_row.settlement_id

    entries = repo.append(
        session,
        before=before,
        after=after,
        actor_key_id=actor_key_id,
        settlement_of=settlement_of,
    )
    return Settled(row, breakdown, tuple(entries), created=True)


def _ticket(session: Session, ticket_id: int) -> TicketRow:
    ticket = ticket_repo.get_ticket(session, ticket_id=ticket_id, for_update=True)
    if ticket is None:
        raise TicketNotFound(f"no ticket {ticket_id}", ticket_id=ticket_id)
    return ticket


def _locked_ledger(session: Session, ticket: TicketRow) -> repo.TechnicianLedger:
    """Lock the ledger of the technician paid for ``ticket`` (locked already), and load it.

    Every settlement takes its locks in this order, ticket then technician, and before it
    writes: the settlement row's foreign key share-locks the technician's row, so two
    settlements that inserted first and then asked for the update lock waited on each other
    (a deadlock PostgreSQL broke by failing one of them).
    """
    if ticket.technician_id is None:
        raise TicketNotSettleable(
            f"ticket {ticket.id} has no technician to pay", ticket_id=ticket.id
        )
    return repo.load(session, technician_id=ticket.technician_id, for_update=True)


def _price(
    session: Session, ticket: TicketRow, regions: RegionIndex, surge_window: timedelta
) -> tuple[JobFacts, RateCardVersionRow, PayoutBreakdown]:
    assert ticket.technician_id is not None  # checked with the ledger's lock
    facts = job_facts(session, ticket=ticket, regions=regions, surge_window=surge_window)
    card_row = card_repo.in_force_at(session, at=facts.service_at)
    if card_row is None:
        raise NoRateCardInForce(
            f"no rate card is in force on {facts.service_at.isoformat()} (ticket {ticket.id})",
            ticket_id=ticket.id,
            service_at=facts.service_at.isoformat(),
        )
    card = card_repo.card_of(card_row)
    nth = facts.nth_in_period(session, card) if card.volume_period else 1
    order = facts.order
    context = order_context(card, order, regions, nth)
    return facts, card_row, price_order(card, order, context, region_names(regions))


def _store(
    session: Session,
    ticket: TicketRow,
    facts: JobFacts,
    card_row: RateCardVersionRow,
    breakdown: PayoutBreakdown,
    now: datetime,
) -> SettlementRow:
    card = card_repo.card_of(card_row)
    card_repo.mark_used(session, row=card_row, content_sha256=card.content_hash, now=now)
    bill = bill_when_settled(
        session, ticket=ticket, service_at=facts.service_at, travel_m=facts.order.travel_m
    )
    return repo.insert(
        session,
        ticket_id=ticket.id,
        order=facts.order,
        breakdown=breakdown,
        card_row=card_row,
        service_at=facts.service_at,
        now=now,
        bill_total=None if bill is None else bill.total,
    )


def settling_http_error(err: SettlingError) -> ApiError:
    """Turn a settling refusal into the API error (404 unknown ticket, 409 otherwise)."""
    return ApiError(err.status, err.code, str(err), err.details)
