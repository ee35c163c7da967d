"""Settlements and the ledger in the database: ``settlement`` values in and out.

A settlement row is written once per (ticket, rate-card version) and never updated; its lines
are stored with decimals as strings and amounts in integer fen, so a breakdown reads back
exactly. The ledger is append-only: there is no UPDATE or DELETE of a ledger row anywhere.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.db.tables import LedgerEntryRow, RateCardVersionRow, SettlementRow, TechnicianRow
from settlement import (
    CompletedOrder,
    EntryKind,
    Ledger,
    LedgerEntry,
    LedgerError,
    LineItem,
    Money,
    PayoutBreakdown,
)


# Settlements: ``settlement.PayoutBreakdown`` values in and out.
def insert(
    session: Session,
    *,
    ticket_id: int,
    order: CompletedOrder,
    breakdown: PayoutBreakdown,
    card_row: RateCardVersionRow,
    service_at: datetime,
    now: datetime,
    bill_total: Money | None = None,
) -> SettlementRow:
    """Store the breakdown of ``ticket_id`` priced under ``card_row``, with the job's bill total."""
    row = SettlementRow(
        ticket_id=ticket_id,
        technician_id=breakdown.technician_id,
        rate_card_version_id=card_row.id,
        rate_card_version=breakdown.rate_card_version,
        service_type=breakdown.service_type,
        region_id=breakdown.region_id,
        service_at=service_at,
        service_date=breakdown.service_date,
        nth_in_period=breakdown.nth_in_period,
        total_fen=breakdown.total.to_fen(),
        currency=breakdown.currency,
        lines=[_line_json(line) for line in breakdown.lines],
        inputs=_inputs_json(order),
        settled_at=now,
        bill_total_fen=None if bill_total is None else bill_total.to_fen(),
        bill_currency=None if bill_total is None else bill_total.currency,
    )
    session.add(row)
    session.flush()
    return row


def _line_json(line: LineItem) -> dict[str, Any]:
    return {
        "code": line.code,
        "label_zh": line.label_zh,
        "label_en": line.label_en,
        "basis": str(line.basis),
        "rate": str(line.rate),
        "amount_fen": line.amount.to_fen(),
        "rule_id": line.rule_id,
    }


def _inputs_json(order: CompletedOrder) -> dict[str, Any]:
    ratio = order.demand_supply_ratio
    return {
        "lon": order.lon,
        "lat": order.lat,
        "units": order.units,
        "flags": sorted(order.flags),
        "is_urgent": order.is_urgent,
        "rating": order.rating,
        "travel_m": order.travel_m,
        "origin_lon": order.origin_lon,
        "origin_lat": order.origin_lat,
        "demand_supply_ratio": None if ratio is None else str(ratio),
        "materials": [list(pair) for pair in order.materials],
    }


def order_of(row: SettlementRow) -> CompletedOrder:
    """Rebuild the order a settlement priced, to price it again under another card."""
    inputs = row.inputs
    ratio = inputs["demand_supply_ratio"]
    return CompletedOrder(
        order_id=str(row.ticket_id),
        technician_id=row.technician_id,
        service_type=row.service_type,
        service_at=row.service_at,
        lon=inputs["lon"],
        lat=inputs["lat"],
        units=inputs["units"],
        flags=frozenset(inputs["flags"]),
        is_urgent=inputs["is_urgent"],
        rating=inputs["rating"],
        travel_m=inputs["travel_m"],
        origin_lon=inputs["origin_lon"],
        origin_lat=inputs["origin_lat"],
        demand_supply_ratio=None if ratio is None else Decimal(ratio),
        materials=tuple((code, quantity) for code, quantity in inputs["materials"]),
    )


def breakdown_of(row: SettlementRow) -> PayoutBreakdown:
    """Rebuild the breakdown a settlement row stores (exactly as it was priced)."""
    return PayoutBreakdown(
        order_id=str(row.ticket_id),
        technician_id=row.technician_id,
        service_type=row.service_type,
        region_id=row.region_id,
        service_date=row.service_date,
        nth_in_period=row.nth_in_period,
        rate_card_version=row.rate_card_version,
        currency=row.currency,
        lines=tuple(
            LineItem(
                code=line["code"],
                label_zh=line["label_zh"],
                label_en=line["label_en"],
                basis=Decimal(line["basis"]),
                rate=Decimal(line["rate"]),
                amount=Money.from_fen(line["amount_fen"], row.currency),
                rule_id=line["rule_id"],
                rate_card_version=row.rate_card_version,
            )
            for line in row.lines
        ),
    )


