from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import AwareDatetime

from api.auth import utc_now
from api.deps import SessionDep, SettingsDep
from api.problem_builder import PRIORITY, build_problem, day_origin
from api.repositories import dispatch as dispatch_repo
from api.repositories import dispatch_scope as scope_repo
from api.routes.dispatch_live import Staff, responses
from api.schemas.common import CrsName, Latitude, Longitude
from api.schemas.dispatch import AvailabilityRead, OfferRead
from dispatch import Kpis, Plan, TimeWindow, Unassigned, WorkOrder, WorkOrderId
from dispatch.availability import AvailabilityParams, Offer, offers
from dispatch.insertion import LivePlan, NoInsertion
from geo.coords import to_wgs84

if TYPE_CHECKING:
    from api.live_plans import LivePlanCache

router = APIRouter(tags=["dispatch"])  # included by ``api.routes.dispatch`` under /dispatch
PROSPECT = WorkOrderId("prospective")
SKILLS_PATTERN = r"^[a-z][a-z0-9_]*:[1-9][0-9]?(,[a-z][a-z0-9_]*:[1-9][0-9]?)*$"


def _bad(field: str, message: str) -> HTTPException:
    message = f"{field}: {message}"
    return HTTPException(
        422, {"code": "validation_error", "message": message, "details": {"field": field}}
    )


def _empty_plan(origin: datetime) -> Plan:
    kpis = Kpis(0, 0, 1.0, 0.0, 0.0, {}, 0, 0.0, 0)
    return Plan(origin, (), (), kpis)


@router.get(
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
    lon: Annotated[Longitude, Query()],
    lat: Annotated[Latitude, Query()],
    duration_min: Annotated[int, Query(ge=1, le=24 * 60)],
    window_start: Annotated[AwareDatetime, Query(description="ISO 8601 with offset")],
    window_end: Annotated[AwareDatetime, Query(description="ISO 8601 with offset")],
    skills: Annotated[
        str | None, Query(pattern=SKILLS_PATTERN, description="`name:level,...`, e.g. aircon:2")
    ] = None,
    crs: Annotated[CrsName, Query()] = "wgs84",
    priority: Annotated[str, Query(pattern="^(normal|urgent|emergency)$")] = "normal",
    n_offers: Annotated[int, Query(ge=1, le=20)] = 5,
) -> AvailabilityRead:
    if window_end <= window_start or window_end - window_start > timedelta(days=1):
        raise _bad("window_end", "must be after window_start, at most one day later")
    needs = {k: int(v) for k, v in (p.split(":") for p in skills.split(","))} if skills else {}
    unknown = sorted(set(needs) - set(settings.skill_catalogue))
    if unknown:
        raise _bad("skills", f"unknown skills {unknown}")
    lons, lats = to_wgs84(np.array([lon]), np.array([lat]), crs)
    point = (float(lons[0]), float(lats[0]))
    index = request.app.state.region_cache.index(session)
    hierarchy = index.containing(*point)
    zone = ZoneInfo(hierarchy[0].time_zone if hierarchy else settings.timezone)
    day = window_start.astimezone(zone).date()
    origin, now = day_origin(day, zone), utc_now()

    def seconds(at: datetime) -> int:
        return int((at - origin).total_seconds())

    start_s = max(seconds(window_start), seconds(now), 0)
    if start_s >= seconds(window_end):
        raise _bad("window_end", "the window is over")
    order = WorkOrder(
        id=PROSPECT, location=point, duration_s=duration_min * 60, required_skills=needs,
        windows=(TimeWindow(start_s, seconds(window_end)),), priority=PRIORITY[priority],
        region_id=hierarchy[0].id if hierarchy else None,
    )  # fmt: skip
    region_ids = [r.id for r in hierarchy]
    head = dispatch_repo.applied_plan_head(session, day=day, region_ids=region_ids)
    catalog = settings.skill_catalogue
    live: LivePlan | Unassigned
    if head is not None:
        live_plans: LivePlanCache = request.app.state.live_plans
        live = live_plans.get(session, head=head, zone=zone, index=index).live_plan(order, catalog)
    else:
        crew = scope_repo.fleet(session, day=day, index=index, region_ids=region_ids)
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
