"""``/v1/technicians``: profiles, shifts, the day's route and GPS pings."""

from datetime import datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import numpy as np
from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session

from api.auth import PrincipalDep, utc_now
from api.db.spatial import from_wkb, lonlat
from api.db.tables import TechnicianLocationRow, TechnicianRow, TechnicianShiftRow
from api.deps import SessionDep, SettingsDep
from api.dispatch.repository import PlannedStop, planned_stops
from api.errors import invalid_field
from api.fields import Day
from api.technicians import repository as repo
from api.technicians import service
from api.technicians.schemas import (
    PingBatch,
    PingBatchRead,
    PingRead,
    RouteStop,
    ShiftRead,
    ShiftsPut,
    TechnicianCreate,
    TechnicianPage,
    TechnicianRead,
    TechnicianRouteRead,
    TechnicianUpdate,
)
from api.technicians.service import STAFF, STAFF_OR_TECHNICIAN, VisibleTechnician
from api.tickets.repository import begin_write
from geo.coords import to_wgs84

# GPS pings: batched, late and out of order; the latest one is where a technician is.
location_routes = APIRouter()  # prefix and tag from ``router`` below
# A device clock may run a little fast; anything further ahead is a broken clock.
MAX_PING_CLOCK_SKEW = timedelta(minutes=5)


def ping_read(row: TechnicianLocationRow | None) -> PingRead | None:
    """Shape a stored ping."""
    if row is None:
        return None
    p = from_wkb(row.location)
    return PingRead(
        location=(p.x, p.y),  # type: ignore[attr-defined]
        recorded_at=row.recorded_at,
        received_at=row.received_at,
        accuracy_m=row.accuracy_m,
    )


@location_routes.post(
    "/{technician_id}/locations",
    response_model=PingBatchRead,
    summary="Send GPS pings",
    description="A technician sends its own pings (staff may send any technician's), up to "
    "1,000 per request, in any order and late: the current position is the ping with the "
    "latest `recorded_at`, and a `recorded_at` already stored is skipped. A `recorded_at` "
    "more than 5 minutes in the future is refused.",
    dependencies=[STAFF_OR_TECHNICIAN],
)
def post_locations(
    batch_in: PingBatch, technician: VisibleTechnician, session: SessionDep
) -> PingBatchRead:
    now = utc_now()
    for i, ping in enumerate(batch_in.pings):
        if ping.recorded_at > now + MAX_PING_CLOCK_SKEW:
            raise invalid_field(f"pings[{i}].recorded_at", "is in the future (device clock?)")
    lons = np.array([p.location[0] for p in batch_in.pings])
    lats = np.array([p.location[1] for p in batch_in.pings])
    lons, lats = to_wgs84(lons, lats, batch_in.crs)
    pings = [
        repo.NewPing(float(lon), float(lat), p.recorded_at, p.accuracy_m)
        for p, lon, lat in zip(batch_in.pings, lons, lats, strict=True)
    ]
    begin_write(session)
    stored = repo.add_pings(session, technician_id=technician.id, pings=pings, received_at=now)
    session.commit()
    current = repo.current_location(session, technician_id=technician.id)
    return PingBatchRead(
        received=len(pings),
        stored=stored,
        duplicates=len(pings) - stored,
        current=ping_read(current),
    )


# Shifts and the day's route (the applied plan's stops first).
schedule_routes = APIRouter()  # prefix and tag from ``router`` below


def shift_read(row: TechnicianShiftRow) -> ShiftRead:
    """Shape a stored shift."""
    return ShiftRead.model_validate(
        {"day": row.day, "start_at": row.start_at, "end_at": row.end_at, "breaks": row.breaks}
    )


@schedule_routes.put(
    "/{technician_id}/shifts",
    response_model=list[ShiftRead],
    summary="Set shifts",
    description="Staff only. Each shift replaces any shift on the same day.",
    dependencies=[STAFF],
)
def put_shifts(
    shifts_in: ShiftsPut, technician: VisibleTechnician, session: SessionDep
) -> list[ShiftRead]:
    shifts = [service.new_shift(s) for s in shifts_in.shifts]
    repo.put_shifts(session, technician_id=technician.id, shifts=shifts)
    session.commit()
    days = [s.day for s in shifts]
    stored = repo.shifts_between(
        session, technician_id=technician.id, first=min(days), last=max(days)
    )
    return [shift_read(s) for s in stored if s.day in days]


@schedule_routes.get(
    "/{technician_id}/shifts",
    response_model=list[ShiftRead],
    summary="Shifts between two days",
    dependencies=[STAFF_OR_TECHNICIAN],
)
def read_shifts(
    technician: VisibleTechnician, session: SessionDep, first: Day, last: Day
) -> list[ShiftRead]:
    if last < first or (last - first).days > 92:
        raise invalid_field("last", "must be on or after first, at most 92 days later")
    rows = repo.shifts_between(session, technician_id=technician.id, first=first, last=last)
    return [shift_read(r) for r in rows]


