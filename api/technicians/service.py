"""Technicians' use cases: who may see one, creating and changing profiles, shifts as stored."""

from typing import Annotated, Any

import numpy as np
from fastapi import Depends
from sqlalchemy.orm import Session

from api.auth import PrincipalDep, Role, require_roles, utc_now
from api.config import Settings
from api.db.tables import TechnicianRow
from api.deps import SessionDep
from api.errors import ApiError, invalid_field
from api.technicians import repository as repo
from api.technicians.schemas import ShiftIn, TechnicianCreate, TechnicianUpdate
from geo.coords import to_wgs84
from geo.regions import RegionIndex

STAFF = require_roles(Role.ADMIN, Role.DISPATCHER)
STAFF_OR_TECHNICIAN = require_roles(Role.ADMIN, Role.DISPATCHER, Role.TECHNICIAN)


def visible_technician(
    technician_id: str, session: SessionDep, principal: PrincipalDep
) -> TechnicianRow:
    """Load a technician staff may see, or the caller itself; 404 for anyone else's."""
    row = repo.get_technician(session, technician_id=technician_id)
    if row is None or not (principal.is_staff or principal.technician_id == technician_id):
        raise ApiError(404, "not_found", f"no technician {technician_id}")
    return row


VisibleTechnician = Annotated[TechnicianRow, Depends(visible_technician)]


def new_shift(shift: ShiftIn) -> repo.NewShift:
    """Return a submitted shift as the repository stores it."""
    return repo.NewShift(
        day=shift.day,
        start_at=shift.start_at,
        end_at=shift.end_at,
        breaks=[b.model_dump(mode="json") for b in shift.breaks],
    )


def _check_refs(
    index: RegionIndex,
    settings: Settings,
    skills: dict[str, int] | None,
    territory: list[str] | None,
) -> None:
    for name in skills or {}:
        if name not in settings.skill_catalogue:
            known = ", ".join(settings.skill_catalogue)
            raise invalid_field(f"skills.{name}", f"unknown skill {name!r}; known: {known}")
    if territory:
        known_regions = {r.id for r in index.regions}
        for i, region_id in enumerate(territory):
            if region_id not in known_regions:
                raise invalid_field(f"territory[{i}]", f"unknown region {region_id!r}")


def _wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    lons, lats = to_wgs84(np.array([lon]), np.array([lat]), crs)  # type: ignore[arg-type]
    return float(lons[0]), float(lats[0])


def create_technician(
    session: Session, *, technician_in: TechnicianCreate, index: RegionIndex, settings: Settings
) -> TechnicianRow:
    """Store a technician with their shifts (409 if the id is taken); the caller commits."""
    _check_refs(index, settings, technician_in.skills, technician_in.territory)
    if repo.get_technician(session, technician_id=technician_in.id) is not None:
        raise ApiError(
            409,
            "technician_exists",
            f"technician {technician_in.id!r} already exists",
            {"id": technician_in.id},
        )
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
    return row


def update_technician(
    technician: TechnicianRow,
    *,
    update_in: TechnicianUpdate,
    index: RegionIndex,
    settings: Settings,
) -> None:
    """Apply the fields sent (``None`` refused where a value is required); the caller commits."""
    _check_refs(index, settings, update_in.skills, update_in.territory)
    changes: dict[str, Any] = update_in.model_dump(exclude_unset=True, exclude={"crs"})
    if update_in.home_base is not None:
        changes["home_base"] = repo.point(*_wgs84(*update_in.home_base, update_in.crs))
    for name, value in changes.items():
        if value is None and name in {"name", "skills", "is_active", "home_base"}:
            raise invalid_field(name, "may not be null")
        setattr(technician, name, value)
    technician.updated_at = utc_now()
