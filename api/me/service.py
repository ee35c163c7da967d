"""The technician pages' use cases: a day's stops with their pay, a period's earnings.

Nothing here re-derives what another resource owns: the day's route is the route endpoint's
(``read_route``), the statement and ledger are the earnings endpoints' (called as functions,
not over HTTP), and a stop is priced as settlement prices it (``job_facts``, the card in force
at the service time, ``order_context`` and ``price_order``). What is added is the estimate for
work not yet done: the service time is the planned arrival (else the window's start), the trip
starts at the previous stop of the route (else the last finished job, else the home base), the
stop counts after the open stops before it for the volume tier, and surge and the customer's
rating are left out until they are known.
"""

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from api.auth import utc_now
from api.config import Settings
from api.db.spatial import lonlat
from api.db.tables import TechnicianRow, TicketRow
from api.earnings.router import read_ledger, read_statement
from api.me import repository as repo
from api.me.schemas import EarningsView, Pay, StopView, TierProgress, TodayView
from api.procedures import repository as procedure_repo
from api.procedures import service as procedure_service
from api.procedures.schemas import TicketProcedureRead
from api.rate_cards import repository as card_repo
from api.settlement import repository as settlement_repo
from api.settlement.facts import JobFacts, job_facts, period_bounds
from api.settlement.service import DEFAULT_SURGE_WINDOW
from api.technicians.router import read_route
from api.tickets.rules import TRANSITIONS, Actor, TicketStatus
from geo.distance import haversine_m
from geo.regions import RegionIndex
from settlement import SettlementError, order_context, price_order
from settlement.breakdown import region_names
from settlement.rules.tiers import VolumeSlot

LonLat = tuple[float, float]


def technician_actions(status: str) -> tuple[str, ...]:
    """Return the moves a technician may make from ``status`` (giving up, ``failed``, last).

    >>> technician_actions("on_site"), technician_actions("scheduled")
    (('completed', 'failed'), ())
    """
    moves = TRANSITIONS[TicketStatus(status)]
    allowed = [target.value for target, who in moves.items() if Actor.TECHNICIAN in who]
    return tuple(sorted(allowed, key=lambda target: target == TicketStatus.FAILED.value))


#: Every status's technician moves, for the page script to redraw a stop after a change.
ACTIONS = {status.value: technician_actions(status.value) for status in TicketStatus}


def local_today(settings: Settings) -> date:
    """Return today's date in the service's zone."""
    return utc_now().astimezone(ZoneInfo(settings.timezone)).date()


def today(
    session: Session,
    *,
    technician: TechnicianRow,
    day: date,
    settings: Settings,
    regions: RegionIndex,
    is_read_only: bool,
) -> TodayView:
    """Return the technician's stops of ``day`` in route order, the finished ones and the pay."""
    zone = ZoneInfo(settings.timezone)
    route = read_route(technician=technician, session=session, settings=settings, day=day)
    if route.shift is not None:
        start, end = route.shift.start_at, route.shift.end_at
    else:
        start = datetime.combine(day, time(), zone)
        end = start + timedelta(days=1)
    done = repo.finished_tickets(session, technician_id=technician.id, start=start, end=end)
    procedures = procedure_repo.library(settings.procedures_dir)
    finished = [
        _view(t, None, None, _finished_pay(session, t, regions), zone,
              procedure_service.view(session, procedures, t))
        for t in done
    ]  # fmt: skip
    open_tickets = [_ticket(session, stop.ticket_id) for stop in route.stops]
    planned_at = [
        stop.eta_at or (ticket.window_start_at or start)
        for stop, ticket in zip(route.stops, open_tickets, strict=True)
    ]
    origin = lonlat(done[-1].location) if done else lonlat(technician.home_base)
    pays = _expected_pays(
        session, tickets=open_tickets, planned_at=planned_at, origin=origin, regions=regions
    )
    stops = [
        _view(ticket, stop.sequence, stop.eta_at, pay, zone,
              procedure_service.view(session, procedures, ticket))
        for stop, ticket, pay in zip(route.stops, open_tickets, pays, strict=True)
    ]  # fmt: skip
    if is_read_only:
        stops = [replace(s, actions=()) for s in stops]
        finished = [replace(s, actions=()) for s in finished]
    priced = [s.pay.breakdown.total for s in (*stops, *finished) if s.pay.breakdown is not None]
    return TodayView(
        technician_id=technician.id,
        technician_name=technician.name,
        day=day,
        is_today=day == local_today(settings),
        shift=(start.astimezone(zone), end.astimezone(zone)) if route.shift else None,
        stops=tuple(stops),
        finished=tuple(finished),
        expected_total=sum(priced[1:], priced[0]) if priced else None,
        unpriced=len(stops) + len(finished) - len(priced),
        is_read_only=is_read_only,
    )


def _ticket(session: Session, ticket_id: int) -> TicketRow:
    row = session.get(TicketRow, ticket_id)  # loaded by the route query: no new query
    assert row is not None, "the route lists stored tickets"
    return row


