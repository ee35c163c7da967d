"""Earnings: who may see and move a technician's money, and values shaped into responses."""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from api.adjustments import service as adjustments
from api.adjustments.schemas import AdjustmentRequestRead
from api.auth import PrincipalDep, Role, utc_now
from api.db.tables import LedgerEntryRow, SettlementRow, TechnicianRow
from api.deps import SessionDep
from api.earnings.schemas import (
    AdjustmentCreate,
    ComponentRead,
    EntryRead,
    LedgerChangeRead,
    LineRead,
    MoneyRead,
    OrderEarningRead,
    StatementRead,
    WithdrawalCreate,
)
from api.errors import ApiError, invalid_field
from api.settlement import repository as settlement_repo
from api.settlement.service import SettlingError, resettle_ticket, settling_http_error
from geo.regions import RegionIndex
from settlement import InsufficientBalance, Money, Statement

# Who may see and move a technician's money, and the checks on date ranges.
MAX_RANGE_DAYS = 366


def earnings_owner(technician_id: str, principal: PrincipalDep, session: SessionDep) -> str:
    """Let staff see anyone's earnings and a technician only their own (403 otherwise)."""
    if principal.role is Role.INTEGRATOR:
        raise ApiError(
            403, "forbidden", "integrators do not see earnings", {"role": principal.role.value}
        )
    if not principal.is_staff and principal.technician_id != technician_id:
        raise ApiError(
            403,
            "forbidden",
            "a technician sees only their own earnings",
            {"technician_id": technician_id},
        )
    if session.get(TechnicianRow, technician_id) is None:
        raise ApiError(
            404, "not_found", f"no technician {technician_id}", {"technician_id": technician_id}
        )
    return technician_id


OwnerDep = Annotated[str, Depends(earnings_owner)]


def bad_query(field: str, message: str) -> ApiError:
    """Return the 422 for a bad query parameter, naming it."""
    return invalid_field(field, message, location="query")


def check_range(first: date | None, last: date | None) -> None:
    """Refuse an inverted range or one longer than ``MAX_RANGE_DAYS`` (422)."""
    if first is not None and last is not None:
        if first > last:
            raise bad_query("first", "must not be after last")
        if (last - first).days >= MAX_RANGE_DAYS:
            raise bad_query("last", f"a range covers at most {MAX_RANGE_DAYS} days")


# Rows and settlement values shaped into the earnings responses.
def order_read(row: SettlementRow) -> OrderEarningRead:
    """Shape one settlement with every line of its breakdown."""
    breakdown = settlement_repo.breakdown_of(row)
    return OrderEarningRead(
        ticket_id=row.ticket_id,
        settlement_id=row.id,
        technician_id=row.technician_id,
        service_type=row.service_type,
        region_id=row.region_id,
        service_at=row.service_at,
        service_date=row.service_date,
        nth_in_period=row.nth_in_period,
        rate_card_version=row.rate_card_version,
        total=MoneyRead.of(breakdown.total),
        lines=[
            LineRead(
                code=line.code,
                label_zh=line.label_zh,
                label_en=line.label_en,
                basis=line.basis,
                rate=line.rate,
                amount=MoneyRead.of(line.amount),
                rule_id=line.rule_id,
                rate_card_version=line.rate_card_version,
            )
            for line in breakdown.lines
        ],
        settled_at=row.settled_at,
    )


def entry_read(row: LedgerEntryRow) -> EntryRead:
    """Shape one ledger row."""
    return EntryRead(
        id=row.id,
        kind=row.kind,  # type: ignore[arg-type]  # the CHECK constraint keeps it to the four
        amount=MoneyRead.of_fen(row.amount_fen, row.currency),
        ticket_id=row.ticket_id,
        settlement_id=row.settlement_id,
        reverses_entry_id=row.reverses_entry_id,
        created_at=row.created_at,
        memo=row.memo,
    )


