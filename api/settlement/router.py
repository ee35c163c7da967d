"""``/v1/settlement``: settle a ticket or the backlog, and compare rate cards on past orders."""

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api.auth import Role, require_roles, utc_now
from api.deps import SessionDep
from api.earnings.schemas import MoneyRead, OrderEarningRead
from api.earnings.service import order_read
from api.errors import ApiError
from api.fields import RowIdParam
from api.rate_cards import repository as card_repo
from api.rate_cards.schemas import (
    MAX_SIMULATED_ORDERS,
    ComparisonRead,
    OrderIn,
    SimulateRequest,
    VersionRef,
    WhatIfRead,
)
from api.settlement import repository as repo
from api.settlement.service import (
    SettlingError,
    settle_pending,
    settle_ticket,
    settling_http_error,
)
from settlement import (
    Comparison,
    CompletedOrder,
    OrderColumns,
    RateCard,
    check_regions,
    parse_rate_card,
    simulate,
)

router = APIRouter(prefix="/settlement", tags=["settlement"])
tickets_router = APIRouter(prefix="/tickets", tags=["tickets"])

STAFF = require_roles(Role.ADMIN, Role.DISPATCHER)
MAX_PENDING = 1000


class SettledRead(OrderEarningRead):
    """The settlement of a ticket and whether this request created it."""

    created: bool
    ledger_entry_ids: list[int]


@tickets_router.post(
    "/{ticket_id:id}/settle",
    response_model=SettledRead,
    responses={409: {"description": "the ticket is not confirmed, or no card is in force"}},
    summary="Settle a confirmed ticket",
    description=(
        "Staff only. Prices the ticket under the rate card in force at its service time "
        "(arrival on site), books the earning in the technician's ledger and moves the ticket "
        "to `settled`. Confirmation settles a ticket on its own; this endpoint settles one "
        "that stayed `confirmed` (no card was in force, or the card did not price its type). "
        "Idempotent: settling a settled ticket returns its settlement with `created: false` "
        "and adds nothing. 409 when the ticket is not confirmed or no card is in force; 422 "
        "when the card cannot price it (the message names the rule)."
    ),
    dependencies=[STAFF],
)
def settle(request: Request, session: SessionDep, ticket_id: RowIdParam) -> SettledRead:
    try:
        settled = settle_ticket(
            session,
            ticket_id=ticket_id,
            now=utc_now(),
            regions=request.app.state.region_cache.index(session),
        )
    except SettlingError as err:
        raise settling_http_error(err) from err
    session.commit()
    read = order_read(settled.settlement)
    entry_ids = [row.id for row in settled.entries]
    return SettledRead(**read.model_dump(), created=settled.created, ledger_entry_ids=entry_ids)


class SettlementAttemptRead(BaseModel):
    """One confirmed ticket of the backlog: settled (with its total) or why not."""

    ticket_id: int
    settlement_id: int | None
    total: MoneyRead | None
    refusal: str | None = Field(description="`code: message` when the ticket stays confirmed")


@router.post(
    "/pending",
    response_model=list[SettlementAttemptRead],
    summary="Settle the backlog of confirmed tickets",
    description=(
        "Staff only. Settles up to `limit` tickets that are still `confirmed` (oldest first), "
        "each independently: a ticket that cannot be settled (no card in force, a type the "
        "card does not price) stays confirmed and its reason is listed. Run it after "
        "publishing a missing or corrected card. `geodispatch settle pending` does the same."
    ),
    dependencies=[STAFF],
)
def settle_backlog(
    request: Request,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PENDING)] = 100,
) -> list[SettlementAttemptRead]:
    regions = request.app.state.region_cache.index(session)
    attempts = settle_pending(session, now=utc_now(), regions=regions, limit=limit)
    session.commit()
    return [
        SettlementAttemptRead(
            ticket_id=a.ticket_id,
            settlement_id=a.settled.settlement.id if a.settled else None,
            total=MoneyRead.of(a.settled.breakdown.total) if a.settled else None,
            refusal=a.refusal,
        )
        for a in attempts
    ]