def latest_for_ticket(session: Session, *, ticket_id: int) -> SettlementRow | None:
    """Return the ticket's most recent settlement (the one a correction made, if any)."""
    return session.scalar(
        select(SettlementRow)
        .where(SettlementRow.ticket_id == ticket_id)
        .order_by(SettlementRow.id.desc())
        .limit(1)
    )


def for_ticket_and_version(
    session: Session, *, ticket_id: int, card_row_id: int
) -> SettlementRow | None:
    """Return the ticket's settlement under one rate-card version, if any."""
    return session.scalar(
        select(SettlementRow).where(
            SettlementRow.ticket_id == ticket_id,
            SettlementRow.rate_card_version_id == card_row_id,
        )
    )


def for_technician(
    session: Session,
    *,
    technician_id: str,
    first: date | None = None,
    last: date | None = None,
    active_ids: set[int] | None = None,
) -> list[SettlementRow]:
    """List the technician's settlements by service date in ``[first, last]``, oldest first.

    ``active_ids`` keeps only those settlements (the ones whose earning is not reversed).
    """
    query = select(SettlementRow).where(SettlementRow.technician_id == technician_id)
    if first is not None:
        query = query.where(SettlementRow.service_date >= first)
    if last is not None:
        query = query.where(SettlementRow.service_date <= last)
    if active_ids is not None:
        query = query.where(SettlementRow.id.in_(active_ids))
    return list(session.scalars(query.order_by(SettlementRow.service_at, SettlementRow.ticket_id)))


def standing(
    session: Session,
    *,
    first: date,
    last: date,
    region_id: str | None = None,
    technician_id: str | None = None,
    limit: int,
) -> list[SettlementRow]:
    """List the settlements that stand (latest per ticket) by service date in [first, last].

    Only the first ``limit`` + 1 are returned, so that the caller can tell "too many".
    """
    latest = select(func.max(SettlementRow.id)).group_by(SettlementRow.ticket_id).scalar_subquery()
    query = select(SettlementRow).where(
        SettlementRow.id.in_(latest),
        SettlementRow.service_date >= first,
        SettlementRow.service_date <= last,
    )
    if region_id is not None:
        query = query.where(SettlementRow.region_id == region_id)
    if technician_id is not None:
        query = query.where(SettlementRow.technician_id == technician_id)
    return list(session.scalars(query.order_by(SettlementRow.id).limit(limit + 1)))


# The ledger: rows in, ``settlement.Ledger`` values out, new entries appended.
#
# The rules (idempotent earnings, corrections as reversal plus new earning, no withdrawal beyond
# the balance) live in :class:`settlement.Ledger`. This part loads one technician's entries into
# a ``Ledger``, lets the caller extend it, and INSERTs exactly the entries that were added.
DEFAULT_CURRENCY = "CNY"


@dataclass(frozen=True, slots=True)
class TechnicianLedger:
    """One technician's ledger as loaded: ``row_ids[i]`` is the row of entry ``i + 1``."""

    technician_id: str
    ledger: Ledger
    row_ids: tuple[int, ...]

    def row_id(self, sequence: int) -> int:
        """Return the row id of the entry at 1-based ``sequence``."""
        return self.row_ids[sequence - 1]


def entry_rows(session: Session, *, ids: list[int]) -> list[LedgerEntryRow]:
    """Return the ledger rows of ``ids``, in that order."""
    rows = {
        row.id: row
        for row in session.scalars(select(LedgerEntryRow).where(LedgerEntryRow.id.in_(ids)))
    }
    return [rows[i] for i in ids]


