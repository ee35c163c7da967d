"""What the lead routes share: roles, the lead-access check, and rows shaped as responses."""

from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException

from shapely.geometry import Point

from api.auth import Principal, Role, require_roles
from api.db.spatial import from_wkb
from api.db.tables import LeadNurtureStepRow, LeadOwnerRow, LeadRow, LeadTouchRow
from api.deps import SessionDep
from api.leads.assignment import DEFAULT_ASSIGN, sla_state
from api.repositories import leads as repo
from api.repositories.lead_capture import OPEN_STATUSES
from api.schemas.leads import (
    FirstResponseRead,
    LeadDetail,
    LeadOwnerRead,
    LeadRead,
    NurtureStepRead,
    RejectionRead,
    ScoreLineRead,
    ScoreRead,
    TouchRead,
)

STAFF_SOURCE = "internal"  # the source of leads captured by staff, as for tickets
Reader = Annotated[Principal, require_roles(Role.ADMIN, Role.DISPATCHER, Role.INTEGRATOR)]
Staff = Annotated[Principal, require_roles(Role.ADMIN, Role.DISPATCHER)]


def lead_for_reader(lead_id: int, session: SessionDep, principal: Reader) -> LeadRow:
    """Load a lead the caller may see: staff any, an integrator only its source's (else 404)."""
    row = repo.get_lead(session, lead_id=lead_id)
    if row is None or (not principal.is_staff and row.source != principal.source):
        detail = {"code": "not_found", "message": f"no lead {lead_id}", "details": {}}
        raise HTTPException(404, detail)
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
