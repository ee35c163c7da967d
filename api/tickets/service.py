"""What happens to tickets: who sees them, and how submitted tickets are checked and created.

All four ways a ticket is created (one, one under an idempotency key, a batch, a converted
lead) store it through :func:`store_tickets`.
"""

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, NamedTuple

import numpy as np
from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.auth import Principal, PrincipalDep, Role, utc_now
from api.config import Settings
from api.customers import repository as customer_repo
from api.customers.identity import link_people, one_statement_link
from api.customers.rules import Person
from api.customers.value_store import value_tiers
from api.db.tables import TicketRow
from api.deps import SessionDep
from api.errors import ApiError, invalid
from api.escalations import service as escalation_service
from api.fields import RowIdParam
from api.idempotency import (
    fingerprint,
    in_flight,
    key_expiry,
    maybe_purge,
    replay,
    run_idempotent,
)
from api.procedures import repository as procedure_repo
from api.procedures import service as procedure_service
from api.settlement.service import try_settle
from api.tickets import repository as repo
from api.tickets.repository import card_terms
from api.tickets.rules import (
    Actor,
    CardTerms,
    NewTicket,
    TicketStatus,
    TransitionError,
    TransitionNotPermitted,
)
from api.tickets.schemas import (
    TicketBatchCreate,
    TicketBatchRead,
    TicketCreate,
    TicketCreated,
    TicketRead,
    TransitionCreate,
    created_read,
    ticket_read,
)
from geo.coords import to_wgs84
from geo.regions import RegionIndex

# Who sees a ticket, as which actor, and the shared 422 body.
STAFF_SOURCE = "internal"  # source of tickets created by staff rather than an integrator


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


def visible_ticket(
    ticket_id: RowIdParam, session: SessionDep, principal: PrincipalDep
) -> TicketRow:
    """Load a ticket the caller may see; 404 otherwise, so others' ids reveal nothing."""
    ticket = repo.get_ticket(session, ticket_id=ticket_id)
    if ticket is None or not is_visible(principal, ticket):
        raise ApiError(404, "not_found", f"no ticket {ticket_id}")
    return ticket


VisibleTicket = Annotated[TicketRow, Depends(visible_ticket)]


def sla_margin(settings: Settings) -> timedelta:
    """Return how close to its deadline a ticket counts as at risk."""
    return timedelta(minutes=settings.sla_at_risk_margin_min)


# Submitted tickets checked against the catalogues, turned into ``NewTicket`` values and stored.
def input_errors(
    session: Session, settings: Settings, tickets: Sequence[TicketCreate], *, prefix: str
) -> list[dict[str, Any]]:
    """Return ``{index, field, message}`` for every name no catalogue knows.

    Skills come from the settings; difficulty flags and material codes from the rate cards,
    which are read only when some ticket uses them. ``prefix`` is formatted with the index
    (``"tickets[{i}]."`` in a batch).
    """
    errors = _skill_errors(tickets, settings.skill_catalogue, prefix)
    if any(t.difficulty or t.materials for t in tickets):
        errors += _term_errors(tickets, card_terms(session, today=utc_now().date()), prefix)
    return errors


