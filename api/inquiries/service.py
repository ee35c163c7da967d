"""Inquiries' use cases: who sees one, drafting a ticket for a new one, confirming it as a ticket.

A confirmed inquiry becomes a ticket through ``tickets.service.store_tickets``, the path every
ticket creation takes, and leaves what staff confirmed in ``inquiry_label``: the examples
``geodispatch inquiries train`` adds to the corpus.
"""

import base64
import binascii
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from api.auth import Principal, Role, require_roles, utc_now
from api.config import Settings
from api.db.tables import InquiryLabelRow, InquiryRow
from api.deps import SessionDep
from api.errors import ApiError, field_path, invalid
from api.fields import RowIdParam
from api.idempotency import run_idempotent
from api.inquiries import repository as repo
from api.inquiries.rules.text import language_of
from api.inquiries.schemas import (
    DraftRead,
    InquiryConfirm,
    InquiryConfirmed,
    InquiryCreate,
    InquiryRead,
    ModelRead,
    draft_read,
    inquiry_read,
)
from api.tickets import repository as ticket_repo
from api.tickets import service as ticket_service
from api.tickets.schemas import TicketCreate
from geo.coords import to_wgs84

if TYPE_CHECKING:
    from api.inquiries.rules.model import Example

Reader = Annotated[Principal, require_roles(Role.ADMIN, Role.DISPATCHER, Role.INTEGRATOR)]
Staff = Annotated[Principal, require_roles(Role.ADMIN, Role.DISPATCHER)]
#: The draft's parts staff may correct, as the ticket's fields are named.
LABELLED = ("type", "skills", "priority", "duration_min")


def inquiry_for_reader(
    inquiry_id: RowIdParam, session: SessionDep, principal: Reader
) -> InquiryRow:
    """Load an inquiry the caller may see: staff any, an integrator its source's (else 404)."""
    row = repo.get_inquiry(session, inquiry_id=inquiry_id)
    if row is None or (not principal.is_staff and row.source != principal.source):
        raise ApiError(404, "not_found", f"no inquiry {inquiry_id}")
    return row


ReadableInquiry = Annotated[InquiryRow, Depends(inquiry_for_reader)]


# A new inquiry: drafted by the model, located, stored.
def draft(settings: Settings, text: str) -> DraftRead:
    """Return the model's ticket draft for ``text`` (the first call loads or trains the model).

    The model's modules are imported here, not at the top: scikit-learn and SciPy take about a
    second to import, which the service's start-up does not pay.
    """
    from api.inquiries.model_store import store_for
    from api.inquiries.rules.model import predict

    store = store_for(settings)
    artefact = store.artefact()
    model = ModelRead(
        trained_at=artefact.trained_at,
        corpus_examples=artefact.corpus_examples,
        confirmed_labels=artefact.confirmed_labels,
    )
    return draft_read(predict(artefact.model, text, store.segment()), model)


def create_inquiry(
    session: Session,
    *,
    inquiry_in: InquiryCreate,
    request: Request,
    principal: Principal,
    idempotency_key: str | None,
) -> JSONResponse:
    """Draft a ticket for the inquiry and store both, once per idempotency key."""
    settings: Settings = request.app.state.settings

    def work() -> InquiryRead:
        lons, lats = to_wgs84(
            np.array([inquiry_in.location[0]]), np.array([inquiry_in.location[1]]), inquiry_in.crs
        )
        (region_id,) = request.app.state.region_cache.index(session).locate(lons, lats)
        contact = inquiry_in.contact
        row = repo.insert_inquiry(
            session,
            inquiry=repo.NewInquiry(
                source=ticket_service.source_of(principal),
                text=inquiry_in.text,
                language=language_of(inquiry_in.text),
                lon=float(lons[0]),
                lat=float(lats[0]),
                region_id=region_id,
                address=inquiry_in.address,
                contact_name=contact.name if contact else None,
                contact_phone=contact.phone if contact else None,
                contact_email=str(contact.email) if contact and contact.email else None,
                draft=draft(settings, inquiry_in.text).model_dump(mode="json"),
            ),
            actor_key_id=principal.key_id,
            now=utc_now(),
        )
        return inquiry_read(row)

    return run_idempotent(
        session,
        request=request,
        principal=principal,
        key=idempotency_key,
        body=inquiry_in,
        settings=settings,
        status_code=201,
        work=work,
    )


