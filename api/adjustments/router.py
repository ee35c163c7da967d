"""``/v1/adjustments``: large manual adjustments waiting for a second admin (four eyes).

A request is made by ``POST /v1/earnings/{technician_id}/adjustments`` with an amount above
``GEODISPATCH_ADJUSTMENT_APPROVAL_AMOUNT`` (answered 202 with the pending request).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.adjustments import service
from api.adjustments.repository import listing
from api.adjustments.schemas import (
    AdjustmentRejection,
    AdjustmentRequestList,
    AdjustmentRequestRead,
    AdjustmentStatus,
)
from api.auth import Principal, Role, require_roles
from api.deps import SessionDep
from api.fields import RowIdParam

router = APIRouter(prefix="/adjustments", tags=["adjustments"])
AdminDep = Annotated[Principal, require_roles(Role.ADMIN)]
DECIDED: dict[int | str, dict[str, Any]] = {
    409: {"description": "Already decided otherwise (`adjustment_decided`)"}
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such adjustment request"}}


@router.get(
    "",
    response_model=AdjustmentRequestList,
    summary="Adjustment requests, newest first (admin)",
    description=(
        "The approval queue is `?status=pending`. Pages: pass the last id seen as `before_id`."
    ),
)
def list_adjustments(
    _admin: AdminDep,
    session: SessionDep,
    status: Annotated[AdjustmentStatus | None, Query(description="only this status")] = None,
    technician_id: Annotated[
        str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$", description="only theirs")
    ] = None,
    before_id: Annotated[RowIdParam | None, Query(description="ids below this one")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AdjustmentRequestList:
    rows = listing(
        session, status=status, technician_id=technician_id, before_id=before_id, limit=limit
    )
    return AdjustmentRequestList(items=[service.request_read(row) for row in rows])


@router.get(
    "/{adjustment_id:int}",
    response_model=AdjustmentRequestRead,
    summary="One adjustment request and its decision (admin)",
    responses=NOT_FOUND,
)
def read_adjustment(
    adjustment_id: RowIdParam, _admin: AdminDep, session: SessionDep
) -> AdjustmentRequestRead:
    return service.read_one(session, adjustment_id=adjustment_id)


@router.post(
    "/{adjustment_id:int}/approve",
    response_model=AdjustmentRequestRead,
    summary="Approve a pending adjustment: a second admin books it",
    description=(
        "Appends the adjustment to the technician's ledger, with this key as its actor, and "
        "records who approved it and when. The key that requested it may not approve it: 403 "
        "`four_eyes_required`. A request already decided is 409 `adjustment_decided`, except "
        "that approving again with the key that approved it answers 200 with the request as it "
        "is (nothing is booked twice). Of concurrent approvals exactly one books the entry."
    ),
    responses={
        403: {"description": "Not an admin, or the requester's own key (`four_eyes_required`)"},
        **NOT_FOUND,
        **DECIDED,
    },
)
def approve_adjustment(
    adjustment_id: RowIdParam, principal: AdminDep, session: SessionDep
) -> AdjustmentRequestRead:
    return service.approve(session, adjustment_id=adjustment_id, approver_key_id=principal.key_id)


@router.post(
    "/{adjustment_id:int}/reject",
    response_model=AdjustmentRequestRead,
    summary="Reject a pending adjustment (or withdraw one's own)",
    description=(
        "Nothing is booked. Any admin may reject, the requester included (a withdrawal). A "
        "request already decided is 409 `adjustment_decided`, except that rejecting again with "
        "the key that rejected it answers 200 with the request as it is."
    ),
    responses={**NOT_FOUND, **DECIDED},
)
def reject_adjustment(
    adjustment_id: RowIdParam,
    rejection_in: AdjustmentRejection,
    principal: AdminDep,
    session: SessionDep,
) -> AdjustmentRequestRead:
    return service.reject(
        session, adjustment_id=adjustment_id, key_id=principal.key_id, memo=rejection_in.memo
    )
