"""Bearer-token authentication and role checks.

Tokens are random (256 bits) and shown once; only their SHA-256 is stored, which is enough for
secrets of that entropy (no password stretching needed) and lets a lookup use the unique index.
Roles: ``admin`` and ``dispatcher`` see everything; a ``technician`` key is bound to one
technician id and an ``integrator`` key to one source (tenant), and object checks use them.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.tables import ApiKeyRow
from api.deps import SessionDep

TOKEN_PREFIX = "gd_"


class Role(StrEnum):
    """What a key may do."""

    ADMIN = "admin"
    DISPATCHER = "dispatcher"
    TECHNICIAN = "technician"
    INTEGRATOR = "integrator"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller behind a request's bearer token."""

    key_id: str
    name: str
    role: Role
    technician_id: str | None = None
    source: str | None = None

    @property
    def is_staff(self) -> bool:
        """Whether the caller may see every object (admin or dispatcher)."""
        return self.role in {Role.ADMIN, Role.DISPATCHER}


class KeyBindingError(ValueError):
    """A key's role and its technician/source binding do not fit together."""


def hash_token(token: str) -> str:
    """Return the stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_key(
    session: Session,
    *,
    role: Role,
    name: str,
    technician_id: str | None = None,
    source: str | None = None,
) -> tuple[ApiKeyRow, str]:
    """Create a key; return its row and the token, which is not stored and is shown only once."""
    if role is Role.TECHNICIAN and not technician_id:
        raise KeyBindingError("a technician key needs --technician ID")
    if role is Role.INTEGRATOR and not source:
        raise KeyBindingError("an integrator key needs --source NAME")
    if role is not Role.TECHNICIAN and technician_id:
        raise KeyBindingError("only technician keys are bound to a technician")
    if role is not Role.INTEGRATOR and source:
        raise KeyBindingError("only integrator keys are bound to a source")
    key_id = secrets.token_hex(8)
    token = f"{TOKEN_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    row = ApiKeyRow(
        id=key_id,
        name=name,
        role=role.value,
        technician_id=technician_id,
        source=source,
        token_sha256=hash_token(token),
    )
    session.add(row)
    session.flush()
    return row, token


def revoke_key(session: Session, *, key_id: str, now: datetime) -> bool:
    """Revoke a key from ``now`` on; return whether an active key was revoked."""
    row = session.get(ApiKeyRow, key_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now
    session.flush()
    return True


def _unauthorized(message: str) -> HTTPException:
    detail = {"code": "unauthorized", "message": message, "details": {}}
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def get_principal(request: Request, session: SessionDep) -> Principal:
    """Authenticate the request's ``Authorization: Bearer <token>`` header (401 otherwise)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    row = session.scalar(
        select(ApiKeyRow).where(ApiKeyRow.token_sha256 == hash_token(token.strip()))
    )
    if row is None or row.revoked_at is not None:
        raise _unauthorized("invalid or revoked token")
    return Principal(
        key_id=row.id,
        name=row.name,
        role=Role(row.role),
        technician_id=row.technician_id,
        source=row.source,
    )


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: Role) -> Any:
    """Return a dependency that lets only ``roles`` through (403 for any other role)."""
    allowed = frozenset(roles)

    def check(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed:
            names = ", ".join(sorted(allowed))
            detail = {
                "code": "forbidden",
                "message": f"role {principal.role} may not do this (needs one of: {names})",
                "details": {"role": principal.role.value},
            }
            raise HTTPException(403, detail)
        return principal

    return Depends(check)


def utc_now() -> datetime:
    """Return the current time, timezone-aware (the one clock the service reads)."""
    return datetime.now(UTC)