# Confirming: the draft, as it is or corrected, becomes a ticket and a label.
def confirm_inquiry(
    session: Session,
    *,
    inquiry: InquiryRow,
    confirm_in: InquiryConfirm,
    request: Request,
    principal: Principal,
) -> InquiryConfirmed:
    """Create the inquiry's ticket and keep what staff confirmed; an inquiry confirms once."""
    settings: Settings = request.app.state.settings
    locked = repo.get_inquiry(session, inquiry_id=inquiry.id, for_update=True)
    if locked is None:
        raise ApiError(404, "not_found", f"no inquiry {inquiry.id}")
    if locked.status == "confirmed":
        message = f"inquiry {locked.id} is already ticket {locked.ticket_id}"
        raise ApiError(409, "inquiry_confirmed", message, {"ticket_id": locked.ticket_id})
    drafted = _drafted(DraftRead.model_validate(locked.draft))
    given = confirm_in.model_dump(include=set(LABELLED), exclude_none=True)
    label = {**drafted, **given}
    ticket_in = _ticket_in(locked, confirm_in, label)
    if errors := ticket_service.input_errors(session, settings, [ticket_in], prefix=""):
        raise invalid(f"{errors[0]['field']}: {errors[0]['message']}", errors)
    taken = ticket_repo.existing_external_ids(
        session, source=locked.source, external_ids=[ticket_in.external_id]
    )
    if taken:
        raise ticket_service.ticket_exists(locked.source, taken)
    now = utc_now()
    index = request.app.state.region_cache.index(session)
    new = ticket_service.new_tickets(index, [ticket_in], locked.source)
    (stored,) = ticket_service.store_tickets(
        session, tickets=new, actor_key_id=principal.key_id, now=now
    )
    ticket_id = stored.id
    corrected = [name for name in LABELLED if label[name] != drafted[name]]
    repo.record_confirmation(
        session,
        inquiry=locked,
        label=InquiryLabelRow(
            inquiry_id=locked.id,
            text=locked.text,
            language=locked.language,
            corrected=corrected,
            confirmed_by_key_id=principal.key_id,
            created_at=now,
            **label,
        ),
        ticket_id=ticket_id,
        now=now,
    )
    session.commit()
    return InquiryConfirmed(ticket_id=ticket_id, corrected=corrected, inquiry=inquiry_read(locked))


def _drafted(draft: DraftRead) -> dict[str, Any]:
    return {
        "type": draft.type.value,
        "skills": {s.name: s.level for s in draft.skills},
        "priority": draft.priority.value,
        "duration_min": draft.duration_min.value,
    }


def _ticket_in(
    inquiry: InquiryRow, confirm_in: InquiryConfirm, label: dict[str, Any]
) -> TicketCreate:
    """Build the ticket from the inquiry, the label and the body; 422 naming what is missing."""
    address = confirm_in.address or inquiry.address
    if address is None:
        raise invalid(
            "address: the inquiry has no address: send one",
            [{"field": "address", "message": "the inquiry has no address: send one"}],
        )
    name = inquiry.contact_name or inquiry.contact_phone or inquiry.contact_email
    fields = {
        **label,
        "external_id": confirm_in.external_id or f"inquiry-{inquiry.id}",
        "location": list(inquiry_read(inquiry).location),
        "address": address,
        "time_windows": confirm_in.time_windows,
        "sla_due_at": confirm_in.sla_due_at,
        "notes": confirm_in.notes or inquiry.text[:2000],
        "customer": {
            "name": name or f"inquiry {inquiry.id}",
            "phone": inquiry.contact_phone,
            "email": inquiry.contact_email,
        },
    }
    try:
        return TicketCreate.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as err:
        errors = [{"field": field_path(e["loc"]), "message": e["msg"]} for e in err.errors()]
        raise invalid(f"{errors[0]['field']}: {errors[0]['message']}", errors) from err


# Listing, and the confirmed labels as training examples.
def encode_cursor(before_id: int) -> str:
    """Return the opaque cursor of the page after inquiry ``before_id`` (newest first)."""
    return base64.urlsafe_b64encode(f"i1:{before_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """Return the inquiry id a cursor continues before (422 naming ``cursor`` if not ours)."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        prefix, _, before = raw.partition(b":")
        if prefix != b"i1" or not before.isdigit():
            raise ValueError(cursor)
        return int(before)
    except (ValueError, binascii.Error) as err:
        raise invalid(
            "cursor: not a cursor this API returned",
            [{"field": "cursor", "in": "query", "message": "invalid cursor"}],
        ) from err


def confirmed_examples(session: Session, *, weight: float) -> list["Example"]:
    """Return the labels staff confirmed as training examples, each counted ``weight`` times."""
    from api.inquiries.rules.model import Example

    return [
        Example(
            text=row.text,
            type=row.type,
            skills=dict(row.skills),
            priority=row.priority,
            duration_min=row.duration_min,
            lang=row.language,
            weight=weight,
        )
        for row in repo.confirmed_labels(session)
    ]
