"""Four eyes: a large manual adjustment is booked only when a second admin approves it.

``POST /v1/earnings/{technician_id}/adjustments`` with an amount above
``GEODISPATCH_ADJUSTMENT_APPROVAL_AMOUNT`` either way stores a pending request
(:func:`request_adjustment`): no ledger entry, no change of balance. Another admin's key approves
it (:func:`approve`: the ledger entry is appended then, by the approver) or any admin rejects it
(:func:`reject`; the requester may so withdraw their own). The requesting key can never approve
(403 ``four_eyes_required``, also a CHECK constraint); a decided request is final (409
``adjustment_decided``, also a trigger), except that the same decision by the same key again is
answered as the first was, with nothing written. Deciding locks the request's row and re-reads
it, so of concurrent approvals exactly one appends the entry.
"""

from sqlalchemy.orm import Session

from api.adjustments import repository
from api.adjustments.repository import APPROVED, PENDING, REJECTED
from api.adjustments.schemas import AdjustmentRequestRead
from api.auth import utc_now
from api.db.tables import AdjustmentRequestRow
from api.earnings.schemas import MoneyRead
from api.errors import ApiError
from api.settlement import repository as settlement_repo
from settlement import Money


def request_read(row: AdjustmentRequestRow) -> AdjustmentRequestRead:
    """Shape one request."""
    return AdjustmentRequestRead(
        id=row.id,
        technician_id=row.technician_id,
        amount=MoneyRead.of_fen(row.amount_fen, row.currency),
        memo=row.memo,
        status=row.status,  # type: ignore[arg-type]  # the CHECK constraint keeps it to three
        requested_by_key_id=row.requested_by_key_id,
        requested_at=row.requested_at,
        decided_by_key_id=row.decided_by_key_id,
        decided_at=row.decided_at,
        decision_memo=row.decision_memo,
        ledger_entry_id=row.ledger_entry_id,
    )


def request_adjustment(
    session: Session, *, technician_id: str, amount: Money, memo: str, actor_key_id: str
) -> AdjustmentRequestRead:
    """Store a pending adjustment for a second admin to decide; nothing enters the ledger."""
    row = repository.insert(
        session,
        technician_id=technician_id,
        amount=amount,
        memo=memo,
        requested_by_key_id=actor_key_id,
        now=utc_now(),
    )
    read = request_read(row)
    session.commit()
    return read


def read_one(session: Session, *, adjustment_id: int) -> AdjustmentRequestRead:
    """Return one request (404 if there is none)."""
    return request_read(_found(repository.get(session, adjustment_id=adjustment_id), adjustment_id))


def approve(session: Session, *, adjustment_id: int, approver_key_id: str) -> AdjustmentRequestRead:
    """Approve a pending request with a key other than the requester's; book the adjustment."""
    row = _found(
        repository.get(session, adjustment_id=adjustment_id, for_update=True), adjustment_id
    )
    if row.requested_by_key_id == approver_key_id:
        raise ApiError(
            403,
            "four_eyes_required",
            f"adjustment request {row.id} must be approved by another admin than its requester",
            {"adjustment_id": row.id, "requested_by_key_id": row.requested_by_key_id},
        )
    if row.status == APPROVED and row.decided_by_key_id == approver_key_id:
        return request_read(row)  # a retry of this approval: it is booked already
    if row.status != PENDING:
        raise _decided(row)
    now = utc_now()
    before = settlement_repo.load(session, technician_id=row.technician_id, for_update=True)
    amount = Money.from_fen(row.amount_fen, row.currency)
    after = before.ledger.adjust(row.technician_id, amount, now, row.memo)
    (entry,) = settlement_repo.append(
        session, before=before, after=after, actor_key_id=approver_key_id
    )
    decided = repository.decide(
        session,
        row=row,
        status=APPROVED,
        key_id=approver_key_id,
        now=now,
        memo=None,
        ledger_entry_id=entry.id,
    )
    if not decided:  # unreachable under the row lock; raising rolls the entry back
        raise _decided(row)
    read = request_read(row)
    session.commit()
    return read


def reject(
    session: Session, *, adjustment_id: int, key_id: str, memo: str
) -> AdjustmentRequestRead:
    """Reject (or, by its requester, withdraw) a pending request; nothing is booked."""
    row = _found(
        repository.get(session, adjustment_id=adjustment_id, for_update=True), adjustment_id
    )
    if row.status == REJECTED and row.decided_by_key_id == key_id:
        return request_read(row)  # a retry of this rejection
    if row.status != PENDING:
        raise _decided(row)
    now = utc_now()
    if not repository.decide(session, row=row, status=REJECTED, key_id=key_id, now=now, memo=memo):
        raise _decided(row)
    read = request_read(row)
    session.commit()
    return read


def _found(row: AdjustmentRequestRow | None, adjustment_id: int) -> AdjustmentRequestRow:
    if row is None:
        raise ApiError(
            404,
            "not_found",
            f"no adjustment request {adjustment_id}",
            {"adjustment_id": adjustment_id},
        )
    return row


def _decided(row: AdjustmentRequestRow) -> ApiError:
    return ApiError(
        409,
        "adjustment_decided",
        f"adjustment request {row.id} is already {row.status}",
        {
            "adjustment_id": row.id,
            "status": row.status,
            "decided_by_key_id": row.decided_by_key_id,
            "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        },
    )
