"""Leads' use cases: who may see a lead, rows shaped as responses, conversion into a ticket."""

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session

from shapely.geometry import Point

from api.auth import Principal, Role, require_roles, utc_now
from api.config import Settings
from api.customers.identity import link_people
from api.customers.rules import Person
from api.db.spatial import from_wkb
from api.db.tables import LeadNurtureStepRow, LeadOwnerRow, LeadRow, LeadTouchRow
from api.deps import SessionDep
from api.errors import ApiError, field_path, invalid
from api.fields import RowIdParam
from api.leads import repository as repo
from api.leads.repository import OPEN_STATUSES
from api.leads.rules.assignment import DEFAULT_ASSIGN, sla_state
from api.leads.rules.dedupe import DedupeParams
from api.leads.schemas import (
    BatchItemResult,
    ConvertCreate,
    Converted,
    FirstResponseRead,
    LeadBatchResult,
    LeadCreate,
    LeadDetail,
    LeadOwnerRead,
    LeadRead,
    NurtureStepRead,
    RejectionRead,
    ScoreLineRead,
    ScoreRead,
    TouchRead,
)
from api.tickets import repository as ticket_repo
from api.tickets import service as ticket_service
from api.tickets.schemas import TicketCreate
from geo.regions import RegionIndex

STAFF_SOURCE = "internal"  # the source of leads captured by staff, as for tickets
Reader = Annotated[Principal, require_roles(Role.ADMIN, Role.DISPATCHER, Role.INTEGRATOR)]
Staff = Annotated[Principal, require_roles(Role.ADMIN, Role.DISPATCHER)]


def lead_for_reader(lead_id: RowIdParam, session: SessionDep, principal: Reader) -> LeadRow:
    """Load a lead the caller may see: staff any, an integrator only its source's (else 404)."""
    row = repo.get_lead(session, lead_id=lead_id)
    if row is None or (not principal.is_staff and row.source != principal.source):
        raise ApiError(404, "not_found", f"no lead {lead_id}")
    return row


ReadableLead = Annotated[LeadRow, Depends(lead_for_reader)]


def lead_read(row: LeadRow, now: datetime) -> LeadRead:
    """Shape a lead, with its first-response flags as of ``now``."""
    point = from_wkb(row.location) if row.location is not None else None
    assert point is None or isinstance(point, Point), "lead.location holds POINTs"
    window = DEFAULT_ASSIGN.sla_by_band.get(row.score_band or "cold")
    state = sla_state(
        # A lead closed (rejected, converted) without a response has no deadline left to miss.
        due_at=row.first_response_due_at
        if row.status in OPEN_STATUSES or row.first_responded_at is not None
        else None,
        window=window or DEFAULT_ASSIGN.sla_by_band["cold"],
        responded_at=row.first_responded_at,
        now=now,
    )
    score = None
    if row.score is not None and row.score_band is not None:
        lines = [ScoreLineRead(**line) for line in row.score_lines]
        score = ScoreRead(total=row.score, band=row.score_band, lines=lines)  # type: ignore[arg-type]
    rejection = None
    if row.rejection_code is not None:
        rejection = RejectionRead(code=row.rejection_code, reason=row.rejection_reason or "")
    return LeadRead(
        id=row.id,
        source=row.source,
        external_id=row.external_id,
        channel=row.channel,  # type: ignore[arg-type]
        campaign=row.campaign,
        name=row.name,
        phone=row.phone_e164,
        email=row.email,
        product_line=row.product_line,
        address=row.address,
        notes=row.notes,
        location=(point.x, point.y) if point is not None else None,
        region_id=row.region_id,
        team=row.team,
        status=row.status,  # type: ignore[arg-type]
        rejection=rejection,
        score=score,
        owner_id=row.owner_id,
        assignment_reason=row.assignment_reason,
        first_response=FirstResponseRead(
            due_at=row.first_response_due_at,
            responded_at=row.first_responded_at,
            is_at_risk=state.is_at_risk,
            is_overdue=state.is_overdue,
        ),
        touch_count=row.touch_count,
        last_touched_at=row.last_touched_at,
        ticket_id=row.ticket_id,
        customer_id=row.customer_id,
        converted_at=row.converted_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def lead_detail(
    row: LeadRow,
    touches: list[LeadTouchRow],
    steps: list[LeadNurtureStepRow],
    now: datetime,
) -> LeadDetail:
    """Shape a lead with its touch history and nurture plan."""
    return LeadDetail(
        **lead_read(row, now).model_dump(),
        touches=[
            TouchRead.model_validate(
                {
                    "id": t.id,
                    "direction": t.direction,
                    "kind": t.kind,
                    "channel": t.channel,
                    "campaign": t.campaign,
                    "outcome": t.outcome,
                    "note": t.note,
                    "at": t.at,
                }
            )
            for t in touches
        ],
        nurture=[
            NurtureStepRead(seq=s.seq, day=s.day, kind=s.kind, due_at=s.due_at, done_at=s.done_at)
            for s in steps
        ],
    )


def owner_read(row: LeadOwnerRow, open_leads: int) -> LeadOwnerRead:
    """Shape a lead owner with its current open leads."""
    return LeadOwnerRead(
        id=row.id,
        name=row.name,
        team=row.team,
        product_lines=list(row.product_lines),
        max_open_leads=row.max_open_leads,
        is_active=row.is_active,
        open_leads=open_leads,
    )


# Conversion: a lead becomes a ticket of the lead's source.
def convert_lead(
    session: Session,
    *,
    lead: LeadRow,
    convert_in: ConvertCreate,
    index: RegionIndex,
    settings: Settings,
    actor_key_id: str,
) -> Converted:
    """Store the lead's ticket (through ``tickets.service.store_tickets``) and link the two."""
    if lead.status == "rejected":
        raise _conflict("lead_rejected", "a rejected lead cannot be converted")
    if lead.ticket_id is not None:
        raise _conflict("lead_converted", "the lead is already converted", ticket_id=lead.ticket_id)
    ticket_in = _ticket_in(lead, convert_in, settings.skill_catalogue)
    existing = ticket_repo.existing_external_ids(
        session, source=lead.source, external_ids=[ticket_in.external_id]
    )
    if existing:
        raise ticket_service.ticket_exists(lead.source, existing)
    now = utc_now()
    new = [
        replace(t, customer=replace(t.customer, known_id=lead.customer_id)) if t.customer else t
        for t in ticket_service.new_tickets(index, [ticket_in], lead.source)
    ]
    (stored,) = ticket_service.store_tickets(
        session, tickets=new, actor_key_id=actor_key_id, now=now
    )
    repo.link_ticket(session, lead=lead, ticket_id=stored.id, now=now)
    session.commit()
    return Converted(ticket_id=stored.id, lead=lead_read(lead, now))


def _conflict(code: str, message: str, **details: Any) -> ApiError:
    return ApiError(409, code, message, details)


def _invalid(errors: list[dict[str, Any]]) -> ApiError:
    return invalid(f"{errors[0]['field']}: {errors[0]['message']}", errors)


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
            [{"field": field_path(e["loc"]), "message": e["msg"]} for e in err.errors()]
        ) from err