def statement_read(
    *,
    technician_id: str,
    period: str,
    period_key: str,
    first: date,
    last: date,
    parts: Sequence[Statement],
    adjustments: Sequence[LedgerEntryRow],
    orders: Sequence[SettlementRow],
    currency: str,
) -> StatementRead:
    """Shape the package's statements of the wanted period(s) as one statement.

    A period request has one part; a date range is the sum of its days' statements.
    """
    zero = Money.zero(currency)
    components: dict[str, Money] = {}
    for part in parts:
        for code, amount in part.by_component:
            components[code] = components.get(code, zero) + amount
    tiers = [part.tier_reached for part in parts if part.tier_reached is not None]
    return StatementRead(
        technician_id=technician_id,
        period=period,  # type: ignore[arg-type]  # the route's Literal query parameter
        period_key=period_key,
        first=first,
        last=last,
        order_count=sum(part.order_count for part in parts),
        earnings=MoneyRead.of(sum((part.earnings for part in parts), zero)),
        by_component=[
            ComponentRead(code=code, amount=MoneyRead.of(amount))
            for code, amount in sorted(components.items())
        ],
        tier_reached=tiers[-1] if tiers else None,
        adjustments=[entry_read(row) for row in adjustments],
        payable=MoneyRead.of(sum((part.payable for part in parts), zero)),
        orders=[order_read(row) for row in orders],
    )


# Moving money: withdrawals and an admin's corrections.
def withdraw(
    session: Session,
    *,
    technician_id: str,
    withdrawal_in: WithdrawalCreate,
    actor_key_id: str,
) -> LedgerChangeRead:
    """Withdraw at most the available balance (409 ``insufficient_balance`` beyond it)."""
    try:
        rows, balance = settlement_repo.withdraw(
            session,
            technician_id=technician_id,
            amount=withdrawal_in.amount.money(),
            now=utc_now(),
            actor_key_id=actor_key_id,
            memo=withdrawal_in.memo,
        )
    except InsufficientBalance as err:
        raise ApiError(409, err.code, str(err), err.details) from err
    session.commit()
    return LedgerChangeRead(
        technician_id=technician_id,
        entries=[entry_read(row) for row in rows],
        balance=MoneyRead.of(balance),
    )


def adjust(
    session: Session,
    *,
    technician_id: str,
    adjustment_in: AdjustmentCreate,
    regions: RegionIndex,
    actor_key_id: str,
    max_amount: Decimal,
    approval_amount: Decimal,
) -> LedgerChangeRead | AdjustmentRequestRead:
    """Append a manual adjustment, or price a settled ticket again (reversal plus new earning).

    A manual amount is refused when it is zero or larger than ``max_amount`` either way: a
    ledger is append-only, so a slipped digit would stay in it as two entries. One larger than
    ``approval_amount`` either way is not booked but stored as a request that another admin
    must approve (four eyes, ``api.adjustments``): the pending request is returned.
    """
    now = utc_now()
    if adjustment_in.kind == "resettle":
        ticket_id = adjustment_in.ticket_id
        assert ticket_id is not None
        current = settlement_repo.latest_for_ticket(session, ticket_id=ticket_id)
        if current is None or current.technician_id != technician_id:
            raise ApiError(
                404,
                "not_found",
                f"technician {technician_id} has no settled ticket {ticket_id}",
                {"field": "ticket_id", "ticket_id": ticket_id},
            )
        try:
            settled = resettle_ticket(
                session,
                ticket_id=ticket_id,
                now=now,
                regions=regions,
                actor_key_id=actor_key_id,
                memo=adjustment_in.memo,
            )
        except SettlingError as err:
            raise settling_http_error(err) from err
        rows = list(settled.entries)
    else:
        assert adjustment_in.amount is not None
        amount = adjustment_in.amount.money().amount
        if amount == 0 or abs(amount) > max_amount:
            raise invalid_field(
                "amount", f"must be non-zero and at most {max_amount} either way, got {amount}"
            )
        if abs(amount) > approval_amount:
            return adjustments.request_adjustment(
                session,
                technician_id=technician_id,
                amount=adjustment_in.amount.money(),
                memo=adjustment_in.memo,
                actor_key_id=actor_key_id,
            )
        before = settlement_repo.load(session, technician_id=technician_id, for_update=True)
        after = before.ledger.adjust(
            technician_id, adjustment_in.amount.money(), now, adjustment_in.memo
        )
        rows = settlement_repo.append(
            session, before=before, after=after, actor_key_id=actor_key_id
        )
    session.commit()
    balance = settlement_repo.load(session, technician_id=technician_id).ledger
    return LedgerChangeRead(
        technician_id=technician_id,
        entries=[entry_read(row) for row in rows],
        balance=MoneyRead.of(balance.balance(technician_id)),
    )
