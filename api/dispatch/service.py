"""What dispatchers do to the day's plan: override it, insert into it, ask it, run and apply it.

Each use case takes the session, the region index and the settings the router hands it, writes
through ``repository`` and commits once; refusals are ``ApiError`` with a stable code.
"""

import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from api.auth import utc_now
from api.config import Settings
from api.customers.valuation import policy_of
from api.db.tables import DispatchPlanRow, DispatchRunRow, TicketRow
from api.dispatch import repository as repo
from api.dispatch.assignment_checks import assignment_warnings
from api.dispatch.problem_builder import PRIORITY, build_problem, day_origin, ticket_order
from api.dispatch.schemas import (
    ApplyRead,
    AssignmentCreate,
    AssignmentRead,
    AvailabilityRead,
    ErrorRead,
    InsertCreate,
    InsertRead,
    OfferRead,
    PlanRead,
    RegionDayScope,
    RunCreate,
    RunRead,
    RunStatus,
    WarningRead,
)
from api.errors import ApiError, invalid_field
from api.tickets import repository as ticket_repo
from api.tickets.rules import Actor, TicketStatus
from dispatch import Kpis, Plan, SolveParams, TimeWindow, Unassigned, WorkOrder, WorkOrderId
from dispatch.availability import AvailabilityParams, Offer, offers
from dispatch.insertion import Insertion, LivePlan, NoInsertion
from dispatch.plan_io import plan_dict_with_route, plan_from_dict
from geo.regions import RegionIndex

if TYPE_CHECKING:
    from api.dispatch.live_plans import LivePlanCache
    from api.dispatch.runs import RunExecutor

OPEN = {TicketStatus.NEW.value, TicketStatus.SCHEDULED.value}
PROSPECT = WorkOrderId("prospective")


def _error(http_status: int, code: str, message: str, **details: Any) -> ApiError:
    return ApiError(http_status, code, message, details)


def _not_found(ticket_id: int) -> ApiError:
    return _error(404, "not_found", f"no ticket {ticket_id}", ticket_id=ticket_id)


def _ticket_or_404(session: Session, ticket_id: int, *, for_update: bool = False) -> TicketRow:
    ticket = ticket_repo.get_ticket(session, ticket_id=ticket_id, for_update=for_update)
    if ticket is None:
        raise _not_found(ticket_id)
    return ticket


def _zone_and_day(
    region_id: str | None,
    first_window_at: datetime | None,
    index: RegionIndex,
    settings: Settings,
    day: date | None,
) -> tuple[ZoneInfo, date]:
    """Return a ticket's time zone and day: ``day``, else its first window's, else today."""
    zone = ZoneInfo(index.get(region_id).time_zone if region_id else settings.timezone)
    first = first_window_at or utc_now()
    return zone, day or first.astimezone(zone).date()


# Overrides by hand.
def override_assignment(
    session: Session,
    *,
    body: AssignmentCreate,
    index: RegionIndex,
    settings: Settings,
    actor_key_id: str,
) -> AssignmentRead:
    """Assign, pin, unpin or unassign a ticket by hand, checking what the solver would."""
    ticket = _ticket_or_404(session, body.ticket_id, for_update=True)
    now = utc_now()
    current = repo.assignment_of(session, ticket_id=ticket.id)
    warnings: list[WarningRead] = []
    if body.action == "unassign":
        if ticket.status != TicketStatus.SCHEDULED:
            raise _error(409, "not_scheduled", f"ticket {ticket.id} is {ticket.status}")
        repo.unassign(session, ticket=ticket, actor_key_id=actor_key_id, at=now, note="manual")
    elif body.action == "unpin":
        if current is None:
            raise _error(409, "not_assigned", f"ticket {ticket.id} has no assignment to unpin")
        current.is_pinned = False
    else:
        warnings = _assign(session, index, settings, body, ticket, actor_key_id)
    session.commit()
    row = repo.assignment_of(session, ticket_id=ticket.id)
    return AssignmentRead(
        ticket_id=ticket.id, status=ticket.status, technician_id=ticket.technician_id,
        day=row.day if row else None, is_pinned=bool(row and row.is_pinned), warnings=warnings,
    )  # fmt: skip


