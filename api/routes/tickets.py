"""``/v1/tickets``: creating tickets (one or a batch); reading and moving them are included.

Creating one ticket is the service's hottest path, so it stays lean: the caller's key and the
regions come from per-process caches, and the idempotency key, the customer, the ticket and
its first history entry are written in one transaction with Core statements (no ORM objects),
the response shaped from what was written rather than read back.
"""

import asyncio
import weakref
from collections import Counter
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.auth import Principal, Role, require_roles, utc_now
from api.deps import SessionDep, SettingsDep
from api.idempotency import (
    IdempotencyKey,
    fingerprint,
    in_flight,
    key_expiry,
    maybe_purge,
    replay,
    run_idempotent,
)
from api.lifecycle import TicketStatus
from api.repositories import ticket_creation as repo
from api.repositories import ticket_keyed
from api.routes import ticket_queries, ticket_transitions
from api.routes.ticket_common import invalid, sla_margin, source_of
from api.routes.ticket_input import input_errors, new_tickets
from api.schemas.tickets import (
    TicketBatchCreate,
    TicketBatchRead,
    TicketCreate,
    TicketCreated,
    TicketRead,
    created_read,
)

if TYPE_CHECKING:
    from api.config import Settings

creation = APIRouter(prefix="/tickets", tags=["tickets"])
#: Ticket creations one process runs at once (the rest wait their turn); the connection pool
#: (``api.db.spatial.POOL_SIZE``) has room for them.
CREATIONS_AT_ONCE = 4
_ADMISSIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)
Creator = Annotated[Principal, require_roles(Role.ADMIN, Role.DISPATCHER, Role.INTEGRATOR)]


def _exists(source: str, duplicates: dict[str, int]) -> HTTPException:
    ids = ", ".join(sorted(duplicates)[:10])
    return HTTPException(
        409,
        {
            "code": "ticket_exists",
            "message": f"source {source!r} already has tickets with external_id: {ids}",
            "details": {"existing": duplicates},
        },
    )


def _refuse_existing(session: Session, err: IntegrityError, new: list[repo.NewTicket]) -> None:
    """Answer a unique violation: that external_id exists, or a concurrent request beat us."""
    session.rollback()
    found = repo.existing_external_ids(
        session, source=new[0].source, external_ids=[t.external_id for t in new]
    )
    raise _exists(new[0].source, found) from err


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
            _create_ticket, ticket_in, request, session, principal, idempotency_key
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


def _create_ticket(
    ticket_in: TicketCreate,
    request: Request,
    session: Session,
    principal: Principal,
    idempotency_key: str | None,
) -> JSONResponse:
    # The app's settings without the SettingsDep dependency: on the hottest route, each
    # dependency costs FastAPI's resolver, and a sync one a trip to the thread pool.
    settings: Settings = request.app.state.settings
    if errors := input_errors(session, settings, [ticket_in], prefix=""):
        raise invalid(f"{errors[0]['field']}: {errors[0]['message']}", errors)
    source = source_of(principal)
    if idempotency_key is not None and session.get_bind().dialect.name == "postgresql":
        keyed = _create_keyed(session, request, principal, ticket_in, idempotency_key, source)
        if keyed is not None:
            return keyed

    def work() -> TicketRead:
        now = utc_now()
        (new,) = new_tickets(request, session, [ticket_in], source)
        try:
            ticket_id = repo.insert_ticket(
                session, ticket=new, actor_key_id=principal.key_id, now=now
            )
        except IntegrityError as err:
            _refuse_existing(session, err, [new])
        return created_read(ticket_id, new, now=now, margin=sla_margin(settings))

    return run_idempotent(
        session,
        request=request,
        principal=principal,
        key=idempotency_key,
        body=ticket_in,
        settings=settings,
        status_code=201,
        work=work,
    )


def _create_keyed(
    session: Session,
    request: Request,
    principal: Principal,
    ticket_in: TicketCreate,
    key: str,
    source: str,
) -> JSONResponse | None:
    """Create a ticket under ``key`` in one PostgreSQL statement (``ticket_keyed``).

    Same answers as ``run_idempotent``, in one round trip instead of five. ``None`` hands the
    rare cases to it: the key expired, or a unique index refused a row (the external id is
    taken, or a concurrent request stored the key after this statement's snapshot).
    """
    settings: Settings = request.app.state.settings
    fp = fingerprint(request=request, principal=principal, key=key, body=ticket_in)
    now = utc_now()
    (new,) = new_tickets(request, session, [ticket_in], source)
    answer = created_read(0, new, now=now, margin=sla_margin(settings)).model_dump(mode="json")
    maybe_purge(session)
    try:
        outcome = ticket_keyed.insert_ticket_keyed(
            session,
            ticket=new,
            actor_key_id=principal.key_id,
            now=now,
            fp=fp,
            expires_at=key_expiry(now, settings),
            response_status=201,
            answer=answer,
        )
    except IntegrityError:
        session.rollback()
        return None
    if not outcome.is_held:
        raise in_flight(key)
    if outcome.stored is not None:
        expired = outcome.stored_expires_at is not None and outcome.stored_expires_at <= now
        return None if expired else replay(outcome.stored, fp, key)
    session.commit()
    return JSONResponse(status_code=201, content={**answer, "id": outcome.ticket_id})


def _batch_errors(
    session: Session, tickets: list[TicketCreate], source: str, errors: list[dict[str, object]]
) -> None:
    """Refuse the batch (422 listing every problem) if it has any, stored ids included."""
    found = repo.existing_external_ids(
        session, source=source, external_ids=list({t.external_id for t in tickets})
    )
    errors = errors + [
        {"index": i, "field": f"tickets[{i}].external_id", "message": "already exists"}
        for i, t in enumerate(tickets)
        if t.external_id in found
    ]
    if errors:
        errors.sort(key=lambda e: int(str(e["index"])))
        first = errors[0]
        message = f"{len(errors)} problem(s); first: {first['field']}: {first['message']}"
        raise invalid(message, errors)


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
    tickets, source = batch_in.tickets, source_of(principal)
    errors = input_errors(session, settings, tickets, prefix="tickets[{i}].")
    seen = Counter(t.external_id for t in tickets)
    errors += [
        {"index": i, "field": f"tickets[{i}].external_id", "message": "repeated in this batch"}
        for i, t in enumerate(tickets)
        if seen[t.external_id] > 1
    ]

    def work() -> TicketBatchRead:
        _batch_errors(session, tickets, source, errors)
        new = new_tickets(request, session, tickets, source)
        try:
            ids = repo.insert_tickets(
                session, tickets=new, actor_key_id=principal.key_id, now=utc_now()
            )
        except IntegrityError as err:
            _refuse_existing(session, err, new)
        created = [
            TicketCreated(
                id=id_, external_id=t.external_id, region_id=t.region_id, status=TicketStatus.NEW
            )
            for id_, t in zip(ids, new, strict=True)
        ]
        return TicketBatchRead(count=len(created), tickets=created)

    return run_idempotent(
        session,
        request=request,
        principal=principal,
        key=idempotency_key,
        body=batch_in,
        settings=settings,
        status_code=201,
        work=work,
    )


router = APIRouter()
# Creation first, so that ``/batch`` is matched before ``/{ticket_id}``.
for part in (creation, ticket_queries.router, ticket_transitions.router):
    router.include_router(part)
