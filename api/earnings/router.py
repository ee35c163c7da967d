"""``/v1/earnings``: pay per order, statements, the ledger, withdrawals and adjustments."""

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from api.adjustments.schemas import AdjustmentRequestRead
from api.auth import Principal, Role, require_roles, utc_now
from api.deps import SessionDep, SettingsDep
from api.earnings import service
from api.earnings.schemas import (
    AdjustmentCreate,
    EarningsRead,
    LedgerChangeRead,
    LedgerRead,
    MoneyRead,
    OrderEarningRead,
    StatementRead,
    WithdrawalCreate,
)
from api.earnings.service import (
    OwnerDep,
    bad_query,
    check_range,
    entry_read,
    order_read,
    statement_read,
)
from api.errors import ApiError
from api.fields import Day, RowIdParam
from api.rate_cards import repository as card_repo
from api.settlement import repository as settlement_repo
from api.settlement.facts import period_bounds
from settlement import statements
from settlement.localtime import zone
from settlement.periods import period_key

router = APIRouter(prefix="/earnings", tags=["earnings"])


@router.get(
    "/{technician_id}",
    response_model=EarningsRead,
    summary="Settled orders with their breakdowns, and the balance",
    description=(
        "Every settled order whose service date is in `[first, last]` (default: the 31 days "
        "up to today in the service's time zone), each with every line of its payout (code, "
        "labels zh/en, basis, rate, amount, rule id, rate-card version), and the ledger "
        "balance. A corrected order shows its standing settlement. Staff see anyone; a "
        "technician only themselves."
    ),
)
def read_earnings(
    technician_id: OwnerDep,
    session: SessionDep,
    settings: SettingsDep,
    first: Annotated[Day | None, Query(description="first service date (inclusive)")] = None,
    last: Annotated[Day | None, Query(description="last service date (inclusive)")] = None,
) -> EarningsRead:
    check_range(first, last)
    last = last or utc_now().astimezone(zone(settings.timezone)).date()
    first = first or last - timedelta(days=30)
    check_range(first, last)
    active = settlement_repo.active_settlement_ids(session, technician_id=technician_id)
    rows = settlement_repo.for_technician(
        session, technician_id=technician_id, first=first, last=last, active_ids=active
    )
    balance = settlement_repo.load(session, technician_id=technician_id).ledger
    return EarningsRead(
        technician_id=technician_id,
        first=first,
        last=last,
        balance=MoneyRead.of(balance.balance(technician_id)),
        orders=[order_read(row) for row in rows],
    )


@router.get(
    "/{technician_id}/orders/{ticket_id:id}",
    response_model=OrderEarningRead,
    summary="The payout breakdown of one settled order",
    description=(
        "Every line of the ticket's standing settlement (after any correction). 404 when the "
        "ticket is not settled or not this technician's."
    ),
)
def read_order_earning(
    technician_id: OwnerDep, ticket_id: RowIdParam, session: SessionDep
) -> OrderEarningRead:
    row = settlement_repo.latest_for_ticket(session, ticket_id=ticket_id)
    if row is None or row.technician_id != technician_id:
        raise ApiError(
            404,
            "not_found",
            f"technician {technician_id} has no settled ticket {ticket_id}",
            {"ticket_id": ticket_id},
        )
    return order_read(row)


@router.get(
    "/{technician_id}/statement",
    response_model=StatementRead,
    summary="Statement for a period or a date range",
    description=(
        "Either `period=day|week|month` with `date` (the period containing it; weeks start on "
        "Monday) or `first` and `last` (inclusive). Earnings by component, the volume tier "
        "reached, adjustments and the payable total, computed by the settlement package."
    ),
)
def read_statement(
    technician_id: OwnerDep,
    session: SessionDep,
    settings: SettingsDep,
    period: Annotated[
        Literal["day", "week", "month"] | None, Query(description="with `date`")
    ] = None,
    on: Annotated[
        Day | None, Query(alias="date", description="a day in the period, e.g. 2026-11-18")
    ] = None,
    first: Annotated[Day | None, Query(description="range start, with `last`")] = None,
    last: Annotated[Day | None, Query(description="range end (inclusive)")] = None,
) -> StatementRead:
    if (period is None) == (first is None or last is None) or (period is None) != (on is None):
        raise bad_query("period", "give period and date, or first and last")
    kind: Literal["day", "week", "month", "range"]
    if period is not None and on is not None:
        first, after = period_bounds(on, period)
        last, kind, key = after - timedelta(days=1), period, period_key(on, period)
    else:
        assert first is not None and last is not None
        check_range(first, last)
        kind, key = "range", f"{first.isoformat()}/{last.isoformat()}"
    card = card_repo.in_force_on(session, local_date=last)
    time_zone = card.time_zone if card is not None else settings.timezone
    active = settlement_repo.active_settlement_ids(session, technician_id=technician_id)
    rows = settlement_repo.for_technician(
        session, technician_id=technician_id, first=first, last=last, active_ids=active
    )
    loaded = settlement_repo.load(session, technician_id=technician_id)
    breakdowns = [settlement_repo.breakdown_of(row) for row in rows]
    by = "day" if kind == "range" else kind
    wanted = {period_key(first + timedelta(days=d), by) for d in range((last - first).days + 1)}
    currency = loaded.ledger.currency
    parts = [
        part
        for part in statements(breakdowns, by, currency, loaded.ledger, time_zone)
        if part.period_key in wanted
    ]
    adjustments = settlement_repo.entry_rows(
        session,
        ids=[loaded.row_id(entry.sequence) for part in parts for entry in part.adjustments],
    )
    return statement_read(
        technician_id=technician_id,
        period=kind,
        period_key=key,
        first=first,
        last=last,
        parts=parts,
        adjustments=[row for row in adjustments if row is not None],
        orders=rows,
        currency=currency,
    )


