"""``GET /v1/tickets/{id}/bill``: the customer's bill of a done ticket, as JSON or a page."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.auth import Role, require_roles
from api.bills import repository as repo
from api.bills import service
from api.bills.schemas import BillRead
from api.deps import SessionDep
from api.pages.templates import render
from api.tickets.service import VisibleTicket

router = APIRouter(prefix="/tickets", tags=["bills"])

# Staff, and an integrator for its own source's tickets (``VisibleTicket``); a technician's
# view of a job is its pay, not the customer's prices.
BILL_READERS = require_roles(Role.ADMIN, Role.DISPATCHER, Role.INTEGRATOR)


@router.get(
    "/{ticket_id:id}/bill",
    response_model=BillRead,
    summary="The customer's bill of a done ticket",
    description=(
        "Staff, and an integrator for its own tickets (another source's ticket is 404; a "
        "technician is 403). The ticket priced under the customer price list in force at its "
        "service time (format and rules: docs/customer-bill.md): every line with the entry it "
        "applies (`rule_id`), how it was reached (`basis_*`, `quantity` x `rate`) and its "
        "amount, rounded half-up to the fen once per line; `total` is the sum of the lines. "
        "`format=html` answers a printable page instead (`lang=zh|en`). 409 "
        "`ticket_not_billable` before the work is completed, 409 `no_price_list_in_force`; "
        "422 `unpriced_item` when the list has no price for the ticket's type or a material."
    ),
    responses={
        200: {"content": {"text/html": {"schema": {"type": "string"}}}},
        409: {"description": "the work is not done, or no price list covers the service time"},
        422: {"description": "the price list has no price for the type or a material"},
    },
    dependencies=[BILL_READERS],
)
def read_bill(
    request: Request,
    session: SessionDep,
    ticket: VisibleTicket,
    response_format: Annotated[
        Literal["json", "html"], Query(alias="format", description="json, or a printable page")
    ] = "json",
) -> BillRead | HTMLResponse:
    bill = service.bill_of(
        session, ticket=ticket, regions=request.app.state.region_cache.index(session)
    )
    read = BillRead.of(ticket.id, bill)
    if response_format == "json":
        return read
    context = {
        "title": f"#{ticket.id}",
        "bill": read,
        "ticket": ticket,
        "customer_name": repo.customer_name(session, customer_id=ticket.customer_id),
    }
    return render(request, "bill.html", context)
