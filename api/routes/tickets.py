from collections import Counter
from datetime import datetime, timedelta
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from api.auth import Principal, PrincipalDep, Role, require_roles, utc_now
from api.db.tables import CustomerRow, TechnicianRow, TicketRow
from api.deps import SessionDep, SettingsDep
from api.idempotency import IdempotencyKey, run_idempotent
from api.lifecycle import Actor, TicketStatus, TransitionError, TransitionNotPermitted
from api.repositories import tickets as repo
from api.routes.regions import parse_bbox
from api.schemas.tickets import (
    StatusChangeRead,
    TicketBatchCreate,
    TicketBatchRead,
    TicketCreate,
    TicketCreated,
    TicketPage,
    TicketRead,
    TransitionCreate,
    decode_cursor,
    encode_cursor,
    ticket_read,
)
from api.settling import try_settle
from geo.coords import to_wgs84

router = APIRouter(prefix="/tickets", tags=["tickets"])
CREATORS = require_roles(Role.ADMIN, Role.DISPATCHER, Role.INTEGRATOR)
STAFF_SOURCE = "internal"  # source of tickets created by staff rather than an integrator
MAX_PAGE_SIZE = 500


def source_of(principal: Principal) -> str:
    """Return the source a caller's new tickets belong to."""
    return principal.source or STAFF_SOURCE


def actor_of(principal: Principal) -> Actor:
    """Return the state-machine actor behind a principal."""
    if principal.is_staff:
        return Actor.STAFF
    return Actor.TECHNICIAN if principal.role is Role.TECHNICIAN else Actor.INTEGRATOR


def is_visible(principal: Principal, ticket: TicketRow) -> bool:
    """Staff see every ticket, a technician those assigned to them, an integrator its own."""
    if principal.is_staff:
        return True
    if principal.role is Role.TECHNICIAN:
        return ticket.technician_id is not None and ticket.technician_id == principal.technician_id
    return principal.role is Role.INTEGRATOR and ticket.source == principal.source


def visible_ticket(ticket_id: int, session: SessionDep, principal: PrincipalDep) -> TicketRow:
    """Load a ticket the caller may see; 404 otherwise, so others' ids reveal nothing."""
    ticket = repo.get_ticket(session, ticket_id=ticket_id)
    if ticket is None or not is_visible(principal, ticket):
        detail = {"code": "not_found", "message": f"no ticket {ticket_id}", "details": {}}
        raise HTTPException(404, detail)
    return ticket


VisibleTicket = Annotated[TicketRow, Depends(visible_ticket)]


def _invalid(message: str, errors: list[dict[str, Any]]) -> HTTPException:
    return HTTPException(
        422, {"code": "validation_error", "message": message, "details": {"errors": errors}}
    )


def _skill_errors(
    tickets: list[TicketCreate], catalogue: list[str], prefix: str
) -> list[dict[str, Any]]:
    known = set(catalogue)
    return [
        {
            "index": i,
            "field": f"{prefix.format(i=i)}skills.{name}",
            "message": f"unknown skill {name!r}; known: {', '.join(catalogue)}",
        }
        for i, ticket in enumerate(tickets)
        for name in ticket.skills
        if name not in known
    ]


def _new_tickets(
    request: Request, session: SessionDep, tickets: list[TicketCreate], source: str
) -> list[repo.NewTicket]:
    """Convert positions to WGS84 (vectorised per datum) and locate their regions."""
    lons = np.array([t.location[0] for t in tickets])
    lats = np.array([t.location[1] for t in tickets])
    for crs in {t.crs for t in tickets} - {"wgs84"}:
        mask = np.array([t.crs == crs for t in tickets])
        lons[mask], lats[mask] = to_wgs84(lons[mask], lats[mask], crs)
    regions = request.app.state.region_cache.index(session).locate(lons, lats)
    return [
        repo.NewTicket(
            source=source,
            external_id=t.external_id,
            type=t.type,
            lon=float(lon),
            lat=float(lat),
            region_id=region,
            address=t.address,
            duration_min=t.duration_min,
            skills=dict(t.skills),
            windows=list(t.time_windows),
            priority=t.priority,
            sla_due_at=t.sla_due_at,
            customer=None
            if t.customer is None
            else repo.NewCustomer(t.customer.name, t.customer.phone, t.customer.email),
            notes=t.notes,
        )
        for t, lon, lat, region in zip(tickets, lons, lats, regions, strict=True)
    ]


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


def _insert(
    session: SessionDep, new: list[repo.NewTicket], principal: Principal, now: datetime
) -> list[TicketRow]:
    try:
        return repo.create_tickets(session, tickets=new, actor_key_id=principal.key_id, now=now)
    except IntegrityError as err:  # that external_id exists, or a concurrent request beat us
        session.rollback()
        found = repo.existing_external_ids(
            session, source=new[0].source, external_ids=[t.external_id for t in new]
        )
        raise _exists(new[0].source, found) from err