@router.get(
    "/{technician_id}/ledger",
    response_model=LedgerRead,
    summary="Ledger balance and latest entries",
    description="The balance is the sum of every entry; entries are newest first.",
)
def read_ledger(
    technician_id: OwnerDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> LedgerRead:
    loaded = settlement_repo.load(session, technician_id=technician_id)
    rows = settlement_repo.entries(session, technician_id=technician_id, limit=limit)
    return LedgerRead(
        technician_id=technician_id,
        balance=MoneyRead.of(loaded.ledger.balance(technician_id)),
        entries=[entry_read(row) for row in rows],
    )


@router.post(
    "/{technician_id}/withdrawals",
    response_model=LedgerChangeRead,
    status_code=201,
    summary="Withdraw from the available balance",
    description=(
        "The technician themself or an admin. The amount must be positive and at most the "
        "balance: otherwise 409 `insufficient_balance` with `requested` and `available`."
    ),
    responses={409: {"description": "More than the available balance"}},
)
def withdraw(
    # A dependency, so that a dispatcher is refused (403) before the body is validated.
    principal: Annotated[Principal, require_roles(Role.ADMIN, Role.TECHNICIAN)],
    technician_id: OwnerDep,
    withdrawal_in: WithdrawalCreate,
    session: SessionDep,
) -> LedgerChangeRead:
    return service.withdraw(
        session,
        technician_id=technician_id,
        withdrawal_in=withdrawal_in,
        actor_key_id=principal.key_id,
    )


@router.post(
    "/{technician_id}/adjustments",
    response_model=LedgerChangeRead,
    status_code=201,
    summary="Correct a technician's ledger (admin)",
    description=(
        "`kind=adjustment` appends a signed manual entry with its reason; an amount of zero or "
        "above `GEODISPATCH_ADJUSTMENT_MAX_AMOUNT` (10,000) either way is 422. Above "
        "`GEODISPATCH_ADJUSTMENT_APPROVAL_AMOUNT` (1,000) either way nothing is booked yet: "
        "the answer is 202 with a pending request (`Location: /v1/adjustments/{id}`) that "
        "another admin must approve (four eyes). `kind=resettle` prices a settled ticket "
        "again under the card now in force for its service time: if that is another version, "
        "the old earning is reversed and the new one booked (a reversal plus a new entry); if "
        "it is the same version, nothing is added. Ledger entries are never edited."
    ),
    responses={
        202: {
            "model": AdjustmentRequestRead,
            "description": "Above the approval amount: stored pending a second admin's approval",
        }
    },
)
def adjust(
    request: Request,
    technician_id: OwnerDep,
    adjustment_in: AdjustmentCreate,
    session: SessionDep,
    principal: Annotated[Principal, require_roles(Role.ADMIN)],
    settings: SettingsDep,
) -> LedgerChangeRead | JSONResponse:
    done = service.adjust(
        session,
        technician_id=technician_id,
        adjustment_in=adjustment_in,
        regions=request.app.state.region_cache.index(session),
        actor_key_id=principal.key_id,
        max_amount=settings.adjustment_max_amount,
        approval_amount=settings.adjustment_approval_amount,
    )
    if isinstance(done, AdjustmentRequestRead):
        return JSONResponse(
            jsonable_encoder(done),
            status_code=202,
            headers={"Location": f"/v1/adjustments/{done.id}"},
        )
    return done
