"""``/v1/leads``: capture (single, batch, CSV), read and list, touches, owners, funnel, convert."""

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import AwareDatetime, Field

from api.auth import Principal, utc_now
from api.deps import SessionDep
from api.leads.model import Channel
from api.repositories import lead_capture as capture_repo
from api.repositories import leads as repo
from api.routes import lead_capture, lead_convert
from api.routes.lead_common import (
    ReadableLead,
    Reader,
    Staff,
    lead_detail,
    lead_read,
    owner_read,
)
from api.schemas.leads import (
    Funnel,
    FunnelRow,
    LeadDetail,
    LeadOwnerRead,
    LeadOwnerWrite,
    LeadPage,
    NurtureDueRead,
    TouchCreate,
)

reads = APIRouter(prefix="/leads", tags=["leads"])
MAX_PAGE = 200


def _parse_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit():
        detail = {
            "code": "validation_error",
            "message": "cursor: pass back the `next_cursor` of the previous page",
            "details": {"field": "cursor"},
        }
        raise HTTPException(422, detail)
    return int(cursor)


def _visible_source(principal: Principal, source: str | None) -> str | None:
    """Return the source a listing is limited to: an integrator's own, whatever it asks."""
    return source if principal.is_staff else principal.source


@reads.get(
    "",
    response_model=LeadPage,
    summary="List leads",
    description="Newest first, with filters; pass `next_cursor` back as `cursor` for the next "
    "page. Integrators see only their own source's leads. `is_overdue` / `is_at_risk` select "
    "unanswered leads past (or close to) their first-response deadline.",
)
def list_leads(
    session: SessionDep,
    principal: Reader,
    status: Annotated[
        Literal["new", "assigned", "contacted", "converted", "rejected"] | None, Query()
    ] = None,
    channel: Channel | None = None,
    campaign: Annotated[str | None, Query(max_length=128)] = None,
    owner_id: Annotated[str | None, Query(max_length=64)] = None,
    band: Literal["hot", "warm", "cold"] | None = None,
    region_id: Annotated[str | None, Query(max_length=64)] = None,
    source: Annotated[str | None, Query(max_length=64, description="staff only")] = None,
    is_overdue: bool | None = None,
    is_at_risk: bool | None = None,
    created_from: AwareDatetime | None = None,
    created_to: AwareDatetime | None = None,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> LeadPage:
    now = utc_now()
    where = repo.LeadFilter(
        source=_visible_source(principal, source), status=status,
        channel=channel.value if channel else None, campaign=campaign, owner_id=owner_id,
        band=band, region_id=region_id, is_overdue=is_overdue, is_at_risk=is_at_risk,
        created_from=created_from, created_to=created_to,
    )  # fmt: skip
    rows = repo.list_leads(
        session, where=where, after_id=_parse_cursor(cursor), limit=limit + 1, now=now
    )
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return LeadPage(items=[lead_read(r, now) for r in rows[:limit]], next_cursor=next_cursor)


@reads.get(
    "/funnel",
    response_model=Funnel,
    summary="Funnel counts by channel (or channel and campaign)",
    description="Per channel: leads captured (not rejected), rejected, contacted, converted "
    "into a ticket, tickets completed (completed, confirmed or settled) and paid (settled). "
    "`created_from`/`created_to` bound the leads' capture time. Integrators see their own.",
)
def funnel(
    session: SessionDep,
    principal: Reader,
    group_by: Literal["channel", "campaign"] = "channel",
    source: Annotated[str | None, Query(max_length=64, description="staff only")] = None,
    created_from: AwareDatetime | None = None,
    created_to: AwareDatetime | None = None,
) -> Funnel:
    counted = repo.funnel(
        session, source=_visible_source(principal, source), by_campaign=group_by == "campaign",
        created_from=created_from, created_to=created_to,
    )  # fmt: skip
    numbers = ("leads", "rejected", "contacted", "tickets", "completed", "paid")
    rows = [
        FunnelRow.model_validate({"campaign": None, **r, **{n: r[n] or 0 for n in numbers}})
        for r in counted
    ]
    sums = {n: sum(getattr(r, n) for r in rows) for n in numbers}
    totals = FunnelRow.model_validate({"channel": "all", "campaign": None, **sums})
    return Funnel(group_by=group_by, rows=rows, totals=totals)


@reads.get(
    "/nurture/due",
    response_model=list[NurtureDueRead],
    summary="Nurture touches due now (a salesperson's to-do list)",
    description="Planned touches of open leads that are due by `before` (default: now) and "
    "not yet done, earliest first; recording a touch of that kind ticks the step off.",
)
def nurture_due(
    session: SessionDep,
    principal: Reader,
    owner_id: Annotated[str | None, Query(max_length=64)] = None,
    before: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> list[NurtureDueRead]:
    rows = repo.due_steps(
        session, source=_visible_source(principal, None), owner_id=owner_id,
        before=before or utc_now(), limit=limit,
    )  # fmt: skip
    return [
        NurtureDueRead(
            lead_id=lead.id,
            owner_id=lead.owner_id,
            name=lead.name,
            phone=lead.phone_e164,
            email=lead.email,
            band=lead.score_band,
            seq=step.seq,
            day=step.day,
            kind=step.kind,
            due_at=step.due_at,
        )
        for step, lead in rows
    ]


@reads.get("/owners", response_model=list[LeadOwnerRead], summary="List lead owners")
def list_owners(session: SessionDep, _principal: Staff) -> list[LeadOwnerRead]:
    return [owner_read(row, n) for row, n in repo.list_owners(session)]


@reads.put(
    "/owners/{owner_id}",
    response_model=LeadOwnerRead,
    summary="Create or replace a lead owner",
    description="Owners receive leads of their territory `team` (a region attribute) and "
    "product lines, least loaded first; an inactive owner receives none.",
)
def put_owner(
    owner_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")],
    owner_in: LeadOwnerWrite,
    response: Response,
    session: SessionDep,
    _principal: Staff,
) -> LeadOwnerRead:
    row, is_new = repo.upsert_owner(session, owner_id=owner_id, owner_in=owner_in, now=utc_now())
    session.commit()
    response.status_code = 201 if is_new else 200
    return owner_read(row, capture_repo.open_leads_by_owner(session).get(row.id, 0))


@reads.get("/{lead_id}", response_model=LeadDetail, summary="Read a lead with its history")
def read_lead(lead: ReadableLead, session: SessionDep) -> LeadDetail:
    touches = repo.touches(session, lead_id=lead.id)
    return lead_detail(lead, touches, repo.nurture_steps(session, lead_id=lead.id), utc_now())


@reads.post(
    "/{lead_id}/touches",
    status_code=201,
    response_model=LeadDetail,
    summary="Record a touch (call, SMS, e-mail, visit, note)",
    description="The first call, SMS, e-mail or visit answers the first-response SLA and moves "
    "the lead to `contacted`; it also ticks off the next planned nurture step of its kind.",
)
def record_touch(
    lead: ReadableLead, touch_in: TouchCreate, session: SessionDep, principal: Reader
) -> LeadDetail:
    now = utc_now()
    if lead.status == "rejected":
        detail = {"code": "lead_rejected", "message": "a rejected lead takes no touches",
                  "details": {"rejection": lead.rejection_code}}  # fmt: skip
        raise HTTPException(409, detail)
    repo.record_touch(session, lead=lead, touch_in=touch_in, actor_key_id=principal.key_id, now=now)
    session.commit()
    touches = repo.touches(session, lead_id=lead.id)
    return lead_detail(lead, touches, repo.nurture_steps(session, lead_id=lead.id), now)


router = APIRouter()
for part in (lead_capture.router, reads, lead_convert.router):
    router.include_router(part)
