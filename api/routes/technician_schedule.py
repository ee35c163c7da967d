"""A technician's shifts and the day's route (the applied plan's stops first)."""

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query

from api.auth import utc_now
from api.db.tables import TechnicianShiftRow
from api.deps import SessionDep, SettingsDep
from api.repositories import technicians as repo
from api.repositories.assignments import PlannedStop, planned_stops
from api.repositories.tickets import point_of
from api.routes.technician_access import (
    STAFF,
    STAFF_OR_TECHNICIAN,
    VisibleTechnician,
    invalid,
)
from api.routes.technician_locations import ping_read
from api.schemas.technicians import RouteStop, ShiftIn, ShiftRead, ShiftsPut, TechnicianRouteRead

router = APIRouter()  # included by ``api.routes.technicians`` (prefix and tag)


def new_shift(shift: ShiftIn) -> repo.NewShift:
    return repo.NewShift(
        day=shift.day,
        start_at=shift.start_at,
        end_at=shift.end_at,
        breaks=[b.model_dump(mode="json") for b in shift.breaks],
    )


def shift_read(row: TechnicianShiftRow) -> ShiftRead:
    """Shape a stored shift."""
    return ShiftRead.model_validate(
        {"day": row.day, "start_at": row.start_at, "end_at": row.end_at, "breaks": row.breaks}
    )


@router.put(
    "/{technician_id}/shifts",
    response_model=list[ShiftRead],
    summary="Set shifts",
    description="Staff only. Each shift replaces any shift on the same day.",
    dependencies=[STAFF],
)
def put_shifts(
    shifts_in: ShiftsPut, technician: VisibleTechnician, session: SessionDep
) -> list[ShiftRead]:
    shifts = [new_shift(s) for s in shifts_in.shifts]
    repo.put_shifts(session, technician_id=technician.id, shifts=shifts)
    session.commit()
    days = [s.day for s in shifts]
    stored = repo.shifts_between(
        session, technician_id=technician.id, first=min(days), last=max(days)
    )
    return [shift_read(s) for s in stored if s.day in days]


@router.get(
    "/{technician_id}/shifts",
    response_model=list[ShiftRead],
    summary="Shifts between two days",
    dependencies=[STAFF_OR_TECHNICIAN],
)
def read_shifts(
    technician: VisibleTechnician, session: SessionDep, first: date, last: date
) -> list[ShiftRead]:
    if last < first or (last - first).days > 92:
        raise invalid("last", "must be on or after first, at most 92 days later")
    rows = repo.shifts_between(session, technician_id=technician.id, first=first, last=last)
    return [shift_read(r) for r in rows]


@router.get(
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
    day: Annotated[date | None, Query(description="local date; default today")] = None,
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
            location=point_of(r),
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