@router.post(
    "/simulate",
    response_model=WhatIfRead,
    summary="What-if: a candidate rate card against the current one",
    description=(
        "Staff (finance) only. Prices the same orders under both cards with the settlement "
        "package's batch engine and compares totals per region, service type and technician. "
        "Orders are past settlements (`first`/`last`, optional `region_id`/`technician_id`; "
        "each ticket's standing settlement, with the inputs it was priced on) or `orders` in "
        f"the body; at most {MAX_SIMULATED_ORDERS} orders. Nothing is stored."
    ),
    dependencies=[STAFF],
)
def simulate_rate_card(
    simulation_in: SimulateRequest, request: Request, session: SessionDep
) -> WhatIfRead:
    regions = request.app.state.region_cache.index(session)
    if simulation_in.candidate is not None:
        candidate = parse_rate_card(simulation_in.candidate)
    else:
        assert simulation_in.candidate_version is not None
        candidate = _stored(session, simulation_in.candidate_version, "candidate_version")
    check_regions(candidate, {region.id for region in regions})
    current = (
        _stored(session, simulation_in.current_version, "current_version")
        if simulation_in.current_version is not None
        else _in_force_today(session)
    )
    orders = _orders(session, simulation_in)
    whatif = simulate(
        _always(current), _always(candidate), OrderColumns.from_orders(orders), regions
    )
    return WhatIfRead(
        current_version=whatif.current_version,
        candidate_version=whatif.candidate_version,
        total=_comparison(whatif.total),
        by_region=[_comparison(c) for c in whatif.by_region],
        by_service_type=[_comparison(c) for c in whatif.by_service_type],
        by_technician=[_comparison(c) for c in whatif.by_technician],
        paid_more=whatif.paid_more,
        paid_less=whatif.paid_less,
        unchanged=whatif.unchanged,
        gained=MoneyRead.of(whatif.gained),
        lost=MoneyRead.of(whatif.lost),
        largest_gain=MoneyRead.of(whatif.largest_gain),
        largest_loss=MoneyRead.of(whatif.largest_loss),
    )


def _always(card: RateCard) -> RateCard:
    """Return the card with an unbounded effective period: a what-if prices any date."""
    return replace(card, effective_from=date.min, effective_until=None)


def _stored(session: SessionDep, ref: VersionRef, field: str) -> RateCard:
    row = card_repo.get_version(session, card_id=ref.card_id, version=ref.version)
    if row is None:
        raise ApiError(
            422,
            "validation_error",
            f"{field}: no rate card {ref.card_id}@v{ref.version}",
            {"field": field},
        )
    return card_repo.card_of(row)


def _in_force_today(session: SessionDep) -> RateCard:
    row = card_repo.in_force_on(session, local_date=utc_now().date())
    if row is None:
        raise ApiError(
            409,
            "no_rate_card_in_force",
            "no rate card is in force today: name one in current_version",
            {"field": "current_version"},
        )
    return card_repo.card_of(row)


def _orders(session: SessionDep, simulation_in: SimulateRequest) -> list[CompletedOrder]:
    if simulation_in.orders is not None:
        orders = [_order(order) for order in simulation_in.orders]
    else:
        assert simulation_in.first is not None and simulation_in.last is not None
        rows = repo.standing(
            session,
            first=simulation_in.first,
            last=simulation_in.last,
            region_id=simulation_in.region_id,
            technician_id=simulation_in.technician_id,
            limit=MAX_SIMULATED_ORDERS,
        )
        if len(rows) > MAX_SIMULATED_ORDERS:
            raise ApiError(
                422,
                "too_many_orders",
                f"more than {MAX_SIMULATED_ORDERS} orders: narrow the range",
                {"field": "first", "limit": MAX_SIMULATED_ORDERS},
            )
        orders = [repo.order_of(row) for row in rows]
    if not orders:
        raise ApiError(
            422,
            "no_orders",
            "no orders to simulate: widen the range or send orders",
            {"field": "orders" if simulation_in.orders is not None else "first"},
        )
    return orders


def _order(order: OrderIn) -> CompletedOrder:
    ratio = order.demand_supply_ratio
    return CompletedOrder(
        order_id=order.order_id,
        technician_id=order.technician_id,
        service_type=order.service_type,
        service_at=order.service_at,
        lon=order.location[0],
        lat=order.location[1],
        units=order.units,
        flags=frozenset(order.flags),
        is_urgent=order.is_urgent,
        rating=order.rating,
        travel_m=order.travel_m,
        origin_lon=order.origin[0] if order.origin else None,
        origin_lat=order.origin[1] if order.origin else None,
        demand_supply_ratio=None if ratio is None else Decimal(ratio),
        materials=tuple(sorted(order.materials.items())),
    )


def _comparison(comparison: Comparison) -> ComparisonRead:
    return ComparisonRead(
        key=comparison.key,
        order_count=comparison.order_count,
        current=MoneyRead.of(comparison.current),
        candidate=MoneyRead.of(comparison.candidate),
        delta=MoneyRead.of(comparison.delta),
    )
