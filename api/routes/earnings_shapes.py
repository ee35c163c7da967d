"""Rows and settlement values shaped into the earnings responses."""

from collections.abc import Sequence
from datetime import date

from api.db.tables import LedgerEntryRow, SettlementRow
from api.repositories import settlements as settlement_repo
from api.schemas.earnings import (
    ComponentRead,
    EntryRead,
    LineRead,
    MoneyRead,
    OrderEarningRead,
    StatementRead,
)
from settlement import Money, Statement


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