def _assign(
    session: Session,
    index: RegionIndex,
    settings: Settings,
    body: AssignmentCreate,
    ticket: TicketRow,
    key: str,
) -> list[WarningRead]:
    """Assign or pin after checking the constraints; return the warnings accepted."""
    assert body.technician_id is not None  # the schema requires it for assign and pin
    technician = repo.get_technician(session, technician_id=body.technician_id)
    if technician is None:
        message = f"no technician {body.technician_id}"
        raise _error(422, "unknown_technician", message, field="technician_id")
    if ticket.status not in OPEN:
        message = f"ticket {ticket.id} is {ticket.status}; only new and scheduled tickets move"
        raise _error(409, "not_assignable", message, status=ticket.status)
    _, day = _zone_and_day(ticket.region_id, ticket.window_start_at, index, settings, body.date)
    found = assignment_warnings(
        ticket=ticket, technician=technician,
        shift=repo.shift_of(session, technician_id=technician.id, day=day),
        booked=repo.booked(
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
    current = repo.assignment_of(session, ticket_id=ticket.id)
    is_pinned = body.action == "pin"
    if current is not None and (current.technician_id, current.day) == (technician.id, day):
        current.is_pinned = is_pinned  # same route: keep the planned sequence and times
    else:
        ticket.technician_id, ticket.updated_at = technician.id, now
        repo.upsert_assignment(
            session, ticket_id=ticket.id, technician_id=technician.id, day=day, sequence=None,
            times=None, run_id=None, actor_key_id=key, at=now, is_pinned=is_pinned,
        )  # fmt: skip
    return warnings


# Urgent insertion into the applied plan.
def insert_ticket(
    session: Session,
    *,
    body: InsertCreate,
    index: RegionIndex,
    live_plans: "LivePlanCache",
    settings: Settings,
    actor_key_id: str,
) -> InsertRead:
    """Insert a ``new`` ticket into its day's applied plan at the cheapest feasible place."""
    started = time.perf_counter()
    place = repo.ticket_place(session, ticket_id=body.ticket_id)
    if place is None:
        raise _not_found(body.ticket_id)
    zone, day = _zone_and_day(place.region_id, place.window_start_at, index, settings, body.date)
    hierarchy = [r.id for r in index.containing(*place.location)]
    # The plan's lock, taken before the ticket's as applying a plan does, queues insertions.
    head = repo.applied_plan_head(session, day=day, region_ids=hierarchy, for_update=True)
    locked = repo.locked_ticket(session, ticket_id=body.ticket_id)
    if locked is None:  # deleted since it was placed
        raise _not_found(body.ticket_id)
    ticket, pinned = locked.row, locked.pinned_to
    if ticket.status != TicketStatus.NEW:
        message = f"ticket {ticket.id} is {ticket.status}; only new tickets are inserted"
        raise _error(409, "not_insertable", message, status=ticket.status)
    if head is None:
        message = f"no plan has been applied for {day.isoformat()} here; submit a run"
        raise _error(409, "no_applied_plan", message, day=day.isoformat())
    tier_policy = policy_of(settings.value_tiers_file)
    live_day = live_plans.get(session, head=head, zone=zone, index=index, tier_policy=tier_policy)
    now = utc_now()
    now_s = max(0, int((now - day_origin(day, zone)).total_seconds()))
    terms = locked.terms(tier_policy)
    order, is_over = ticket_order(
        ticket, live_day.plan.origin, now_s=now_s, pinned_to=pinned, terms=terms
    )
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
    plan_doc = plan_dict_with_route(live_day.plan_doc, new_plan, route)
    change = repo.record_insertion(
        session, ticket=ticket, head=head, plan=new_plan, route=route, plan_doc=plan_doc,
        plan_json=live_day.plan_json(plan_doc), actor_key_id=actor_key_id, at=now,
    )  # fmt: skip
    updated = live_day.inserted(live, route, ticket, pinned, terms, plan_doc, change)
    session.commit()  # expires ``ticket``: the copy was made from it first
    live_plans.put(updated)
    stop = route.stops[result.position]
    return InsertRead(
        ticket_id=ticket.id, run_id=head.run_id, technician_id=result.technician_id,
        position=result.position + 1, eta_at=new_plan.at(stop.arrival_s),
        start_at=new_plan.at(stop.start_s), end_at=new_plan.at(stop.end_s),
        cost_delta=result.cost_delta, added_travel_s=result.added_travel_s,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
    )  # fmt: skip


# Availability: the slots an order could still get today.
@dataclass(frozen=True, slots=True)
class Prospect:
    """A ticket not booked yet, as an availability question describes it (WGS84)."""

    location: tuple[float, float]
    duration_min: int
    window_start: datetime
    window_end: datetime
    skills: dict[str, int]
    priority: str


def availability(
    session: Session,
    *,
    prospect: Prospect,
    n_offers: int,
    index: RegionIndex,
    live_plans: "LivePlanCache",
    settings: Settings,
) -> AvailabilityRead:
    """Return the best offers the day's applied plan (or the empty day) can keep."""
    hierarchy = index.containing(*prospect.location)
    zone = ZoneInfo(hierarchy[0].time_zone if hierarchy else settings.timezone)
    day = prospect.window_start.astimezone(zone).date()
    origin, now = day_origin(day, zone), utc_now()

    def seconds(at: datetime) -> int:
        return int((at - origin).total_seconds())

    start_s = max(seconds(prospect.window_start), seconds(now), 0)
    if start_s >= seconds(prospect.window_end):
        raise invalid_field("window_end", "the window is over", location="query")
    order = WorkOrder(
        id=PROSPECT, location=prospect.location, duration_s=prospect.duration_min * 60,
        required_skills=prospect.skills,
        windows=(TimeWindow(start_s, seconds(prospect.window_end)),),
        priority=PRIORITY[prospect.priority], region_id=hierarchy[0].id if hierarchy else None,
    )  # fmt: skip
    region_ids = [r.id for r in hierarchy]
    head = repo.applied_plan_head(session, day=day, region_ids=region_ids)
    catalog = settings.skill_catalogue
    live: LivePlan | Unassigned
    if head is not None:
        tier_policy = policy_of(settings.value_tiers_file)
        live_day = live_plans.get(
            session, head=head, zone=zone, index=index, tier_policy=tier_policy
        )
        live = live_day.live_plan(order, catalog)
    else:
        crew = repo.fleet(session, day=day, index=index, region_ids=region_ids)
        if not crew.technicians:
            return AvailabilityRead(run_id=None, offers=[], reason="no technician on shift here")
        built = build_problem(
            index=index, tickets=[], fleet=crew, pins={}, day=day, zone=zone,
            skill_catalog=catalog, now=None, extra=[order],
        )  # fmt: skip
        left_out = next((u for u in built.excluded if u.order_id == PROSPECT), None)
        live = left_out or LivePlan(built.problem, _empty_plan(origin))
    run_id = head.run_id if head else None
    if isinstance(live, Unassigned):
        return AvailabilityRead(run_id=run_id, offers=[], reason=live.message)
    params = AvailabilityParams(
        n_offers=n_offers, held_back_share=settings.dispatch_emergency_share,
        urgent_priority=PRIORITY["emergency"],
    )  # fmt: skip
    found_offers = offers(live, PROSPECT, params)
    reason = None if found_offers else _why_no_offer(live, params)
    offer_reads = [_offer_read(o, live.plan) for o in found_offers]
    return AvailabilityRead(run_id=run_id, offers=offer_reads, reason=reason)


def _empty_plan(origin: datetime) -> Plan:
    kpis = Kpis(0, 0, 1.0, 0.0, 0.0, {}, 0, 0.0, 0)
    return Plan(origin, (), (), kpis)


def _why_no_offer(live: LivePlan, params: AvailabilityParams) -> str:
    """Say why nothing is offered: nobody can serve it, the rest is held back, or no slot fits."""
    why = live.best_insertion(PROSPECT)
    if isinstance(why, NoInsertion):
        return why.message
    if live.problem.orders[live.order_index(PROSPECT)].priority < params.urgent_priority:
        held_back = live.table.limits.held_back(params.held_back_share)
        if isinstance(live.best_insertion(PROSPECT, limits=held_back), NoInsertion):
            return (
                f"the capacity left is held back for emergency tickets "
                f"({params.held_back_share:.0%} of each technician's orders, parts and hours)"
            )
    return "no slot of the window fits"


def _offer_read(offer: Offer, plan: Plan) -> OfferRead:
    return OfferRead(
        technician_id=offer.technician_id, slot_start_at=plan.at(offer.slot_start_s),
        slot_end_at=plan.at(offer.slot_end_s), planned_start_at=plan.at(offer.start_s),
        added_travel_s=offer.added_travel_s, cost_delta=offer.cost_delta,
    )  # fmt: skip


# Runs: start one, follow it, apply its plan.
def time_limit_of(requested: float | None, settings: Settings) -> float:
    """Return the run's time limit: the request's, within the cap, else the default (422)."""
    cap = settings.dispatch_max_time_limit_s
    if requested is None:
        return min(settings.dispatch_default_time_limit_s, cap)
    if requested > cap:
        raise ApiError(
            422,
            "validation_error",
            f"time_limit_s: at most {cap:g} s on this service",
            {"field": "time_limit_s", "max": cap, "value": requested},
        )
    return requested


def submit_run(
    session: Session,
    *,
    run_in: RunCreate,
    index: RegionIndex,
    executor: "RunExecutor",
    settings: Settings,
    actor_key_id: str,
) -> RunRead:
    """Build the run's problem, store the run as ``queued`` and hand it to a worker."""
    time_limit_s = time_limit_of(run_in.time_limit_s, settings)
    now = utc_now()
    limits = repo.Limits(settings.dispatch_max_orders, settings.dispatch_max_technicians)
    catalog = settings.skill_catalogue
    tier_policy = policy_of(settings.value_tiers_file)
    scope = run_in.scope
    if isinstance(scope, RegionDayScope):
        built, tickets = repo.region_day_problem(
            session, index=index, region_id=scope.region_id, day=scope.date, limits=limits,
            catalog=catalog, now=now, tier_policy=tier_policy,
        )  # fmt: skip
    else:
        built, tickets = repo.ticket_list_problem(
            session, index=index, ticket_ids=scope.ticket_ids, day=scope.date, limits=limits,
            catalog=catalog, now=now, default_zone=settings.timezone, tier_policy=tier_policy,
        )  # fmt: skip
    run = repo.add_run(
        session, scope=scope.model_dump(mode="json", exclude_none=True),
        region_id=getattr(scope, "region_id", None), day=built.day,
        time_limit_s=time_limit_s, tickets=tickets,
        n_technicians=len(built.problem.technicians), created_by=actor_key_id, at=now,
    )  # fmt: skip
    session.commit()
    executor.submit(run.id, built.problem, SolveParams(time_limit_s=time_limit_s), built.excluded)
    return run_read(run, None)


def read_run(session: Session, *, run_id: int, settings: Settings) -> RunRead:
    """Return a run with its plan, once it has one."""
    run = _run_or_404(session, run_id, settings)
    return run_read(run, repo.get_plan(session, run_id=run_id))


def apply_run(session: Session, *, run_id: int, settings: Settings, actor_key_id: str) -> ApplyRead:
    """Schedule a succeeded run's tickets in one transaction, unless any changed since."""
    run = _run_or_404(session, run_id, settings)
    plan_row = repo.get_plan(session, run_id=run_id, for_update=True)
    if run.status != "succeeded" or plan_row is None:
        message = f"run {run_id} is {run.status}; only a succeeded run's plan can be applied"
        raise _error(409, "run_not_succeeded", message)
    if plan_row.applied_at is not None:
        message = f"run {run_id} was applied at {plan_row.applied_at.isoformat()}"
        raise _error(409, "already_applied", message)
    stale = repo.stale_ticket_ids(session, run=run)
    if stale:
        raise _error(
            409,
            "stale_plan",
            f"tickets {stale} changed since run {run_id} was submitted; submit a new run",
            ticket_ids=stale,
        )
    plan = plan_from_dict(plan_row.plan)
    now = utc_now()
    placed = repo.apply_plan(
        session, run=run, plan_row=plan_row, plan=plan, actor_key_id=actor_key_id, at=now
    )
    session.commit()
    left_out = sorted(int(u.order_id) for u in plan.unassigned)
    return ApplyRead(run_id=run_id, applied_at=now, scheduled=sorted(placed), unscheduled=left_out)


def _run_or_404(session: Session, run_id: int, settings: Settings) -> DispatchRunRow:
    """Load a run; one whose process died (lease expired) is recorded as failed first."""
    lease_s = settings.dispatch_run_lease_s
    if repo.fail_lost_runs(session, now=utc_now(), lease_s=lease_s, run_id=run_id):
        session.commit()
    run = repo.get_run(session, run_id=run_id)
    if run is None:
        raise ApiError(404, "not_found", f"no dispatch run {run_id}")
    return run


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
