"""Adjustment requests in the database: stored pending, decided once, never deleted."""

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.db.tables import AdjustmentRequestRow
from settlement import Money

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"


def insert(
    session: Session,
    *,
    technician_id: str,
    amount: Money,
    memo: str,
    requested_by_key_id: str,
    now: datetime,
) -> AdjustmentRequestRow:
    """Store a pending request for ``amount`` (signed) with its reason."""
    row = AdjustmentRequestRow(
        technician_id=technician_id,
        amount_fen=amount.to_fen(),
        currency=amount.currency,
        memo=memo,
        status=PENDING,
        requested_by_key_id=requested_by_key_id,
        requested_at=now,
    )
    session.add(row)
    session.flush()
    return row


def get(
    session: Session, *, adjustment_id: int, for_update: bool = False
) -> AdjustmentRequestRow | None:
    """Return one request; with ``for_update`` lock its row and re-read it under the lock.

    The re-read matters on PostgreSQL: a request that waited for the lock must see the decision
    the one before it committed, not the copy it may have loaded before waiting.
    """
    query = select(AdjustmentRequestRow).where(AdjustmentRequestRow.id == adjustment_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalar(query)


def listing(
    session: Session,
    *,
    status: str | None,
    technician_id: str | None,
    before_id: int | None,
    limit: int,
) -> list[AdjustmentRequestRow]:
    """List requests newest first, optionally by status and technician, below ``before_id``."""
    query = select(AdjustmentRequestRow)
    if status is not None:
        query = query.where(AdjustmentRequestRow.status == status)
    if technician_id is not None:
        query = query.where(AdjustmentRequestRow.technician_id == technician_id)
    if before_id is not None:
        query = query.where(AdjustmentRequestRow.id < before_id)
    return list(session.scalars(query.order_by(AdjustmentRequestRow.id.desc()).limit(limit)))


def decide(
    session: Session,
    *,
    row: AdjustmentRequestRow,
    status: str,
    key_id: str,
    now: datetime,
    memo: str | None,
    ledger_entry_id: int | None = None,
) -> bool:
    """Record the decision on a pending request; False if it was no longer pending.

    The UPDATE names the pending status, so of two decisions only one can take effect even
    without the row lock the service holds.
    """
    done = session.execute(
        update(AdjustmentRequestRow)
        .where(AdjustmentRequestRow.id == row.id, AdjustmentRequestRow.status == PENDING)
        .values(
            status=status,
            decided_by_key_id=key_id,
            decided_at=now,
            decision_memo=memo,
            ledger_entry_id=ledger_entry_id,
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(row)
    return bool(getattr(done, "rowcount", 0) == 1)
