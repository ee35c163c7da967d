"""Who may see a technician, and the one shape of the technician routes' 422."""

from typing import Annotated

from fastapi import Depends, HTTPException

from api.auth import PrincipalDep, Role, require_roles
from api.db.tables import TechnicianRow
from api.deps import SessionDep
from api.repositories import technicians as repo

STAFF = require_roles(Role.ADMIN, Role.DISPATCHER)
STAFF_OR_TECHNICIAN = require_roles(Role.ADMIN, Role.DISPATCHER, Role.TECHNICIAN)


def visible_technician(
    technician_id: str, session: SessionDep, principal: PrincipalDep
) -> TechnicianRow:
    """Load a technician staff may see, or the caller itself; 404 for anyone else's."""
    row = repo.get_technician(session, technician_id=technician_id)
    if row is None or not (principal.is_staff or principal.technician_id == technician_id):
        detail = {"code": "not_found", "message": f"no technician {technician_id}", "details": {}}
        raise HTTPException(404, detail)
    return row


VisibleTechnician = Annotated[TechnicianRow, Depends(visible_technician)]


def invalid(field: str, message: str) -> HTTPException:
    """Return the 422 for one invalid ``field``."""
    errors = [{"field": field, "message": message}]
    body = {
        "code": "validation_error",
        "message": f"{field}: {message}",
        "details": {"errors": errors},
    }
    return HTTPException(422, body)