@router.post(
    "",
    status_code=201,
    response_model=TicketRead,
    summary="Create a ticket",
    description="Store one work order; it starts as `new` in the region its location falls "
    "in. Send an `Idempotency-Key` to retry safely. An `external_id` already used by your "
    "source is 409. Integrators' tickets belong to their key's source.",
    responses={409: {"description": "external_id exists, or the Idempotency-Key is in flight"}},
    dependencies=[CREATORS],
)
def create_ticket(
    ticket_in: TicketCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    if errors := _skill_errors([ticket_in], settings.skill_catalogue, ""):
        raise _invalid(f"{errors[0]['field']}: {errors[0]['message']}", errors)
    source = source_of(principal)

    def work() -> TicketRead:
        now = utc_now()
        new = _new_tickets(request, session, [ticket_in], source)
        (row,) = _insert(session, new, principal, now)
        customer = None if (c := ticket_in.customer) is None else CustomerRow(**c.model_dump())
        margin = timedelta(minutes=settings.sla_at_risk_margin_min)
        return ticket_read(row, customer, now=now, margin=margin)

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


@router.post(
    "/batch",
    status_code=201,
    response_model=TicketBatchRead,
    summary="Create up to 10,000 tickets at once",
    description="All or nothing: if any ticket is invalid nothing is stored and the 422 "
    "lists every problem as `{index, field, message}` in `error.details.errors`. More than "
    "10,000 tickets is 422; a body over the size limit is 413.",
    dependencies=[CREATORS],
)
def create_ticket_batch(
    batch_in: TicketBatchCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    tickets, source = batch_in.tickets, source_of(principal)
    errors = _skill_errors(tickets, settings.skill_catalogue, "tickets[{i}].")
    seen = Counter(t.external_id for t in tickets)
    errors += [
        {"index": i, "field": f"tickets[{i}].external_id", "message": "repeated in this batch"}
        for i, t in enumerate(tickets)
        if seen[t.external_id] > 1
    ]

    def work() -> TicketBatchRead:
        found = repo.existing_external_ids(session, source=source, external_ids=list(seen))
        all_errors = errors + [
            {"index": i, "field": f"tickets[{i}].external_id", "message": "already exists"}
            for i, t in enumerate(tickets)
            if t.external_id in found
        ]
        if all_errors:
            all_errors.sort(key=lambda e: e["index"])
            first = all_errors[0]
            message = f"{len(all_errors)} problem(s); first: {first['field']}: {first['message']}"
            raise _invalid(message, all_errors)
        new = _new_tickets(request, session, tickets, source)
        created = [
            TicketCreated(
                id=r.id, external_id=r.external_id, region_id=r.region_id, status=TicketStatus.NEW
            )
            for r in _insert(session, new, principal, utc_now())
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
            raise _invalid(f"{name}: needs a UTC offset", [{"field": name, "message": "naive"}])
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
    now, margin = utc_now(), timedelta(minutes=settings.sla_at_risk_margin_min)
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
    margin = timedelta(minutes=settings.sla_at_risk_margin_min)
    return ticket_read(ticket, customer, now=utc_now(), margin=margin)


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


@router.post(
    "/{ticket_id}/transitions",
    response_model=TicketRead,
    summary="Move a ticket to another status",
    description="Legal moves: new → scheduled | cancelled; scheduled → dispatched | new | "
    "cancelled; dispatched → en_route | scheduled | cancelled; en_route → on_site | failed; "
    "on_site → completed | failed; completed → confirmed (with the customer's `signature`); "
    "failed → new; `settled` is set by settlement. Staff may make every move; a technician "
    "moves their own tickets dispatched → en_route → on_site → completed (or failed) and may "
    "record the confirmation; an integrator may cancel its tickets before dispatch and record "
    "the confirmation. Anything else is 409 (no such move) or 403 (not yours to make).",
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
    actor = actor_of(principal)
    try:
        if transition_in.technician_id is not None and actor is not Actor.STAFF:
            raise TransitionNotPermitted("only staff assign technicians", field="technician_id")
        if transition_in.technician_id is not None and (
            session.get(TechnicianRow, transition_in.technician_id) is None
        ):
            raise _invalid(
                f"technician_id: no technician {transition_in.technician_id!r}",
                [{"field": "technician_id", "message": "unknown technician"}],
            )
        repo.begin_write(session)
        locked = repo.get_ticket(session, ticket_id=ticket.id, for_update=True)
        assert locked is not None
        now = utc_now()
        repo.transition(
            session,
            ticket=locked,
            target=transition_in.to,
            actor=actor,
            actor_key_id=principal.key_id,
            at=now,
            note=transition_in.note,
            technician_id=transition_in.technician_id,
        )
    except TransitionError as err:
        status = 403 if isinstance(err, TransitionNotPermitted) else 409
        raise HTTPException(
            status, {"code": err.code, "message": str(err), "details": err.details}
        ) from err
    if (signature := transition_in.signature) is not None:
        repo.record_signature(
            session,
            ticket_id=locked.id,
            signer_name=signature.signer_name,
            signed_at=signature.signed_at,
            image=signature.image(),
            image_media_type=signature.image_media_type,
            actor_key_id=principal.key_id,
            at=now,
        )
    if transition_in.to is TicketStatus.CONFIRMED:
        # The customer's confirmation closes the service: pay the technician now. A ticket the
        # card cannot price stays confirmed (pending settlement) rather than losing the signature.
        regions = request.app.state.region_cache.index(session)
        try_settle(session, ticket_id=locked.id, now=now, regions=regions)
    session.commit()
    customer = repo.customers_by_id(session, ids=[locked.customer_id]).get(locked.customer_id or 0)
    margin = timedelta(minutes=settings.sla_at_risk_margin_min)
    return ticket_read(locked, customer, now=now, margin=margin)