def load(session: Session, *, technician_id: str, for_update: bool = False) -> TechnicianLedger:
    """Load the technician's entries in the order they were written.

    With ``for_update`` the technician row is locked first (PostgreSQL), so that two requests
    extending the same ledger (say, two withdrawals) run one after the other and the second
    sees the first's entry; SQLite serialises writers anyway.
    """
    if for_update:
        session.execute(
            select(TechnicianRow.id).where(TechnicianRow.id == technician_id).with_for_update()
        )
    rows = session.execute(
        select(LedgerEntryRow, SettlementRow.rate_card_version)
        .outerjoin(SettlementRow, SettlementRow.id == LedgerEntryRow.settlement_id)
        .where(LedgerEntryRow.technician_id == technician_id)
        .order_by(LedgerEntryRow.id)
    ).all()
    currencies = {row.currency for row, _ in rows}
    if len(currencies) > 1:
        raise LedgerError(
            f"technician {technician_id} has entries in several currencies: {sorted(currencies)}",
            technician_id=technician_id,
        )
    currency = currencies.pop() if currencies else DEFAULT_CURRENCY
    position = {row.id: i + 1 for i, (row, _) in enumerate(rows)}
    entries = tuple(
        LedgerEntry(
            sequence=i + 1,
            technician_id=row.technician_id,
            kind=EntryKind(row.kind),
            amount=Money.from_fen(row.amount_fen, row.currency),
            at=row.created_at,
            order_id=None if row.ticket_id is None else str(row.ticket_id),
            rate_card_version=version,
            reverses=None if row.reverses_entry_id is None else position[row.reverses_entry_id],
            memo=row.memo,
        )
        for i, (row, version) in enumerate(rows)
    )
    return TechnicianLedger(technician_id, Ledger(entries, currency), tuple(position))


def append(
    session: Session,
    *,
    before: TechnicianLedger,
    after: Ledger,
    actor_key_id: str | None,
    settlement_of: Callable[[LedgerEntry], int | None] = lambda entry: None,
    memo: str | None = None,
) -> list[LedgerEntryRow]:
    """INSERT the entries ``after`` has beyond ``before`` and return their rows.

    ``settlement_of`` names the settlement row an entry refers to (earnings and their
    reversals); ``memo`` overrides the entries' own memo (a withdrawal's reference).
    """
    row_ids = list(before.row_ids)
    added: list[LedgerEntryRow] = []
    for entry in after.entries[len(before.ledger.entries) :]:
        row = LedgerEntryRow(
            technician_id=entry.technician_id,
            kind=entry.kind.value,
            amount_fen=entry.amount.to_fen(),
            currency=entry.amount.currency,
            ticket_id=None if entry.order_id is None else int(entry.order_id),
            settlement_id=settlement_of(entry),
            reverses_entry_id=None if entry.reverses is None else row_ids[entry.reverses - 1],
            created_at=entry.at,
            actor_key_id=actor_key_id,
            memo=entry.memo if memo is None else memo,
        )
        session.add(row)
        session.flush()  # the id is needed by a reversal that follows in the same batch
        row_ids.append(row.id)
        added.append(row)
    return added


def entries(
    session: Session,
    *,
    technician_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[LedgerEntryRow]:
    """List the technician's entries, newest first, optionally within ``[since, until)``."""
    query = select(LedgerEntryRow).where(LedgerEntryRow.technician_id == technician_id)
    if since is not None:
        query = query.where(LedgerEntryRow.created_at >= since)
    if until is not None:
        query = query.where(LedgerEntryRow.created_at < until)
    return list(session.scalars(query.order_by(LedgerEntryRow.id.desc()).limit(limit)))


def active_settlement_ids(session: Session, *, technician_id: str) -> set[int]:
    """Return the settlements whose earning stands (was not reversed by a correction)."""
    reversed_ids = select(LedgerEntryRow.reverses_entry_id).where(
        LedgerEntryRow.technician_id == technician_id,
        LedgerEntryRow.reverses_entry_id.is_not(None),
    )
    ids = session.scalars(
        select(LedgerEntryRow.settlement_id).where(
            LedgerEntryRow.technician_id == technician_id,
            LedgerEntryRow.kind == EntryKind.EARNING.value,
            LedgerEntryRow.id.not_in(reversed_ids),
        )
    )
    return {settlement_id for settlement_id in ids if settlement_id is not None}


def withdraw(
    session: Session,
    *,
    technician_id: str,
    amount: Money,
    now: datetime,
    actor_key_id: str | None,
    memo: str,
) -> tuple[list[LedgerEntryRow], Money]:
    """Append a withdrawal under the technician's lock; return its row and the new balance.

    Raises
    ------
    InsufficientBalance
        If ``amount`` exceeds the balance (as :meth:`settlement.Ledger.withdraw` decides).
    """
    before = load(session, technician_id=technician_id, for_update=True)
    after = before.ledger.withdraw(technician_id, amount, now)
    rows = append(session, before=before, after=after, actor_key_id=actor_key_id, memo=memo)
    return rows, after.balance(technician_id)
