"""Escalation and approval rules: the rules in force, what fired, and approving held tickets.

``GET /v1/escalations/rules`` shows the rules in force, ``GET /v1/escalations/firings`` every
recorded firing with its facts and actions (``?ticket_id=`` or ``?lead_id=``), and
``POST /v1/tickets/{id}/approval`` releases a ticket a rule holds from dispatch. Dispatching a
held ticket is refused with 409 ``approval_required`` (``api.tickets.service.transition``).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.auth import Principal, Role, require_roles, utc_now
from api.deps import SessionDep, SettingsDep
from api.errors import invalid_field
from api.escalations import repository as repo
from api.escalations import service
from api.escalations.schemas import (
    ApprovalCreate,
    ApprovalRead,
    EscalationRulesRead,
    FiringList,
    FiringRead,
)
from api.fields import RowIdParam
from api.tickets.service import VisibleTicket

router = APIRouter(tags=["escalations"])
StaffDep = Annotated[Principal, require_roles(Role.ADMIN, Role.DISPATCHER)]
APPROVAL_REFUSALS: dict[int | str, dict[str, Any]] = {
    409: {"description": "No escalation rule holds the ticket (`no_approval_required`)"},
}


@router.get(
    "/escalations/rules",
    response_model=EscalationRulesRead,
    summary="The escalation rules in force (staff)",
    description="Read from the versioned rules file; every firing records the version.",
)
def read_rules(_caller: StaffDep, settings: SettingsDep) -> EscalationRulesRead:
    return EscalationRulesRead.of(service.rules_in_force(settings))


@router.get(
    "/escalations/firings",
    response_model=FiringList,
    summary="Recorded firings of the escalation rules, newest first (staff)",
    description="Each with the facts that fired it and the actions taken. `ticket_id` or "
    "`lead_id` narrows the list to one subject.",
)
def list_firings(
    _caller: StaffDep,
    session: SessionDep,
    ticket_id: Annotated[RowIdParam | None, Query()] = None,
    lead_id: Annotated[RowIdParam | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> FiringList:
    if ticket_id is not None and lead_id is not None:
        raise invalid_field("lead_id", "give `ticket_id` or `lead_id`, not both", location="query")
    kind = "ticket" if ticket_id is not None else "lead" if lead_id is not None else None
    rows = repo.firings(session, subject_kind=kind, subject_id=ticket_id or lead_id, limit=limit)
    return FiringList(items=[FiringRead.of(row) for row in rows])


@router.post(
    "/tickets/{ticket_id}/approval",
    response_model=ApprovalRead,
    summary="Approve a ticket an escalation rule holds from dispatch (staff)",
    description="Approving an approved ticket again changes nothing.",
    responses=APPROVAL_REFUSALS,
)
def approve_ticket(
    caller: StaffDep, ticket: VisibleTicket, approval_in: ApprovalCreate, session: SessionDep
) -> ApprovalRead:
    return service.approve(
        session, ticket_id=ticket.id, approval_in=approval_in, key_id=caller.key_id, now=utc_now()
    )
