"""What the ticket routes share: whose tickets a caller sees, as which actor, and 422 bodies."""

from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, HTTPException

from api.auth import Principal, PrincipalDep, Role
from api.config import Settings
from api.db.tables import TicketRow
from api.deps import SessionDep
from api.lifecycle import Actor
from api.repositories import tickets as repo

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


def visible_ticket(ticket_id: int, session: SessionDep, principal: PrincipalDep) -> TicketRow:
    """Load a ticket the caller may see; 404 otherwise, so others' ids reveal nothing."""
    ticket = repo.get_ticket(session, ticket_id=ticket_id)
    if ticket is None or not is_visible(principal, ticket):
        detail = {"code": "not_found", "message": f"no ticket {ticket_id}", "details": {}}
        raise HTTPException(404, detail)
    return ticket


VisibleTicket = Annotated[TicketRow, Depends(visible_ticket)]


def invalid(message: str, errors: list[dict[str, Any]]) -> HTTPException:
    """Return the 422 of the one error shape, listing ``{field, message}`` problems."""
    return HTTPException(
        422, {"code": "validation_error", "message": message, "details": {"errors": errors}}
    )


def sla_margin(settings: Settings) -> timedelta:
    """Return how close to its deadline a ticket counts as at risk."""
    return timedelta(minutes=settings.sla_at_risk_margin_min)
