"""The ledger in the database: rows in, ``settlement.Ledger`` values out, new entries appended.

The rules (idempotent earnings, corrections as reversal plus new earning, no withdrawal beyond
the balance) live in :class:`settlement.Ledger`. This module loads one technician's entries into
a ``Ledger``, lets the caller extend it, and INSERTs exactly the entries that were added. There
is no UPDATE or DELETE of a ledger row anywhere.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.tables import LedgerEntryRow, SettlementRow, TechnicianRow
from settlement import EntryKind, Ledger, LedgerEntry, LedgerError, Money

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
