import time
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request

from api.assignment_checks import assignment_warnings
from api.auth import Principal, Role, require_roles, utc_now
from api.config import Settings
from api.db.tables import TechnicianRow, TicketRow
from api.deps import SessionDep, SettingsDep
from api.lifecycle import Actor, TicketStatus
from api.problem_builder import day_origin, lonlat, ticket_order
from api.repositories import assignments as assignment_repo
from api.repositories import dispatch as dispatch_repo
from api.repositories import dispatch_scope as scope_repo
from api.repositories import tickets as ticket_repo
from api.schemas.dispatch import (
    AssignmentCreate,
    AssignmentRead,
    InsertCreate,
    InsertRead,
    WarningRead,
)
from dispatch import Unassigned
from dispatch.insertion import Insertion
from dispatch.plan_io import plan_to_dict
from geo.regions import RegionIndex

if TYPE_CHECKING:
    from api.live_plans import LivePlanCache

router = APIRouter(tags=["dispatch"])  # included by ``api.routes.dispatch`` under /dispatch
Staff = Annotated[Principal, require_roles(Role.ADMIN, Role.DISPATCHER)]
OPEN = {TicketStatus.NEW.value, TicketStatus.SCHEDULED.value}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return the OpenAPI entries of the error statuses a dispatch route answers with."""
    meaning = {
        401: "no or invalid bearer token",
        403: "caller is not an admin or dispatcher",
        404: "no such run or ticket",
        409: "conflict with the current state; `error.code` and `error.details` say which",
        422: "invalid input; `error.details` names the field",
    }
    return {s: {"description": meaning[s]} for s in (401, 403, *statuses)}


_ASSIGN_DESCRIPTION = """
`assign` gives a `new` or `scheduled` ticket to a technician (it becomes `scheduled`), `pin`
does the same and makes later runs keep it there, `unpin` lifts the pin, `unassign` puts a
scheduled ticket back to `new`.

