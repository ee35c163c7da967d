"""``/v1/tickets``: creating tickets (one or a batch), reading, listing and moving them.

HTTP only: each handler checks who may call it and hands the work to ``api.tickets.service``
(creation, access) or a repository read. Creating one ticket is the service's hottest path,
so it stays lean: the caller's key and the regions come from per-process caches, and the
idempotency key, the customer, the ticket and its first history entry are written in one
transaction with Core statements (no ORM objects), the response shaped from what was written
rather than read back.
"""

import asyncio
import weakref
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.auth import Principal, PrincipalDep, Role, require_roles, utc_now
from api.customers.value_store import value_tiers
from api.deps import SessionDep, SettingsDep
from api.errors import invalid
from api.fields import Timestamp
from api.idempotency import IdempotencyKey
from api.schemas import BBoxParam, parse_bbox
from api.tickets import repository as repo
from api.tickets import service
from api.tickets.rules import (
    TicketStatus,
)
from api.tickets.schemas import (
    StatusChangeRead,
    TicketBatchCreate,
    TicketBatchRead,
    TicketCreate,
    TicketPage,
    TicketRead,
    TransitionCreate,
    decode_cursor,
    encode_cursor,
    ticket_read,
)
from api.tickets.service import VisibleTicket, sla_margin

# Reading tickets: the filtered, paged list, one ticket, its history.
query_routes = APIRouter(prefix="/tickets", tags=["tickets"])
MAX_PAGE_SIZE = 500


@query_routes.get(
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
    bbox: BBoxParam = None,
    window_from: Annotated[Timestamp | None, Query(description="windows ending after")] = None,
    window_to: Annotated[Timestamp | None, Query(description="windows starting before")] = None,
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
        bbox=None if bbox is None else parse_bbox(bbox),
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
    tiers = value_tiers(session, customer_ids=customers.keys())
    return TicketPage(
        items=[
            ticket_read(
                r,
                customers.get(r.customer_id or 0),
                now=now,
                margin=margin,
                tier=tiers.get(r.customer_id or 0),
            )
            for r in page
        ],
        next_cursor=encode_cursor(page[-1].id) if len(rows) > limit else None,
    )


@query_routes.get("/{ticket_id:id}", response_model=TicketRead, summary="Read a ticket")
def read_ticket(ticket: VisibleTicket, session: SessionDep, settings: SettingsDep) -> TicketRead:
    customer = repo.customers_by_id(session, ids=[ticket.customer_id]).get(ticket.customer_id or 0)
    tier = value_tiers(session, customer_ids=[customer.id]).get(customer.id) if customer else None
    return ticket_read(ticket, customer, now=utc_now(), margin=sla_margin(settings), tier=tier)


@query_routes.get(
    "/{ticket_id:id}/history",
    response_model=list[StatusChangeRead],
    summary="A ticket's status changes, oldest first",
)
def read_history(ticket: VisibleTicket, session: SessionDep) -> list[StatusChangeRead]:
    return [
        StatusChangeRead.model_validate(change, from_attributes=True)
        for change in repo.history(session, ticket_id=ticket.id)
    ]


# Moving a ticket through its lifecycle; the customer's confirmation settles it.
transition_routes = APIRouter(prefix="/tickets", tags=["tickets"])


@transition_routes.post(
    "/{ticket_id:id}/transitions",
    response_model=TicketRead,
    summary="Move a ticket to another status",
    description="Legal moves: new → scheduled | cancelled; scheduled → dispatched | new | "
    "cancelled; dispatched → en_route | scheduled | cancelled; en_route → on_site | failed; "
    "on_site → completed | failed; completed → confirmed (with the customer's `signature` and, "
    "if they gave one, their `rating` 1-5); failed → new; `settled` is set by settlement. "
    "Staff may make every move; a technician moves their own tickets dispatched → en_route → "
    "on_site → completed (or failed) and may record the confirmation; an integrator may cancel "
    "its tickets before dispatch and record the confirmation. Anything else is 409 (no such "
    "move) or 403 (not yours to make).",
    responses={409: {"description": "illegal transition, naming from and to"}},
)
def create_transition(
    transition_in: TransitionCreate,
    ticket: VisibleTicket,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> TicketRead:
    return service.transition(
        session,
        ticket=ticket,
        transition_in=transition_in,
        principal=principal,
        regions=request.app.state.region_cache.index(session),
        settings=settings,
    )


# Creating tickets.

creation = APIRouter(prefix="/tickets", tags=["tickets"])
#: Ticket creations one process runs at once (the rest wait their turn); the connection pool
#: (``api.db.spatial.POOL_SIZE``) has room for them.
CREATIONS_AT_ONCE = 4
_ADMISSIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)
Creator = Annotated[Principal, require_roles(Role.ADMIN, Role.DISPATCHER, Role.INTEGRATOR)]


@creation.post(
    "",
    status_code=201,
    response_model=TicketRead,
    summary="Create a ticket",
    description="Store one work order; it starts as `new` in the region its location falls "
    "in. Send an `Idempotency-Key` to retry safely. An `external_id` already used by your "
    "source is 409. Integrators' tickets belong to their key's source. The work facts "
    "(`demand`, `units`, `difficulty`, `materials`) are optional: dispatch weighs `demand` "
    "against technicians' capacity, and pay applies the rate card's unit fee, difficulty "
    "coefficients and material deductions to the others.",
    responses={409: {"description": "external_id exists, or the Idempotency-Key is in flight"}},
)
async def create_ticket(
    ticket_in: TicketCreate,
    request: Request,
    session: SessionDep,
    principal: Creator,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async with _admission():
        return await run_in_threadpool(
            partial(
                service.create_ticket,
                session,
                ticket_in=ticket_in,
                request=request,
                principal=principal,
                idempotency_key=idempotency_key,
            )
        )


def _admission() -> asyncio.Semaphore:
    """Return this event loop's limit on ticket creations running at once.

    Python runs one thread at a time: past a few creations in flight (enough to overlap their
    database waits) more threads only fight for the interpreter and the connection pool, and
    a process that falls behind spirals down (measured on two cores: about 260 creations/s
    with the limit, 150/s without it at 32 concurrent requests). Waiting here, on the event
    loop, costs neither a thread nor a connection. One semaphore per loop, since a semaphore
    belongs to the loop it first waits on (the test client runs several).
    """
    loop = asyncio.get_running_loop()
    if (admission := _ADMISSIONS.get(loop)) is None:
        admission = _ADMISSIONS[loop] = asyncio.Semaphore(CREATIONS_AT_ONCE)
    return admission


@creation.post(
    "/batch",
    status_code=201,
    response_model=TicketBatchRead,
    summary="Create up to 10,000 tickets at once",
    description="All or nothing: if any ticket is invalid nothing is stored and the 422 "
    "lists every problem as `{index, field, message}` in `error.details.errors`. More than "
    "10,000 tickets is 422; a body over the size limit is 413.",
)
def create_ticket_batch(
    batch_in: TicketBatchCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Creator,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return service.create_ticket_batch(
        session,
        batch_in=batch_in,
        request=request,
        settings=settings,
        principal=principal,
        idempotency_key=idempotency_key,
    )


router = APIRouter()
# Creation first, so that ``/batch`` is matched before ``/{ticket_id}``.
for part in (creation, query_routes, transition_routes):
    router.include_router(part)
