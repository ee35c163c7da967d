"""``/v1/dispatch``: optimiser runs, overrides of the live plan, insertion and availability."""

from datetime import timedelta
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query, Request

from api.auth import Principal, Role, require_roles
from api.deps import SessionDep, SettingsDep
from api.dispatch import service
from api.dispatch.schemas import (
    ApplyRead,
    AssignmentCreate,
    AssignmentRead,
    AvailabilityRead,
    InsertCreate,
    InsertRead,
    RunCreate,
    RunRead,
)
from api.errors import invalid_field
from api.fields import LatitudeParam, LongitudeParam, RowIdParam, Timestamp
from api.schemas import CrsName
from geo.coords import to_wgs84

live_routes = APIRouter(tags=["dispatch"])  # under /dispatch: see ``router`` below
Staff = Annotated[Principal, require_roles(Role.ADMIN, Role.DISPATCHER)]


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


@live_routes.post(
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
    index = request.app.state.region_cache.index(session)
    return service.override_assignment(
        session, body=body, index=index, settings=settings, actor_key_id=principal.key_id
    )


@live_routes.post(
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
    return service.insert_ticket(
        session,
        body=body,
        index=request.app.state.region_cache.index(session),
        live_plans=request.app.state.live_plans,
        settings=settings,
        actor_key_id=principal.key_id,
    )


availability_routes = APIRouter(tags=["dispatch"])  # under /dispatch: see ``router``
SKILLS_PATTERN = r"^[a-z][a-z0-9_]*:[1-9][0-9]?(,[a-z][a-z0-9_]*:[1-9][0-9]?)*$"


@availability_routes.get(
    "/availability",
    response_model=AvailabilityRead,
    summary="Offer slots for a prospective ticket",
    responses=responses(),
    description="The best (technician, slot) offers for a ticket that is not booked yet, each "
    "one the day's applied plan can keep (it is inserted with that slot as its only window and "
    "checked exactly, breaks included). Without an applied plan the offers fit the empty days "
    "of the technicians on shift. A share of each technician's capacity is held back for "
    "`emergency` tickets. Slots are two hours on the local clock.",
)
def availability(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _principal: Staff,
    lon: Annotated[LongitudeParam, Query()],
    lat: Annotated[LatitudeParam, Query()],
    duration_min: Annotated[int, Query(ge=1, le=24 * 60)],
    window_start: Annotated[Timestamp, Query(description="ISO 8601 with offset")],
    window_end: Annotated[Timestamp, Query(description="ISO 8601 with offset")],
    skills: Annotated[
        str | None, Query(pattern=SKILLS_PATTERN, description="`name:level,...`, e.g. aircon:2")
    ] = None,
    crs: Annotated[CrsName, Query()] = "wgs84",
    priority: Annotated[str, Query(pattern="^(normal|urgent|emergency)$")] = "normal",
    n_offers: Annotated[int, Query(ge=1, le=20)] = 5,
) -> AvailabilityRead:
    if window_end <= window_start or window_end - window_start > timedelta(days=1):
        raise invalid_field(
            "window_end", "must be after window_start, at most one day later", location="query"
        )
    needs = {k: int(v) for k, v in (p.split(":") for p in skills.split(","))} if skills else {}
    unknown = sorted(set(needs) - set(settings.skill_catalogue))
    if unknown:
        raise invalid_field("skills", f"unknown skills {unknown}", location="query")
    lons, lats = to_wgs84(np.array([lon]), np.array([lat]), crs)
    prospect = service.Prospect(
        location=(float(lons[0]), float(lats[0])), duration_min=duration_min,
        window_start=window_start, window_end=window_end, skills=needs, priority=priority,
    )  # fmt: skip
    return service.availability(
        session,
        prospect=prospect,
        n_offers=n_offers,
        index=request.app.state.region_cache.index(session),
        live_plans=request.app.state.live_plans,
        settings=settings,
    )


router = APIRouter(prefix="/dispatch", tags=["dispatch"])

_RUN_DESCRIPTION = """
Plan a region's day (`{"region_id", "date"}`: every `new` or `scheduled` ticket of the region
and the regions inside it whose windows meet that local day) or an explicit list of tickets
(`{"ticket_ids": [...]}`), over the active technicians with a shift that day whose territory
(or, without one, home base) is in the region.

Answers **202** at once with the run id; the solver runs in a worker process. Poll
`GET /v1/dispatch/runs/{id}` until `status` is `succeeded` or `failed`. Tickets that cannot
be planned at all (a skill nobody on shift has, windows outside every shift, a pin to someone
off duty) do not fail the run: they are listed in the plan's `unassigned` with a reason.

Refused with 422: `time_limit_s` above the service's cap, more tickets or technicians than the
problem-size cap (`problem_too_large`), unknown region or tickets, no technician on shift.
"""


@router.post(
    "/runs",
    status_code=202,
    response_model=RunRead,
    summary="Submit an optimiser run",
    responses=responses(),
    description=_RUN_DESCRIPTION,
)
def submit_run(
    run_in: RunCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Staff,
) -> RunRead:
    return service.submit_run(
        session,
        run_in=run_in,
        index=request.app.state.region_cache.index(session),
        executor=request.app.state.run_executor,
        settings=settings,
        actor_key_id=principal.key_id,
    )


@router.get(
    "/runs/{run_id:id}",
    response_model=RunRead,
    summary="A run's status, progress, KPIs and plan",
    responses=responses(404),
    description="`plan` (routes with ETAs, unassigned tickets with reasons) once `succeeded`; "
    "`error` once `failed`. `progress` while solving is the elapsed share of the time limit. "
    "A queued or running run whose service process stopped renewing `heartbeat_at` for the "
    "lease (`GEODISPATCH_DISPATCH_RUN_LEASE_S`) is `failed` with `error.code` `worker_lost`.",
)
def read_run(
    run_id: RowIdParam, session: SessionDep, settings: SettingsDep, _principal: Staff
) -> RunRead:
    return service.read_run(session, run_id=run_id, settings=settings)


@router.post(
    "/runs/{run_id:id}/apply",
    response_model=ApplyRead,
    summary="Apply a run's plan: schedule its tickets",
    responses=responses(404, 409),
    description="In one transaction: every planned ticket becomes `scheduled` with its "
    "technician and an assignment (sequence, ETA, start, end); scheduled tickets the plan leaves "
    "out go back to `new`. **409** `stale_plan` (naming `ticket_ids`) if any ticket of the run "
    "changed since it was submitted; **409** if the run has not succeeded or was applied already.",
)
def apply_run(
    run_id: RowIdParam, session: SessionDep, settings: SettingsDep, principal: Staff
) -> ApplyRead:
    return service.apply_run(
        session, run_id=run_id, settings=settings, actor_key_id=principal.key_id
    )


router.include_router(live_routes)
router.include_router(availability_routes)