def _view(
    ticket: TicketRow, sequence: int | None, eta_at: datetime | None, pay: Pay, zone: ZoneInfo,
    procedure: TicketProcedureRead,
) -> StopView:  # fmt: skip
    windows = tuple(
        (datetime.fromisoformat(s).astimezone(zone), datetime.fromisoformat(e).astimezone(zone))
        for s, e in ticket.time_windows
    )
    return StopView(
        ticket_id=ticket.id,
        external_id=ticket.external_id,
        status=ticket.status,
        sequence=sequence,
        service_type=ticket.type,
        priority=ticket.priority,
        address=ticket.address,
        duration_min=ticket.duration_min,
        windows=windows,
        eta_at=None if eta_at is None else eta_at.astimezone(zone),
        skills=tuple(sorted(ticket.skills.items())),
        parts=ticket.demand,
        materials=tuple((m["code"], int(m["quantity"])) for m in ticket.materials),
        actions=technician_actions(ticket.status),
        pay=pay,
        procedure=procedure,
    )


def _expected_pays(
    session: Session,
    *,
    tickets: Sequence[TicketRow],
    planned_at: Sequence[datetime],
    origin: LonLat,
    regions: RegionIndex,
) -> list[Pay]:
    """Price open stops as if served at ``planned_at``, each trip from the stop before."""
    pays = []
    for ahead, (ticket, at) in enumerate(zip(tickets, planned_at, strict=True)):
        here = lonlat(ticket.location)
        facts = job_facts(
            session, ticket=ticket, regions=regions, surge_window=DEFAULT_SURGE_WINDOW
        )
        order = replace(
            facts.order,
            service_at=at,
            origin_lon=origin[0],
            origin_lat=origin[1],
            travel_m=round(float(haversine_m(origin[0], origin[1], here[0], here[1]))),
            demand_supply_ratio=None,
            rating=None,
        )
        pays.append(_pay(session, replace(facts, service_at=at, order=order), regions, ahead))
        origin = here
    return pays


def _finished_pay(session: Session, ticket: TicketRow, regions: RegionIndex) -> Pay:
    """Return a settled job's standing settlement, else what settling it now would pay."""
    if ticket.status == TicketStatus.SETTLED:
        row = settlement_repo.latest_for_ticket(session, ticket_id=ticket.id)
        if row is not None:
            return Pay(settlement_repo.breakdown_of(row), is_settled=True)
    facts = job_facts(session, ticket=ticket, regions=regions, surge_window=DEFAULT_SURGE_WINDOW)
    return _pay(session, facts, regions, 0)


def _pay(session: Session, facts: JobFacts, regions: RegionIndex, ahead: int) -> Pay:
    """Price ``facts`` under the card in force at its service time, as settlement does."""
    card_row = card_repo.in_force_at(session, at=facts.service_at)
    if card_row is None:
        return Pay(None, f"no rate card is in force on {facts.service_at.date().isoformat()}")
    card = card_repo.card_of(card_row)
    nth = (facts.nth_in_period(session, card) if card.volume_period else 1) + ahead
    try:
        context = order_context(card, facts.order, regions, nth)
        return Pay(price_order(card, facts.order, context, region_names(regions)))
    except SettlementError as err:
        return Pay(None, str(err))


def earnings(
    session: Session,
    *,
    technician: TechnicianRow,
    first: date,
    last: date,
    settings: Settings,
    is_read_only: bool,
) -> EarningsView:
    """Return the statement of ``[first, last]``, the ledger and the volume-tier progress.

    Raises ``HTTPException`` (422) for a range the statement refuses, naming the field.
    """
    statement = read_statement(
        technician_id=technician.id, session=session, settings=settings, first=first, last=last
    )
    ledger = read_ledger(technician_id=technician.id, session=session, limit=20)
    on = min(last, local_today(settings))
    return EarningsView(
        technician_id=technician.id,
        technician_name=technician.name,
        first=first,
        last=last,
        statement=statement,
        balance=ledger.balance,
        entries=tuple(ledger.entries),
        tier=tier_progress(session, technician_id=technician.id, on=on),
        is_read_only=is_read_only,
    )


def tier_progress(session: Session, *, technician_id: str, on: date) -> TierProgress | None:
    """Return the volume tier reached in the card's period containing ``on`` (None: no tiers).

    The orders counted are the rank of the period's latest standing settlement, the number the
    card priced it with; the next tier starts at the next tier's first order.
    """
    card_row = card_repo.in_force_on(session, local_date=on)
    slots = card_repo.card_of(card_row).slots if card_row is not None else ()
    slot = next((s for s in slots if isinstance(s, VolumeSlot)), None)
    if slot is None:
        return None
    first, after = period_bounds(on, slot.period)
    active = settlement_repo.active_settlement_ids(session, technician_id=technician_id)
    rows = settlement_repo.for_technician(
        session, technician_id=technician_id, first=first, last=after - timedelta(days=1),
        active_ids=active,
    )  # fmt: skip
    orders = max((row.nth_in_period for row in rows), default=0)
    reached = bisect_right(slot.first, orders) - 1 if orders else None
    upcoming = 0 if reached is None else reached + 1
    return TierProgress(
        period=slot.period,
        orders=orders,
        reached=reached,
        spans=tuple(
            f"{low}-{high}" if high is not None else f"{low}+"
            for low, high in zip(slot.first, slot.last, strict=True)
        ),
        coefficients=tuple(option.rate + 1 for option in slot.options),
        orders_to_next=slot.first[upcoming] - orders if upcoming < len(slot.first) else None,
    )
