"""Moving a ticket through its lifecycle; the customer's confirmation settles it."""

from fastapi import APIRouter, HTTPException, Request

from api.auth import PrincipalDep, utc_now
from api.db.tables import TechnicianRow
from api.deps import SessionDep, SettingsDep
from api.lifecycle import Actor, TicketStatus, TransitionError, TransitionNotPermitted
from api.repositories import ticket_confirmations as confirmations
from api.repositories import ticket_queries as queries
from api.repositories import tickets as repo
from api.routes.ticket_common import VisibleTicket, actor_of, invalid, sla_margin
from api.schemas.ticket_transitions import TransitionCreate
from api.schemas.tickets import TicketRead, ticket_read
from api.settling import try_settle

router = APIRouter(prefix="/tickets", tags=["tickets"])  # part of ``api.routes.tickets``


@router.post(
    "/{ticket_id}/transitions",
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
    actor = actor_of(principal)
    now = utc_now()
    try:
        if transition_in.technician_id is not None and actor is not Actor.STAFF:
            raise TransitionNotPermitted("only staff assign technicians", field="technician_id")
        if transition_in.technician_id is not None and (
            session.get(TechnicianRow, transition_in.technician_id) is None
        ):
            raise invalid(
                f"technician_id: no technician {transition_in.technician_id!r}",
                [{"field": "technician_id", "message": "unknown technician"}],
            )
        locked = repo.get_ticket(session, ticket_id=ticket.id, for_update=True)
        assert locked is not None
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
    if (confirmation := transition_in.confirmation()) is not None:
        confirmations.record_confirmation(
            session,
            ticket_id=locked.id,
            confirmation=confirmation,
            actor_key_id=principal.key_id,
            at=now,
        )
    if transition_in.to is TicketStatus.CONFIRMED:
        # The customer's confirmation closes the service: pay the technician now. A ticket the
        # card cannot price stays confirmed (pending settlement) rather than losing the signature.
        regions = request.app.state.region_cache.index(session)
        try_settle(session, ticket_id=locked.id, now=now, regions=regions)
    session.commit()
    customer = queries.customers_by_id(session, ids=[locked.customer_id]).get(
        locked.customer_id or 0
    )
    return ticket_read(locked, customer, now=now, margin=sla_margin(settings))
