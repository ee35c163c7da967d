"""Technician profiles; shifts, the route and GPS pings come from the included routers."""

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy.orm import Session

from api.auth import PrincipalDep, utc_now
from api.config import Settings
from api.db.spatial import from_wkb
from api.db.tables import TechnicianRow
from api.deps import SessionDep, SettingsDep
from api.repositories import technicians as repo
from api.routes import technician_locations, technician_schedule
from api.routes.technician_access import (
    STAFF,
    STAFF_OR_TECHNICIAN,
    VisibleTechnician,
    invalid,
)
from api.routes.technician_locations import ping_read
from api.routes.technician_schedule import new_shift
from api.schemas.technicians import (
    TechnicianCreate,
    TechnicianPage,
    TechnicianRead,
    TechnicianUpdate,
)
from geo.coords import to_wgs84

router = APIRouter(prefix="/technicians", tags=["technicians"])
MAX_PAGE_SIZE = 500


def _check_refs(
    request: Request,
    session: Session,
    settings: Settings,
    skills: dict[str, int] | None,
    territory: list[str] | None,
) -> None:
    for name in skills or {}:
        if name not in settings.skill_catalogue:
            known = ", ".join(settings.skill_catalogue)
            raise invalid(f"skills.{name}", f"unknown skill {name!r}; known: {known}")
    if territory:
        known_regions = {r.id for r in request.app.state.region_cache.index(session).regions}
        for i, region_id in enumerate(territory):
            if region_id not in known_regions:
                raise invalid(f"territory[{i}]", f"unknown region {region_id!r}")


def _wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    lons, lats = to_wgs84(np.array([lon]), np.array([lat]), crs)  # type: ignore[arg-type]
    return float(lons[0]), float(lats[0])


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
    dependencies=[STAFF],
)
def create_technician(
    technician_in: TechnicianCreate, request: Request, session: SessionDep, settings: SettingsDep
) -> TechnicianRead:
    _check_refs(request, session, settings, technician_in.skills, technician_in.territory)
    if repo.get_technician(session, technician_id=technician_in.id) is not None:
        detail = {
            "code": "technician_exists",
            "message": f"technician {technician_in.id!r} already exists",
            "details": {"id": technician_in.id},
        }
        raise HTTPException(409, detail)
    now = utc_now()
    row = TechnicianRow(
        id=technician_in.id,
        name=technician_in.name,
        phone=technician_in.phone,
        home_base=repo.point(*_wgs84(*technician_in.home_base, technician_in.crs)),
        skills=dict(technician_in.skills),
        territory=technician_in.territory,
        max_orders=technician_in.max_orders,
        capacity=technician_in.capacity,
        is_active=technician_in.is_active,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    shifts = [new_shift(s) for s in technician_in.shifts]
    repo.put_shifts(session, technician_id=row.id, shifts=shifts)
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
    _check_refs(request, session, settings, update_in.skills, update_in.territory)
    changes: dict[str, Any] = update_in.model_dump(exclude_unset=True, exclude={"crs"})
    if update_in.home_base is not None:
        changes["home_base"] = repo.point(*_wgs84(*update_in.home_base, update_in.crs))
    for name, value in changes.items():
        if value is None and name in {"name", "skills", "is_active", "home_base"}:
            raise invalid(name, "may not be null")
        setattr(technician, name, value)
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


router.include_router(technician_schedule.router)
router.include_router(technician_locations.router)
