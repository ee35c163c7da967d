"""Service procedures: the library, and each ticket's checklist as its technician works it.

``GET /v1/procedures`` lists the procedures in force; under ``/v1/tickets/{id}``, ``procedure``
shows the one the ticket follows with its ticks and what completion still needs, and
``checklist/{item_id}`` ticks (PUT, with a photo where the step asks for one) and un-ticks
(DELETE) an item. Completing a ticket whose procedure requires its checklist is refused with
409 ``checklist_incomplete`` naming the missing items (``api.tickets.service.transition``).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from api.auth import Principal, PrincipalDep, Role, require_roles, utc_now
from api.deps import SessionDep, SettingsDep
from api.procedures import repository as repo
from api.procedures import service
from api.procedures.schemas import ProcedureList, ProcedureRead, TickCreate, TicketProcedureRead
from api.tickets.service import VisibleTicket

router = APIRouter(tags=["procedures"])
ItemIdParam = Annotated[
    str,
    Path(
        pattern=r"^(part:)?[a-z0-9][a-z0-9_-]{0,47}$",
        description="a step id, or `part:` and a part code",
    ),
]
FieldDep = Annotated[Principal, require_roles(Role.ADMIN, Role.DISPATCHER, Role.TECHNICIAN)]
WORK_REFUSALS: dict[int | str, dict[str, Any]] = {
    409: {"description": "The ticket is not being worked (`checklist_closed`)"},
}


@router.get(
    "/procedures",
    response_model=ProcedureList,
    summary="The service procedures in force (staff and technicians)",
    description="The latest version of each procedure in the library, with its checklist.",
)
def list_procedures(_caller: FieldDep, settings: SettingsDep) -> ProcedureList:
    library = repo.library(settings.procedures_dir)
    return ProcedureList(items=[ProcedureRead.of(p) for p in library.current])


@router.get(
    "/tickets/{ticket_id}/procedure",
    response_model=TicketProcedureRead,
    summary="The procedure a ticket follows, its ticks and what completion still needs",
    description=(
        "`procedure` is null when none applies. A ticket follows the procedure version of its "
        "first tick; before that, the library's current choice for its type and skills."
    ),
)
def read_ticket_procedure(
    ticket: VisibleTicket, session: SessionDep, settings: SettingsDep
) -> TicketProcedureRead:
    return service.view(session, repo.library(settings.procedures_dir), ticket)


@router.put(
    "/tickets/{ticket_id}/checklist/{item_id}",
    response_model=TicketProcedureRead,
    summary="Tick a checklist item (the ticket's technician, or staff)",
    description=(
        "A step that asks for a photo needs `photo_base64` and `photo_media_type`; ticking "
        "again replaces the photo. Open while the ticket is scheduled, dispatched, en route or "
        "on site."
    ),
    responses=WORK_REFUSALS,
)
def tick_item(
    ticket: VisibleTicket, item_id: ItemIdParam, tick_in: TickCreate, principal: PrincipalDep,
    session: SessionDep, settings: SettingsDep,
) -> TicketProcedureRead:  # fmt: skip
    library = repo.library(settings.procedures_dir)
    return service.tick(
        session, library, ticket=ticket, item_id=item_id, tick_in=tick_in, principal=principal,
        at=utc_now(),
    )  # fmt: skip


@router.delete(
    "/tickets/{ticket_id}/checklist/{item_id}",
    response_model=TicketProcedureRead,
    summary="Un-tick a checklist item (the ticket's technician, or staff)",
    responses=WORK_REFUSALS,
)
def untick_item(
    ticket: VisibleTicket, item_id: ItemIdParam, principal: PrincipalDep, session: SessionDep,
    settings: SettingsDep,
) -> TicketProcedureRead:  # fmt: skip
    library = repo.library(settings.procedures_dir)
    return service.untick(session, library, ticket=ticket, item_id=item_id, principal=principal)


@router.get(
    "/tickets/{ticket_id}/checklist/{item_id}/photo",
    summary="The photo taken for a checklist item",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}}}},
)
def read_item_photo(ticket: VisibleTicket, item_id: ItemIdParam, session: SessionDep) -> Response:
    content, media_type = service.photo(session, ticket=ticket, item_id=item_id)
    return Response(content, media_type=media_type, headers={"Cache-Control": "private"})
