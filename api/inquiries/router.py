"""``/v1/inquiries``: a customer's words in, a ticket draft out; staff confirm it as a ticket.

HTTP only: each handler checks who may call it and hands the work to ``api.inquiries.service``.
The handlers are sync: drafting runs the text model, CPU work that must not hold the event loop.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.deps import SessionDep
from api.idempotency import IdempotencyKey
from api.inquiries import repository as repo
from api.inquiries import service
from api.inquiries.schemas import (
    InquiryConfirm,
    InquiryConfirmed,
    InquiryCreate,
    InquiryPage,
    InquiryRead,
    inquiry_read,
)
from api.inquiries.service import ReadableInquiry, Reader, Staff

router = APIRouter(prefix="/inquiries", tags=["inquiries"])
MAX_PAGE_SIZE = 200


@router.post(
    "",
    status_code=201,
    response_model=InquiryRead,
    summary="Submit an inquiry and get a ticket draft",
    description="Stores the customer's text (Chinese, English or both; 1-10,000 characters) "
    "with the location and contact, and answers a ticket draft: type, required skills with "
    "levels, priority and estimated duration, each with the model's confidence and the words "
    "of the text that decided it. Phone numbers and other digits in the text are masked before "
    "the model reads it. Staff confirm the draft into a ticket with `POST /{id}/confirm`. "
    "Integrators' inquiries belong to their key's source. `Idempotency-Key` makes retries safe.",
)
def create(
    inquiry_in: InquiryCreate,
    request: Request,
    session: SessionDep,
    principal: Reader,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return service.create_inquiry(
        session,
        inquiry_in=inquiry_in,
        request=request,
        principal=principal,
        idempotency_key=idempotency_key,
    )


@router.get(
    "",
    response_model=InquiryPage,
    summary="List inquiries",
    description="Newest first, at most 200 a page; integrators see their own source's.",
)
def list_inquiries(
    session: SessionDep,
    principal: Reader,
    status: Annotated[Literal["open", "confirmed"] | None, Query()] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> InquiryPage:
    rows = repo.list_inquiries(
        session,
        source=None if principal.is_staff else principal.source,
        status=status,
        before_id=service.decode_cursor(cursor),
        limit=limit + 1,
    )
    page = rows[:limit]
    return InquiryPage(
        items=[inquiry_read(r) for r in page],
        next_cursor=service.encode_cursor(page[-1].id) if len(rows) > limit else None,
    )


@router.get("/{inquiry_id:id}", response_model=InquiryRead, summary="Read an inquiry")
def read(inquiry: ReadableInquiry) -> InquiryRead:
    return inquiry_read(inquiry)


@router.post(
    "/{inquiry_id:id}/confirm",
    status_code=201,
    response_model=InquiryConfirmed,
    summary="Confirm an inquiry's draft as a ticket, as it is or corrected",
    description="Creates the ticket (status `new`, of the inquiry's source) from the draft and "
    "the inquiry's location, address and contact; any of `type`, `skills`, `priority`, "
    "`duration_min` in the body replaces the draft's (the corrections are kept as training "
    "data for the model), and `address`, `external_id` (default `inquiry-<id>`), "
    "`time_windows`, `sla_due_at` and `notes` complete the ticket. An inquiry is confirmed "
    "once: again is 409.",
    responses={409: {"description": "already confirmed, or the external_id exists"}},
)
def confirm(
    confirm_in: InquiryConfirm,
    inquiry: ReadableInquiry,
    request: Request,
    session: SessionDep,
    principal: Staff,
) -> InquiryConfirmed:
    return service.confirm_inquiry(
        session, inquiry=inquiry, confirm_in=confirm_in, request=request, principal=principal
    )