def _skill_errors(
    tickets: Sequence[TicketCreate], catalogue: list[str], prefix: str
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


def _term_errors(
    tickets: Sequence[TicketCreate], terms: CardTerms, prefix: str
) -> list[dict[str, Any]]:
    unknown_flags = [
        (i, j, flag)
        for i, ticket in enumerate(tickets)
        for j, flag in enumerate(ticket.difficulty)
        if flag not in terms.flags
    ]
    unknown_materials = [
        (i, j, m.code)
        for i, ticket in enumerate(tickets)
        for j, m in enumerate(ticket.materials)
        if m.code not in terms.materials
    ]
    # The lists of known names are built only for a refusal: a card may define thousands.
    flags = ", ".join(sorted(terms.flags)) if unknown_flags else ""
    materials = ", ".join(sorted(terms.materials)) if unknown_materials else ""
    errors = [
        {
            "index": i,
            "field": f"{prefix.format(i=i)}difficulty[{j}]",
            "message": f"unknown difficulty flag {flag!r}; the rate cards in force define: "
            f"{flags or 'none'}",
        }
        for i, j, flag in unknown_flags
    ]
    return errors + [
        {
            "index": i,
            "field": f"{prefix.format(i=i)}materials[{j}].code",
            "message": f"unknown material {code!r}; the rate cards in force price: "
            f"{materials or 'none'}",
        }
        for i, j, code in unknown_materials
    ]


def new_tickets(
    index: RegionIndex, tickets: Sequence[TicketCreate], source: str
) -> list[NewTicket]:
    """Convert positions to WGS84 (vectorised per datum) and locate their regions."""
    lons = np.array([t.location[0] for t in tickets])
    lats = np.array([t.location[1] for t in tickets])
    for crs in {t.crs for t in tickets} - {"wgs84"}:
        mask = np.array([t.crs == crs for t in tickets])
        lons[mask], lats[mask] = to_wgs84(lons[mask], lats[mask], crs)
    regions = index.locate(lons, lats)
    return [
        NewTicket(
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
            customer=None if t.customer is None else t.customer.new_customer(),
            notes=t.notes,
            demand=t.demand,
            units=t.units,
            difficulty=tuple(t.difficulty),
            materials=tuple((m.code, m.quantity) for m in t.materials),
        )
        for t, lon, lat, region in zip(tickets, lons, lats, regions, strict=True)
    ]


def _regions(request: Request, session: Session) -> RegionIndex:
    index: RegionIndex = request.app.state.region_cache.index(session)
    return index


def person_of(ticket: NewTicket) -> Person | None:
    """Return the person a ticket is for, as the identity rules take it (None: no customer)."""
    c = ticket.customer
    if c is None:
        return None
    return Person(
        c.name, c.phone, c.email, c.member_id, c.marketplace_buyer_id, c.wechat_open_id,
        address=ticket.address, lon=ticket.lon, lat=ticket.lat, known_id=c.known_id,
    )  # fmt: skip


def link_customers(
    session: Session, *, tickets: Sequence[NewTicket], now: datetime
) -> list[int | None]:
    """Link each ticket's customer to the one customer of the source it identifies (or None)."""
    if all(t.customer is None for t in tickets):
        return [None] * len(tickets)
    people = [person_of(t) for t in tickets]
    return link_people(session, source=tickets[0].source, people=people, now=now)


class Stored(NamedTuple):
    """A ticket just stored and the customer it was linked to."""

    id: int
    customer_id: int | None


def store_tickets(
    session: Session, *, tickets: Sequence[NewTicket], actor_key_id: str | None, now: datetime
) -> list[Stored]:
    """Store validated tickets (all of one source) as ``new``; return them in order.

    Every creation ends here: one ticket, its retry under an ``Idempotency-Key``, a batch and a
    converted lead. Each ticket's customer is linked first (:func:`link_customers`: an exact
    identifier match links, a probable one is suggested for merge). (On PostgreSQL, the first
    attempt of a keyed single ticket is the same insert folded into one statement with the
    key: ``repository.insert_ticket_keyed``.) Writes without committing. An ``external_id`` the
    source already has, stored before or by a concurrent request, is 409 ``ticket_exists``
    naming the ids it has.
    """
    customer_ids = link_customers(session, tickets=tickets, now=now)
    try:
        if len(tickets) == 1:  # the request path: fewest round trips
            ids = [
                repo.insert_ticket(
                    session, ticket=tickets[0], customer_id=customer_ids[0],
                    actor_key_id=actor_key_id, now=now,
                )
            ]  # fmt: skip
        else:
            ids = repo.insert_tickets(
                session, tickets=tickets, customer_ids=customer_ids, actor_key_id=actor_key_id,
                now=now,
            )  # fmt: skip
        return [Stored(*pair) for pair in zip(ids, customer_ids, strict=True)]
    except IntegrityError as err:
        session.rollback()
        source = tickets[0].source
        found = repo.existing_external_ids(
            session, source=source, external_ids=[t.external_id for t in tickets]
        )
        raise ticket_exists(source, found) from err


def ticket_exists(source: str, existing: dict[str, int]) -> ApiError:
    """Return the 409 for external ids the source already has (``existing``: id by external id)."""
    ids = ", ".join(sorted(existing)[:10])
    return ApiError(
        409,
        "ticket_exists",
        f"source {source!r} already has tickets with external_id: {ids}",
        {"existing": existing},
    )


def create_ticket(
    session: Session,
    *,
    ticket_in: TicketCreate,
    request: Request,
    principal: Principal,
    idempotency_key: str | None,
) -> JSONResponse:
    """Create one ticket: check its names, locate it, store it once per idempotency key."""
    # The app's settings without the SettingsDep dependency: on the hottest route, each
    # dependency costs FastAPI's resolver, and a sync one a trip to the thread pool.
    settings: Settings = request.app.state.settings
    if errors := input_errors(session, settings, [ticket_in], prefix=""):
        raise invalid(f"{errors[0]['field']}: {errors[0]['message']}", errors)
    source = source_of(principal)
    if idempotency_key is not None and repo.has_keyed_insert(session):
        keyed = _create_keyed(session, request, principal, ticket_in, idempotency_key, source)
        if keyed is not None:
            return keyed

    def work() -> TicketRead:
        now = utc_now()
        new = new_tickets(_regions(request, session), [ticket_in], source)
        (stored,) = store_tickets(session, tickets=new, actor_key_id=principal.key_id, now=now)
        return created_read(
            stored.id, new[0], customer_id=stored.customer_id, now=now, margin=sla_margin(settings)
        )

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
    """Create a ticket under ``key`` in one PostgreSQL statement (``insert_ticket_keyed``).

    Same answers as ``run_idempotent``, in one round trip instead of five (two when the
    ticket names a customer: the identity look-up). A customer new to the source is created
    by the same statement. ``None`` hands the other cases to it: the customer brings a new
    identifier or a probable match to suggest, the key expired, or a unique index refused a
    row (the external id is taken, a concurrent request stored the key after this statement's
    snapshot, or it just took the new customer's phone).
    """
    settings: Settings = request.app.state.settings
    fp = fingerprint(request=request, principal=principal, key=key, body=ticket_in)
    now = utc_now()
    (new,) = new_tickets(_regions(request, session), [ticket_in], source)
    maybe_purge(session)
    customer_id, new_customer = None, None
    if (person := person_of(new)) is not None:
        repo.keyed_connection(session)  # the look-up too runs in autocommit if nothing began
        link = one_statement_link(session, source=source, person=person)
        if link is None:  # an identifier or a suggestion to write: a transaction's work
            session.rollback()
            return None
        if isinstance(link, int):
            customer_id = link
        else:
            row = customer_repo.customer_values(source=source, person=link.person, now=now)
            new_customer = repo.NewCustomerValues(row, link.identifiers)
    answer = created_read(
        0, new, customer_id=customer_id, now=now, margin=sla_margin(settings)
    ).model_dump(mode="json")
    try:
        outcome = repo.insert_ticket_keyed(
            session,
            ticket=new,
            customer_id=customer_id,
            actor_key_id=principal.key_id,
            now=now,
            fp=fp,
            expires_at=key_expiry(now, settings),
            response_status=201,
            answer=answer,
            new_customer=new_customer,
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
    if outcome.new_customer_id is not None:
        answer["customer"]["id"] = outcome.new_customer_id
    return JSONResponse(status_code=201, content={**answer, "id": outcome.ticket_id})


def create_ticket_batch(
    session: Session,
    *,
    batch_in: TicketBatchCreate,
    request: Request,
    settings: Settings,
    principal: Principal,
    idempotency_key: str | None,
) -> JSONResponse:
    """Create every ticket of a batch or none, once per idempotency key."""
    tickets, source = batch_in.tickets, source_of(principal)
    errors = input_errors(session, settings, tickets, prefix="tickets[{i}].")
    seen = Counter(t.external_id for t in tickets)
    errors += [
        {"index": i, "field": f"tickets[{i}].external_id", "message": "repeated in this batch"}
        for i, t in enumerate(tickets)
        if seen[t.external_id] > 1
    ]

    def work() -> TicketBatchRead:
        _refuse_batch(session, tickets, source, errors)
        new = new_tickets(_regions(request, session), tickets, source)
        stored = store_tickets(session, tickets=new, actor_key_id=principal.key_id, now=utc_now())
        created = [
            TicketCreated(
                id=s.id, external_id=t.external_id, region_id=t.region_id, status=TicketStatus.NEW
            )
            for s, t in zip(stored, new, strict=True)
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


def _refuse_batch(
    session: Session, tickets: list[TicketCreate], source: str, errors: list[dict[str, Any]]
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


# Moving a ticket through its lifecycle.
def transition(
    session: Session,
    *,
    ticket: TicketRow,
    transition_in: TransitionCreate,
    principal: Principal,
    regions: RegionIndex,
    settings: Settings,
) -> TicketRead:
    """Move ``ticket`` as the caller may, under its row lock; a confirmation settles it."""
    actor = actor_of(principal)
    now = utc_now()
    try:
        if transition_in.technician_id is not None and actor is not Actor.STAFF:
            raise TransitionNotPermitted("only staff assign technicians", field="technician_id")
        if transition_in.technician_id is not None and (
            repo.get_technician(session, technician_id=transition_in.technician_id) is None
        ):
            raise invalid(
                f"technician_id: no technician {transition_in.technician_id!r}",
                [{"field": "technician_id", "message": "unknown technician"}],
            )
        # The change is checked against the ticket as read under its lock (refreshed, not the
        # copy loaded before waiting): a concurrent change may have moved or reassigned it.
        locked = repo.get_ticket(session, ticket_id=ticket.id, for_update=True)
        if locked is None or not is_visible(principal, locked):
            raise ApiError(404, "not_found", f"no ticket {ticket.id}")
        if transition_in.to is TicketStatus.COMPLETED:
            library = procedure_repo.library(settings.procedures_dir)
            procedure_service.check_complete(session, library, locked)
        if transition_in.to is TicketStatus.DISPATCHED:
            escalation_service.check_dispatch_allowed(
                session, ticket_id=locked.id, now=now, settings=settings
            )
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
        raise ApiError(status, err.code, str(err), err.details) from err
    if (confirmation := transition_in.confirmation()) is not None:
        repo.record_confirmation(
            session,
            ticket_id=locked.id,
            confirmation=confirmation,
            actor_key_id=principal.key_id,
            at=now,
        )
    if transition_in.to is TicketStatus.FAILED:
        # A failure is the one event a rule counts; deadlines are the schedule's to watch.
        escalation_service.evaluate_ticket(session, ticket_id=locked.id, now=now, settings=settings)
    if transition_in.to is TicketStatus.CONFIRMED:
        # The customer's confirmation closes the service: pay the technician now. A ticket the
        # card cannot price stays confirmed (pending settlement) rather than losing the signature.
        try_settle(session, ticket_id=locked.id, now=now, regions=regions)
    session.commit()
    customer = repo.customers_by_id(session, ids=[locked.customer_id]).get(locked.customer_id or 0)
    tier = value_tiers(session, customer_ids=[customer.id]).get(customer.id) if customer else None
    return ticket_read(locked, customer, now=now, margin=sla_margin(settings), tier=tier)
