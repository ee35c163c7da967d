"""Service procedures for tickets: which one a ticket follows, ticking it, and the completion gate.

A ticket follows the procedure its first tick was recorded against (``id@version``); before
any tick, the library's current choice for its type and product lines. So a procedure revised
mid-job does not move the goalposts of a job already started, and a job not yet started gets
the revision at once.
"""

from datetime import datetime

from sqlalchemy.orm import Session

from api.auth import Principal, Role
from api.db.tables import ChecklistTickRow, TicketRow
from api.errors import ApiError, invalid_field
from api.procedures import repository as repo
from api.procedures.rules import Procedure, ProcedureLibrary, missing_items
from api.procedures.schemas import MissingItemRead, ProcedureRead, TickCreate, TicketProcedureRead

# A checklist is worked while the job is assigned and not yet done; after that it is evidence.
OPEN_STATUSES = frozenset({"scheduled", "dispatched", "en_route", "on_site"})


def followed(
    library: ProcedureLibrary, ticket: TicketRow, ticks: dict[str, ChecklistTickRow]
) -> Procedure | None:
    """Return the procedure ``ticket`` is worked against (see the module)."""
    pinned = next((row.procedure_key for row in ticks.values()), None)
    if pinned is not None and pinned in library.versions:
        return library.versions[pinned]
    return library.for_ticket(ticket.type, ticket.skills.keys())


def view(session: Session, library: ProcedureLibrary, ticket: TicketRow) -> TicketProcedureRead:
    """Return the ticket's procedure with its ticks and what completion still needs."""
    ticks = repo.ticks(session, ticket_id=ticket.id)
    procedure = followed(library, ticket, ticks)
    if procedure is None:
        return TicketProcedureRead(
            ticket_id=ticket.id, procedure=None, missing=[], may_complete=True
        )
    missing = missing_items(procedure, ticks.keys())
    return TicketProcedureRead(
        ticket_id=ticket.id,
        procedure=ProcedureRead.of(procedure, ticks),
        missing=[MissingItemRead.of(item) for item in missing],
        may_complete=not (procedure.required_for_completion and missing),
    )


def _check_may_work(principal: Principal, ticket: TicketRow) -> None:
    if principal.role is Role.TECHNICIAN and ticket.technician_id != principal.technician_id:
        raise ApiError(404, "not_found", f"no ticket {ticket.id}")
    if principal.role is Role.INTEGRATOR:
        raise ApiError(403, "forbidden", "only the ticket's technician or staff tick its checklist")
    if ticket.status not in OPEN_STATUSES:
        raise ApiError(
            409, "checklist_closed",
            f"ticket {ticket.id} is {ticket.status}: its checklist can change only while it is "
            f"{', '.join(sorted(OPEN_STATUSES))}",
            {"status": ticket.status},
        )  # fmt: skip


def tick(
    session: Session, library: ProcedureLibrary, *, ticket: TicketRow, item_id: str,
    tick_in: TickCreate, principal: Principal, at: datetime,
) -> TicketProcedureRead:  # fmt: skip
    """Tick ``item_id`` of the ticket's procedure (again: replaces the photo)."""
    _check_may_work(principal, ticket)
    ticks = repo.ticks(session, ticket_id=ticket.id)
    procedure = followed(library, ticket, ticks)
    if procedure is None:
        raise ApiError(404, "no_procedure", f"no procedure applies to ticket {ticket.id}")
    item = procedure.item(item_id)
    if item is None:
        known = [entry[0] for entry in procedure.items()]
        raise invalid_field(
            "item_id", f"{item_id!r} is not in {procedure.key}; its items: {known}", location="path"
        )
    if item[4] and tick_in.photo_base64 is None:
        raise invalid_field("photo_base64", f"{item_id!r} needs a photo of the result")
    repo.tick(session, ChecklistTickRow(
        ticket_id=ticket.id, procedure_key=procedure.key, item_id=item_id,
        photo=tick_in.photo(), photo_media_type=tick_in.photo_media_type, ticked_at=at,
        actor_key_id=principal.key_id,
    ))  # fmt: skip
    session.commit()
    return view(session, library, ticket)


def untick(
    session: Session, library: ProcedureLibrary, *, ticket: TicketRow, item_id: str,
    principal: Principal,
) -> TicketProcedureRead:  # fmt: skip
    """Remove the tick of ``item_id`` (nothing to remove is not an error: the state is as asked)."""
    _check_may_work(principal, ticket)
    repo.untick(session, ticket_id=ticket.id, item_id=item_id)
    session.commit()
    return view(session, library, ticket)


def photo(session: Session, *, ticket: TicketRow, item_id: str) -> tuple[bytes, str]:
    """Return the photo of a ticked item and its media type."""
    row = repo.ticks(session, ticket_id=ticket.id).get(item_id)
    if row is None or row.photo is None or row.photo_media_type is None:
        raise ApiError(404, "not_found", f"no photo for {item_id!r} on ticket {ticket.id}")
    return row.photo, row.photo_media_type


def check_complete(session: Session, library: ProcedureLibrary, ticket: TicketRow) -> None:
    """Refuse completing ``ticket`` while its procedure requires items not yet ticked (409)."""
    current = view(session, library, ticket)
    if current.may_complete:
        return
    assert current.procedure is not None
    names = ", ".join(f"{item.item_id} ({item.en})" for item in current.missing)
    raise ApiError(
        409, "checklist_incomplete",
        f"ticket {ticket.id} cannot be completed: {len(current.missing)} required item(s) of "
        f"{current.procedure.id}@{current.procedure.version} not ticked: {names}",
        {"missing": [item.model_dump() for item in current.missing]},
    )  # fmt: skip
