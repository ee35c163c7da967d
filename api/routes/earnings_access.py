"""Who may see and move a technician's money, and the checks on date ranges."""

from datetime import date
from typing import Annotated

from fastapi import Depends, HTTPException

from api.auth import PrincipalDep, Role
from api.db.tables import TechnicianRow
from api.deps import SessionDep

MAX_RANGE_DAYS = 366


def earnings_owner(technician_id: str, principal: PrincipalDep, session: SessionDep) -> str:
    """Let staff see anyone's earnings and a technician only their own (403 otherwise)."""
    if principal.role is Role.INTEGRATOR:
        raise HTTPException(
            403,
            {
                "code": "forbidden",
                "message": "integrators do not see earnings",
                "details": {"role": principal.role.value},
            },
        )
    if not principal.is_staff and principal.technician_id != technician_id:
        raise HTTPException(
            403,
            {
                "code": "forbidden",
                "message": "a technician sees only their own earnings",
                "details": {"technician_id": technician_id},
            },
        )
    if session.get(TechnicianRow, technician_id) is None:
        raise HTTPException(
            404,
            {
                "code": "not_found",
                "message": f"no technician {technician_id}",
                "details": {"technician_id": technician_id},
            },
        )
    return technician_id


OwnerDep = Annotated[str, Depends(earnings_owner)]


def bad_query(field: str, message: str) -> HTTPException:
    """Return the 422 for a bad query parameter, naming it."""
    return HTTPException(
        422,
        {"code": "validation_error", "message": f"{field}: {message}", "details": {"field": field}},
    )


def check_range(first: date | None, last: date | None) -> None:
    """Refuse an inverted range or one longer than ``MAX_RANGE_DAYS`` (422)."""
    if first is not None and last is not None:
        if first > last:
            raise bad_query("first", "must not be after last")
        if (last - first).days >= MAX_RANGE_DAYS:
            raise bad_query("last", f"a range covers at most {MAX_RANGE_DAYS} days")
