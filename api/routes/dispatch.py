from typing import Any, cast

from fastapi import APIRouter, HTTPException, Request

from api.auth import utc_now
from api.config import Settings
from api.db.tables import DispatchPlanRow, DispatchRunRow
from api.deps import SessionDep, SettingsDep
from api.repositories import dispatch as dispatch_repo
from api.repositories import dispatch_problem as problem_repo
from api.repositories import dispatch_scope as scope_repo
from api.routes import dispatch_availability, dispatch_live
from api.routes.dispatch_live import Staff, responses
from api.schemas.dispatch import (
    ApplyRead,
    ErrorRead,
    PlanRead,
    RegionDayScope,
    RunCreate,
    RunRead,
    RunStatus,
)
from dispatch import SolveParams
from dispatch.plan_io import plan_from_dict

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


def time_limit_of(requested: float | None, settings: Settings) -> float:
    """Return the run's time limit: the request's, within the cap, else the default (422)."""
    cap = settings.dispatch_max_time_limit_s
    if requested is None:
        return min(settings.dispatch_default_time_limit_s, cap)
    if requested > cap:
        raise HTTPException(
            422,
            {
                "code": "validation_error",
                "message": f"time_limit_s: at most {cap:g} s on this service",
                "details": {"field": "time_limit_s", "max": cap, "value": requested},
            },
        )
    return requested


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
    time_limit_s = time_limit_of(run_in.time_limit_s, settings)
    index = request.app.state.region_cache.index(session)
    now = utc_now()
    limits = problem_repo.Limits(settings.dispatch_max_orders, settings.dispatch_max_technicians)
    catalog = settings.skill_catalogue
    scope = run_in.scope
    if isinstance(scope, RegionDayScope):
        built, tickets = problem_repo.region_day_problem(
            session, index=index, region_id=scope.region_id, day=scope.date, limits=limits,
            catalog=catalog, now=now,
        )  # fmt: skip
    else:
        built, tickets = problem_repo.ticket_list_problem(
            session, index=index, ticket_ids=scope.ticket_ids, day=scope.date, limits=limits,
            catalog=catalog, now=now, default_zone=settings.timezone,
        )  # fmt: skip
    run = DispatchRunRow(
        scope=scope.model_dump(mode="json", exclude_none=True),
        region_id=getattr(scope, "region_id", None), day=built.day,
        params={"time_limit_s": time_limit_s}, status="queued", phase="queued", progress=0.0,
        n_orders=len(tickets), n_technicians=len(built.problem.technicians),
        ticket_versions=scope_repo.ticket_versions(tickets), created_by=principal.key_id,
        created_at=now, heartbeat_at=now,
    )  # fmt: skip
    session.add(run)
    session.commit()
    params = SolveParams(time_limit_s=time_limit_s)
    request.app.state.run_executor.submit(run.id, built.problem, params, built.excluded)
    return run_read(run, None)


@router.get(
    "/runs/{run_id}",
    response_model=RunRead,
    summary="A run's status, progress, KPIs and plan",
    responses=responses(404),
    description="`plan` (routes with ETAs, unassigned tickets with reasons) once `succeeded`; "
    "`error` once `failed`. `progress` while solving is the elapsed share of the time limit. "
    "A queued or running run whose service process stopped renewing `heartbeat_at` for the "
    "lease (`GEODISPATCH_DISPATCH_RUN_LEASE_S`) is `failed` with `error.code` `worker_lost`.",
)
def read_run(run_id: int, session: SessionDep, settings: SettingsDep, _principal: Staff) -> RunRead:
    run = _run_or_404(session, run_id, settings)
    return run_read(run, dispatch_repo.get_plan(session, run_id=run_id))


@router.post(
    "/runs/{run_id}/apply",
    response_model=ApplyRead,
    summary="Apply a run's plan: schedule its tickets",
    responses=responses(404, 409),
    description="In one transaction: every planned ticket becomes `scheduled` with its "
    "technician and an assignment (sequence, ETA, start, end); scheduled tickets the plan leaves "
    "out go back to `new`. **409** `stale_plan` (naming `ticket_ids`) if any ticket of the run "
    "changed since it was submitted; **409** if the run has not succeeded or was applied already.",
)
def apply_run(
    run_id: int, session: SessionDep, settings: SettingsDep, principal: Staff
) -> ApplyRead:
    run = _run_or_404(session, run_id, settings)
    plan_row = dispatch_repo.get_plan(session, run_id=run_id, for_update=True)
    if run.status != "succeeded" or plan_row is None:
        message = f"run {run_id} is {run.status}; only a succeeded run's plan can be applied"
        raise _conflict("run_not_succeeded", message)
    if plan_row.applied_at is not None:
        message = f"run {run_id} was applied at {plan_row.applied_at.isoformat()}"
        raise _conflict("already_applied", message)
    stale = scope_repo.stale_ticket_ids(session, run=run)
    if stale:
        raise _conflict(
            "stale_plan",
            f"tickets {stale} changed since run {run_id} was submitted; submit a new run",
            ticket_ids=stale,
        )
    plan = plan_from_dict(plan_row.plan)
    now = utc_now()
    placed = dispatch_repo.apply_plan(
        session, run=run, plan_row=plan_row, plan=plan, actor_key_id=principal.key_id, at=now
    )
    session.commit()
    left_out = sorted(int(u.order_id) for u in plan.unassigned)
    return ApplyRead(run_id=run_id, applied_at=now, scheduled=sorted(placed), unscheduled=left_out)


def _run_or_404(session: SessionDep, run_id: int, settings: Settings) -> DispatchRunRow:
    """Load a run; one whose process died (lease expired) is recorded as failed first."""
    lease_s = settings.dispatch_run_lease_s
    if dispatch_repo.fail_lost_runs(session, now=utc_now(), lease_s=lease_s, run_id=run_id):
        session.commit()
    run = dispatch_repo.get_run(session, run_id=run_id)
    if run is None:
        raise HTTPException(404, {"code": "not_found", "message": f"no dispatch run {run_id}"})
    return run


def _conflict(code: str, message: str, **details: Any) -> HTTPException:
    return HTTPException(409, {"code": code, "message": message, "details": details})


def run_read(run: DispatchRunRow, plan_row: DispatchPlanRow | None) -> RunRead:
    """Shape a run (and its plan, when it has one) for the API."""
    time_limit_s = float(run.params["time_limit_s"])
    progress = run.progress
    if run.status == "running" and run.started_at is not None:
        elapsed_s = (utc_now() - run.started_at).total_seconds()
        progress = min(0.99, max(progress, elapsed_s / time_limit_s))
    return RunRead(
        id=run.id, status=cast("RunStatus", run.status), phase=run.phase, progress=progress,
        scope=run.scope, day=run.day, time_limit_s=time_limit_s, n_tickets=run.n_orders,
        n_technicians=run.n_technicians, created_by=run.created_by, created_at=run.created_at,
        started_at=run.started_at, finished_at=run.finished_at, heartbeat_at=run.heartbeat_at,
        error=ErrorRead.model_validate(run.error) if run.error else None, kpis=run.kpis,
        plan=PlanRead.model_validate(plan_row.plan) if plan_row else None,
        applied_at=plan_row.applied_at if plan_row else None,
        applied_by=plan_row.applied_by if plan_row else None,
    )  # fmt: skip


router.include_router(dispatch_live.router)
router.include_router(dispatch_availability.router)