Constraints the override breaks come back as `warnings` (`skill_missing`,
`skill_level_too_low`, `no_shift`, `outside_shift`, `outside_territory`, `over_max_orders`,
`over_capacity`, `technician_inactive`). Without `force` any warning makes it **409**
`constraint_warnings` and nothing is written; with `force: true` it is written and the
warnings are returned.
"""


def _error(http_status: int, code: str, message: str, **details: Any) -> HTTPException:
    return HTTPException(http_status, {"code": code, "message": message, "details": details})


def _ticket_or_404(session: SessionDep, ticket_id: int, *, for_update: bool = False) -> TicketRow:
    ticket = ticket_repo.get_ticket(session, ticket_id=ticket_id, for_update=for_update)
    if ticket is None:
        raise _error(404, "not_found", f"no ticket {ticket_id}", ticket_id=ticket_id)
    return ticket


def _zone_and_day(
    ticket: TicketRow, index: RegionIndex, settings: Settings, day: date | None
) -> tuple[ZoneInfo, date]:
    """Return the ticket's time zone and day: ``day``, else its first window's, else today."""
    region = ticket.region_id
    zone = ZoneInfo(index.get(region).time_zone if region else settings.timezone)
    first = ticket.window_start_at or utc_now()
    return zone, day or first.astimezone(zone).date()


@router.post(
    "/assignments",
    response_model=AssignmentRead,
    summary="Assign, unassign, pin or unpin a ticket by hand",
    responses=responses(404, 409),
    description=_ASSIGN_DESCRIPTION,
)
def override_assignment(
    body: AssignmentCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Staff,
) -> AssignmentRead:
    ticket = _ticket_or_404(session, body.ticket_id, for_update=True)
    now, key = utc_now(), principal.key_id
    current = assignment_repo.assignment_of(session, ticket_id=ticket.id)
    warnings: list[WarningRead] = []
    if body.action == "unassign":
        if ticket.status != TicketStatus.SCHEDULED:
            raise _error(409, "not_scheduled", f"ticket {ticket.id} is {ticket.status}")
        assignment_repo.unassign(session, ticket=ticket, actor_key_id=key, at=now, note="manual")
    elif body.action == "unpin":
        if current is None:
            raise _error(409, "not_assigned", f"ticket {ticket.id} has no assignment to unpin")
        current.is_pinned = False
    else:
        warnings = _assign(request, session, settings, body, ticket, key)
    session.commit()
    row = assignment_repo.assignment_of(session, ticket_id=ticket.id)
    return AssignmentRead(
        ticket_id=ticket.id, status=ticket.status, technician_id=ticket.technician_id,
        day=row.day if row else None, is_pinned=bool(row and row.is_pinned), warnings=warnings,
    )  # fmt: skip


def _assign(
    request: Request,
    session: SessionDep,
    settings: Settings,
    body: AssignmentCreate,
    ticket: TicketRow,
    key: str,
) -> list[WarningRead]:
    """Assign or pin after checking the constraints; return the warnings accepted."""
    assert body.technician_id is not None  # the schema requires it for assign and pin
    technician = session.get(TechnicianRow, body.technician_id)
    if technician is None:
        message = f"no technician {body.technician_id}"
        raise _error(422, "unknown_technician", message, field="technician_id")
    if ticket.status not in OPEN:
        message = f"ticket {ticket.id} is {ticket.status}; only new and scheduled tickets move"
        raise _error(409, "not_assignable", message, status=ticket.status)
    index = request.app.state.region_cache.index(session)
    _, day = _zone_and_day(ticket, index, settings, body.date)
    found = assignment_warnings(
        ticket=ticket, technician=technician,
        shift=assignment_repo.shift_of(session, technician_id=technician.id, day=day),
        booked=assignment_repo.booked(
            session, technician_id=technician.id, day=day, except_ticket_id=ticket.id
        ),
        index=index,
    )  # fmt: skip
    warnings = [WarningRead(code=w.code, message=w.message) for w in found]
    if warnings and not body.force:
        raise _error(
            409, "constraint_warnings",
            f"{len(warnings)} constraint(s) broken; resend with force=true to accept them",
            warnings=[w.model_dump() for w in warnings],
        )  # fmt: skip
    now = utc_now()
    if ticket.status == TicketStatus.NEW:
        ticket_repo.transition(
            session, ticket=ticket, target=TicketStatus.SCHEDULED, actor=Actor.STAFF,
            actor_key_id=key, at=now, technician_id=technician.id, note="manual assignment",
        )  # fmt: skip
    current = assignment_repo.assignment_of(session, ticket_id=ticket.id)
    is_pinned = body.action == "pin"
    if current is not None and (current.technician_id, current.day) == (technician.id, day):
        current.is_pinned = is_pinned  # same route: keep the planned sequence and times
    else:
        ticket.technician_id, ticket.updated_at = technician.id, now
        assignment_repo.upsert_assignment(
            session, ticket_id=ticket.id, technician_id=technician.id, day=day, sequence=None,
            times=None, run_id=None, actor_key_id=key, at=now, is_pinned=is_pinned,
        )  # fmt: skip
    return warnings


@router.post(
    "/insert",
    response_model=InsertRead,
    summary="Insert an urgent ticket into its day's applied plan",
    responses=responses(404, 409),
    description="Cheapest feasible insertion (no re-solve, milliseconds) of a `new` ticket into "
    "the plan applied last for its day and region: the ticket becomes `scheduled` and the "
    "changed route's assignments get their new sequence and ETAs. **409** `cannot_insert` "
    "with the reason (`capacity`: no gap keeps every window, break and shift end) or "
    "`no_applied_plan`; **422** `cannot_insert` when the ticket cannot be served at all "
    "(`no_skill`, `unreachable`).",
)
def insert_ticket(
    body: InsertCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Staff,
) -> InsertRead:
    started = time.perf_counter()
    ticket = _ticket_or_404(session, body.ticket_id)
    index = request.app.state.region_cache.index(session)
    zone, day = _zone_and_day(ticket, index, settings, body.date)
    hierarchy = [r.id for r in index.containing(*lonlat(ticket.location))]
    # The plan's lock, taken before the ticket's as applying a plan does, queues insertions.
    head = dispatch_repo.applied_plan_head(session, day=day, region_ids=hierarchy, for_update=True)
    session.refresh(ticket, with_for_update=True)
    if ticket.status != TicketStatus.NEW:
        message = f"ticket {ticket.id} is {ticket.status}; only new tickets are inserted"
        raise _error(409, "not_insertable", message, status=ticket.status)
    if head is None:
        message = f"no plan has been applied for {day.isoformat()} here; submit a run"
        raise _error(409, "no_applied_plan", message, day=day.isoformat())
    live_plans: LivePlanCache = request.app.state.live_plans
    live_day = live_plans.get(session, head=head, zone=zone, index=index)
    now = utc_now()
    now_s = max(0, int((now - day_origin(day, zone)).total_seconds()))
    pinned = scope_repo.pins(session, ticket_ids=[ticket.id]).get(ticket.id)
    order, is_over = ticket_order(ticket, live_day.plan.origin, now_s=now_s, pinned_to=pinned)
    if is_over:
        raise _error(422, "cannot_insert", "its time windows are over", reason="unreachable")
    live = live_day.live_plan(order, settings.skill_catalogue)
    if isinstance(live, Unassigned):
        raise _error(422, "cannot_insert", live.message, reason=live.reason.value)
    result = live.insert(order.id)
    if not isinstance(result, Insertion):
        code = 422 if result.reason.value == "no_skill" else 409
        raise _error(code, "cannot_insert", result.message, reason=result.reason.value)
    new_plan = live.plan
    route = new_plan.route_of(result.technician_id, result.shift_index)
    assert route is not None  # the insertion just put a stop on it
    run = dispatch_repo.get_run(session, run_id=head.run_id)
    assert run is not None  # the head was read from it
    ticket_repo.transition(
        session, ticket=ticket, target=TicketStatus.SCHEDULED, actor=Actor.STAFF,
        actor_key_id=principal.key_id, at=now, technician_id=result.technician_id,
        note=f"inserted into the plan of run {run.id}",
    )  # fmt: skip
    assignment_repo.store_route(
        session, run=run, plan=new_plan, route=route, actor_key_id=principal.key_id, at=now
    )
    dispatch_repo.store_plan(session, run_id=run.id, plan_doc=plan_to_dict(new_plan))
    updated = live_day.inserted(new_plan, ticket, pinned)  # from what was written, not re-read
    session.commit()
    live_plans.put(updated)
    stop = route.stops[result.position]
    return InsertRead(
        ticket_id=ticket.id, run_id=run.id, technician_id=result.technician_id,
        position=result.position + 1, eta_at=new_plan.at(stop.arrival_s),
        start_at=new_plan.at(stop.start_s), end_at=new_plan.at(stop.end_s),
        cost_delta=result.cost_delta, added_travel_s=result.added_travel_s,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
    )  # fmt: skip