@schedule_routes.get(
    "/{technician_id}/route",
    response_model=TechnicianRouteRead,
    summary="The technician's route for a day",
    description="Open tickets (scheduled to on site) assigned to the technician whose time "
    "windows meet the day (its shift, or local midnight to midnight). Stops of the applied "
    "dispatch plan come first, in plan order with their planned arrival, start and end; other "
    "tickets follow in window order, and tickets without a window are listed last on today's "
    "route.",
    dependencies=[STAFF_OR_TECHNICIAN],
)
def read_route(
    technician: VisibleTechnician,
    session: SessionDep,
    settings: SettingsDep,
    day: Annotated[Day | None, Query(description="local date; default today")] = None,
) -> TechnicianRouteRead:
    zone = ZoneInfo(settings.timezone)
    today = utc_now().astimezone(zone).date()
    day = day or today
    shifts = repo.shifts_between(session, technician_id=technician.id, first=day, last=day)
    start = datetime.combine(day, time(), zone)
    start, end = (
        (shifts[0].start_at, shifts[0].end_at) if shifts else (start, start + timedelta(days=1))
    )
    rows = repo.route_tickets(
        session, technician_id=technician.id, start=start, end=end, is_today=day == today
    )
    planned = {
        stop.ticket_id: stop
        for stop in planned_stops(session, technician_id=technician.id, day=day)
        if stop.sequence is not None
    }
    stops = [
        RouteStop(
            ticket_id=r.id,
            external_id=r.external_id,
            status=r.status,  # type: ignore[arg-type]
            location=lonlat(r.location),
            address=r.address,
            duration_min=r.duration_min,
            priority=r.priority,
            time_windows=[
                (datetime.fromisoformat(s), datetime.fromisoformat(e)) for s, e in r.time_windows
            ],
            **_plan_fields(planned.get(r.id)),
        )
        for r in rows
    ]
    # Planned stops in the plan's order first; the rest (not in the applied plan) keep window order.
    stops.sort(key=lambda stop: (stop.sequence is None, stop.sequence or 0))
    return TechnicianRouteRead(
        technician_id=technician.id,
        day=day,
        shift=shift_read(shifts[0]) if shifts else None,
        current=ping_read(repo.current_location(session, technician_id=technician.id)),
        stops=stops,
    )


def _plan_fields(stop: PlannedStop | None) -> dict[str, Any]:
    """Return the applied plan's sequence and times for a route stop (empty if unplanned)."""
    if stop is None:
        return {}
    return {
        "sequence": stop.sequence,
        "eta_at": stop.eta_at,
        "start_at": stop.start_at,
        "end_at": stop.end_at,
        "is_pinned": stop.is_pinned,
    }


# Profiles.
router = APIRouter(prefix="/technicians", tags=["technicians"])
MAX_PAGE_SIZE = 500


def technician_read(session: Session, row: TechnicianRow) -> TechnicianRead:
    """Shape a stored technician with its latest position."""
    home = from_wkb(row.home_base)
    current = repo.current_location(session, technician_id=row.id)
    return TechnicianRead(
        id=row.id,
        name=row.name,
        phone=row.phone,
        home_base=(home.x, home.y),  # type: ignore[attr-defined]
        skills=row.skills,
        territory=row.territory,
        max_orders=row.max_orders,
        capacity=row.capacity,
        is_active=row.is_active,
        current=ping_read(current),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@router.post(
    "",
    status_code=201,
    response_model=TechnicianRead,
    summary="Create a technician",
    description="Staff only. Skills come from the skill catalogue, territory from the stored "
    "regions; an id already taken is 409.",
    responses={409: {"description": "the id is taken (`technician_exists`)"}},
    dependencies=[STAFF],
)
def create_technician(
    technician_in: TechnicianCreate, request: Request, session: SessionDep, settings: SettingsDep
) -> TechnicianRead:
    row = service.create_technician(
        session,
        technician_in=technician_in,
        index=request.app.state.region_cache.index(session),
        settings=settings,
    )
    session.commit()
    return technician_read(session, row)


@router.get(
    "",
    response_model=TechnicianPage,
    summary="List technicians",
    description="Staff see every technician; a technician key sees only itself.",
    dependencies=[STAFF_OR_TECHNICIAN],
)
def list_technicians(
    session: SessionDep,
    principal: PrincipalDep,
    is_active: bool | None = None,
    skill: Annotated[str | None, Query(max_length=40, description="has this skill")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
) -> TechnicianPage:
    rows = repo.list_technicians(
        session,
        after_id=cursor,
        limit=limit + 1,
        only_id=None if principal.is_staff else principal.technician_id,
        is_active=is_active,
        skill=skill,
    )
    page = rows[:limit]
    return TechnicianPage(
        items=[technician_read(session, r) for r in page],
        next_cursor=page[-1].id if len(rows) > limit else None,
    )


@router.get(
    "/{technician_id}",
    response_model=TechnicianRead,
    summary="Read a technician",
    dependencies=[STAFF_OR_TECHNICIAN],
)
def read_technician(technician: VisibleTechnician, session: SessionDep) -> TechnicianRead:
    return technician_read(session, technician)


@router.patch(
    "/{technician_id}",
    response_model=TechnicianRead,
    summary="Change a technician's profile",
    description="Staff only. Send only the fields to change; `is_active: false` takes the "
    "technician out of dispatch without losing their history.",
    dependencies=[STAFF],
)
def update_technician(
    update_in: TechnicianUpdate,
    technician: VisibleTechnician,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> TechnicianRead:
    service.update_technician(
        technician,
        update_in=update_in,
        index=request.app.state.region_cache.index(session),
        settings=settings,
    )
    technician.updated_at = utc_now()
    session.commit()
    return technician_read(session, technician)


@router.delete(
    "/{technician_id}",
    response_model=TechnicianRead,
    summary="Deactivate a technician",
    description="Staff only. Technicians are never erased (tickets and payouts refer to "
    "them); this sets `is_active` to false.",
    dependencies=[STAFF],
)
def deactivate_technician(technician: VisibleTechnician, session: SessionDep) -> TechnicianRead:
    technician.is_active = False
    technician.updated_at = utc_now()
    session.commit()
    return technician_read(session, technician)


router.include_router(schedule_routes)
router.include_router(location_routes)