def _customer(lead: LeadRow) -> dict[str, str | None]:
    return {
        "name": lead.name or lead.phone_e164 or lead.email or f"lead {lead.id}",
        "phone": lead.phone_e164,
        "email": lead.email,
    }


def _source(principal: Principal) -> str:
    return (
        principal.source if principal.role is Role.INTEGRATOR and principal.source else STAFF_SOURCE
    )


def capture(
    session: Session, request: Request, settings: Settings, principal: Principal,
    leads_in: list[LeadCreate],
) -> list[repo.Captured]:  # fmt: skip
    """Capture leads: clean, de-duplicate, locate, score, assign, nurture, link to customers."""
    now, source = utc_now(), _source(principal)
    captured = repo.capture_many(
        session,
        leads_in=leads_in,
        source=source,
        actor_key_id=principal.key_id,
        index=request.app.state.region_cache.index(session),
        now=now,
        dedupe=DedupeParams(window=timedelta(days=settings.lead_dedupe_window_days)),
    )
    _link_customers(session, source, list(zip(captured, leads_in, strict=True)), now)
    return captured


def _link_customers(
    session: Session, source: str, captures: list[tuple[repo.Captured, LeadCreate]], now: datetime
) -> None:
    """Link the leads that are not rejected to customers (a lead keeps the one it has)."""
    kept = [(c.lead, x) for c, x in captures if c.lead.status != "rejected"]
    people = [_person(lead, lead_in) for lead, lead_in in kept]
    customer_ids = link_people(session, source=source, people=people, now=now)
    for (lead, _), customer_id in zip(kept, customer_ids, strict=True):
        lead.customer_id = customer_id
    session.flush()


def _person(lead: LeadRow, lead_in: LeadCreate) -> Person:
    point = from_wkb(lead.location) if lead.location is not None else None
    assert point is None or isinstance(point, Point), "lead.location holds POINTs"
    return Person(
        lead.name, lead.phone_e164, lead.email, lead_in.member_id, lead_in.marketplace_buyer_id,
        lead_in.wechat_open_id, address=lead.address, lon=point.x if point else None,
        lat=point.y if point else None, known_id=lead.customer_id,
    )  # fmt: skip


def batch_result(captured: list[repo.Captured], lines: list[int] | None) -> LeadBatchResult:
    """Shape a batch's captures (``lines``: their CSV line numbers) with counts by outcome."""
    results = [
        BatchItemResult(
            index=i,
            row=lines[i] if lines else None,
            outcome=c.outcome,
            lead_id=c.lead.id,
            status=c.lead.status,
            rejection=None
            if c.lead.rejection_code is None
            else RejectionRead(code=c.lead.rejection_code, reason=c.lead.rejection_reason or ""),
        )
        for i, c in enumerate(captured)
    ]
    counts = {o: sum(r.outcome == o for r in results) for o in ("created", "merged", "rejected")}
    return LeadBatchResult.model_validate({**counts, "results": results})
