"""Reading tickets: the filtered, paged list, one ticket, its history."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import PrincipalDep, Role, utc_now
from api.deps import SessionDep, SettingsDep
from api.lifecycle import TicketStatus
from api.repositories import ticket_queries as repo
from api.routes.regions import parse_bbox
from api.routes.ticket_common import VisibleTicket, invalid, sla_margin
from api.schemas.ticket_pages import TicketPage, decode_cursor, encode_cursor
from api.schemas.ticket_transitions import StatusChangeRead
from api.schemas.tickets import TicketRead, ticket_read

router = APIRouter(prefix="/tickets", tags=["tickets"])  # part of ``api.routes.tickets``
MAX_PAGE_SIZE = 500


@router.get(
    "",
    response_model=TicketPage,
    summary="List tickets",
    description="Filter by status (repeatable), region, technician, bounding box, time-window "
    "overlap and SLA state; pages are in creation order, at most 500 tickets each. "
    "Integrators see their own source's tickets, technicians those assigned to them.",
)
def list_tickets(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    status: Annotated[list[TicketStatus] | None, Query(description="any of these")] = None,
    region_id: Annotated[str | None, Query(max_length=64)] = None,
    technician_id: Annotated[str | None, Query(max_length=64)] = None,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (WGS84)")] = None,
    window_from: Annotated[datetime | None, Query(description="windows ending after")] = None,
    window_to: Annotated[datetime | None, Query(description="windows starting before")] = None,
    sla: Annotated[repo.SlaFilter | None, Query(description="at_risk or overdue")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
) -> TicketPage:
    for name, value in (("window_from", window_from), ("window_to", window_to)):
        if value is not None and value.tzinfo is None:
            raise invalid(f"{name}: needs a UTC offset", [{"field": name, "message": "naive"}])
    where = repo.TicketFilter(
        source=principal.source if principal.role is Role.INTEGRATOR else None,
        technician_id=principal.technician_id
        if principal.role is Role.TECHNICIAN
        else technician_id,
        statuses=frozenset(status or ()),
        region_id=region_id,
        bbox=parse_bbox(bbox),
        window_from=window_from,
        window_to=window_to,
        sla=sla,
    )
    if principal.role is Role.TECHNICIAN and technician_id not in (None, principal.technician_id):
        return TicketPage(items=[], next_cursor=None)
    now, margin = utc_now(), sla_margin(settings)
    rows = repo.list_tickets(
        session,
        where=where,
        after_id=decode_cursor(cursor),
        limit=limit + 1,
        now=now,
        at_risk_margin=margin,
    )
    page = rows[:limit]
    customers = repo.customers_by_id(session, ids=(r.customer_id for r in page))
    return TicketPage(
        items=[
            ticket_read(r, customers.get(r.customer_id or 0), now=now, margin=margin) for r in page
        ],
        next_cursor=encode_cursor(page[-1].id) if len(rows) > limit else None,
    )


@router.get("/{ticket_id}", response_model=TicketRead, summary="Read a ticket")
def read_ticket(ticket: VisibleTicket, session: SessionDep, settings: SettingsDep) -> TicketRead:
    customer = repo.customers_by_id(session, ids=[ticket.customer_id]).get(ticket.customer_id or 0)
    return ticket_read(ticket, customer, now=utc_now(), margin=sla_margin(settings))


@router.get(
    "/{ticket_id}/history",
    response_model=list[StatusChangeRead],
    summary="A ticket's status changes, oldest first",
)
def read_history(ticket: VisibleTicket, session: SessionDep) -> list[StatusChangeRead]:
    return [
        StatusChangeRead.model_validate(change, from_attributes=True)
        for change in repo.history(session, ticket_id=ticket.id)
    ]
