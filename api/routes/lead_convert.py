"""``POST /v1/leads/{id}/convert``: a lead becomes a ticket of the lead's source."""

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from api.auth import utc_now
from api.db.tables import LeadRow
from api.deps import SessionDep, SettingsDep
from api.errors import _field_path
from api.repositories import lead_capture as capture_repo
from api.repositories import leads as repo
from api.repositories import tickets as ticket_repo
from api.routes.lead_common import ReadableLead, Reader, lead_read
from api.schemas.leads import ConvertCreate, Converted
from api.schemas.tickets import TicketCreate

router = APIRouter(prefix="/leads", tags=["leads"])


def _conflict(code: str, message: str, **details: Any) -> HTTPException:
    return HTTPException(409, {"code": code, "message": message, "details": details})


def _invalid(errors: list[dict[str, Any]]) -> HTTPException:
    message = f"{errors[0]['field']}: {errors[0]['message']}"
    return HTTPException(
        422, {"code": "validation_error", "message": message, "details": {"errors": errors}}
    )


def _ticket_in(lead: LeadRow, convert_in: ConvertCreate, catalogue: list[str]) -> TicketCreate:
    """Fill the ticket from the lead where the body is silent, and validate it as a ticket."""
    given = convert_in.model_dump(exclude_unset=True, exclude_none=True)
    point = lead_read(lead, utc_now()).location
    fields: dict[str, Any] = {
        "external_id": f"lead-{lead.id}",
        "location": list(point) if point else None,
        "crs": "wgs84",
        "address": lead.address,
        "notes": lead.notes,
        "customer": _customer(lead),
        **given,
    }
    if "location" in given:
        fields["crs"] = convert_in.crs
    errors = [
        {"field": name, "message": f"the lead has no {name}: send one"}
        for name in ("location", "address")
        if fields.get(name) is None
    ]
    errors += [
        {"field": f"skills.{name}", "message": f"unknown skill {name!r}; known: {catalogue}"}
        for name in convert_in.skills
        if name not in catalogue
    ]
    if errors:
        raise _invalid(errors)
    try:
        return TicketCreate.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as err:
        raise _invalid(
            [{"field": _field_path(e["loc"]), "message": e["msg"]} for e in err.errors()]
        ) from err


def _customer(lead: LeadRow) -> dict[str, str | None]:
    return {
        "name": lead.name or lead.phone_e164 or lead.email or f"lead {lead.id}",
        "phone": lead.phone_e164,
        "email": lead.email,
    }


@router.post(
    "/{lead_id}/convert",
    status_code=201,
    response_model=Converted,
    summary="Convert a lead into a ticket",
    description="Creates a ticket (status `new`) of the lead's source from the lead's location, "
    "address, contact and notes plus the body (type, duration, skills, windows; any lead field "
    "may be overridden), and links the lead to it (`status: converted`). A rejected or already "
    "converted lead is 409. The ticket's `external_id` defaults to `lead-<id>`.",
)
def convert_lead(
    lead: ReadableLead,
    convert_in: ConvertCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
) -> Converted:
    if lead.status == "rejected":
        raise _conflict("lead_rejected", "a rejected lead cannot be converted")
    if lead.ticket_id is not None:
        raise _conflict("lead_converted", "the lead is already converted", ticket_id=lead.ticket_id)
    ticket_in = _ticket_in(lead, convert_in, settings.skill_catalogue)
    index = request.app.state.region_cache.index(session)
    place = capture_repo.locate(index, ticket_in.location, ticket_in.crs)
    existing = ticket_repo.existing_external_ids(
        session, source=lead.source, external_ids=[ticket_in.external_id]
    )
    if existing:
        message = f"source {lead.source!r} already has a ticket {ticket_in.external_id!r}"
        raise _conflict("ticket_exists", message, existing=existing)
    now = utc_now()
    try:
        [ticket] = ticket_repo.create_tickets(
            session,
            tickets=[_new_ticket(lead.source, ticket_in, place)],
            actor_key_id=principal.key_id,
            now=now,
        )
    except IntegrityError as err:  # a concurrent request took that external_id first
        message = f"source {lead.source!r} already has a ticket {ticket_in.external_id!r}"
        raise _conflict("ticket_exists", message) from err
    ticket_id = ticket.id
    repo.link_ticket(session, lead=lead, ticket_id=ticket_id, now=now)
    session.commit()
    return Converted(ticket_id=ticket_id, lead=lead_read(lead, now))


def _new_ticket(
    source: str, ticket_in: TicketCreate, place: capture_repo.Place
) -> ticket_repo.NewTicket:
    customer = ticket_in.customer
    return ticket_repo.NewTicket(
        source=source,
        external_id=ticket_in.external_id,
        type=ticket_in.type,
        lon=place.lon,
        lat=place.lat,
        region_id=place.region_id,
        address=ticket_in.address,
        duration_min=ticket_in.duration_min,
        skills=dict(ticket_in.skills),
        windows=list(ticket_in.time_windows),
        priority=ticket_in.priority,
        sla_due_at=ticket_in.sla_due_at,
        customer=ticket_repo.NewCustomer(customer.name, customer.phone, customer.email)
        if customer
        else None,
        notes=ticket_in.notes,
    )
