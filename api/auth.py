"""Bearer-token authentication and role checks.

Tokens are random (256 bits) and shown once; only their SHA-256 is stored, which is enough for
secrets of that entropy (no password stretching needed) and lets a lookup use the unique index.
Roles: ``admin`` and ``dispatcher`` see everything; a ``technician`` key is bound to one
technician id and an ``integrator`` key to one source (tenant), and object checks use them.

Each process remembers the principals of tokens it authenticated for ``auth_cache_s`` seconds
(:class:`PrincipalCache`), so most requests cost no query; a revoked key is therefore refused
at most that long after the revocation commits.
"""

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.browser_session import (
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    request_session,
    session_signer,
)
from api.config import Settings, get_settings
from api.db.tables import ApiKeyRow
from api.deps import SessionDep
from api.errors import ApiError

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


class PrincipalCache:
    """Principals of recently authenticated tokens, keyed by token hash, kept ``ttl_s`` seconds.

    Only valid tokens are kept (unknown ones would let anyone fill the memory), at most
    ``max_entries`` of them; when full, the oldest entry goes. ``ttl_s = 0`` keeps nothing.
    """

    def __init__(
        self,
        ttl_s: float,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Principal]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token_sha256: str) -> Principal | None:
        """Return the principal of a token seen less than ``ttl_s`` ago, else None."""
        entry = self._entries.get(token_sha256)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def put(self, token_sha256: str, principal: Principal) -> None:
        """Remember a token's principal for ``ttl_s`` seconds from now."""
        if self._ttl_s <= 0:
            return
        with self._lock:
            self._entries.pop(token_sha256, None)
            if len(self._entries) >= self._max_entries:
                del self._entries[next(iter(self._entries))]
            self._entries[token_sha256] = (self._clock() + self._ttl_s, principal)


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def _principal_cache(request: Request) -> PrincipalCache:
    """Return the app's cache, made on first use from the app's (else the process's) settings."""
    state = request.app.state
    cache: PrincipalCache | None = getattr(state, "principal_cache", None)
    if cache is None:
        settings: Settings = getattr(state, "settings", None) or get_settings()
        cache = state.principal_cache = PrincipalCache(settings.auth_cache_s)
    return cache


def _load_principal(session: Session, token_sha256: str) -> Principal | None:
    """Look the token up; end the read so the connection goes back to the pool at once.

    A request must not hold a connection while it waits for something else (a route's limit
    on concurrent work, a thread): the holders of the few connections could be waiting for it.
    """
    return _principal_of(session, ApiKeyRow.token_sha256 == token_sha256)


def load_principal_by_token(session: Session, token: str) -> Principal | None:
    """Return the principal of an active key's token, or None (the sign-in page uses it)."""
    return _load_principal(session, hash_token(token.strip()))


def _load_principal_by_key(session: Session, key_id: str) -> Principal | None:
    return _principal_of(session, ApiKeyRow.id == key_id)


def _principal_of(session: Session, condition: Any) -> Principal | None:
    row = session.scalar(select(ApiKeyRow).where(condition))
    principal = None
    if row is not None and row.revoked_at is None:
        principal = Principal(
            key_id=row.id,
            name=row.name,
            role=Role(row.role),
            technician_id=row.technician_id,
            source=row.source,
        )
    session.commit()
    return principal


async def get_principal(request: Request, session: SessionDep) -> Principal:
    """Authenticate the request's ``Authorization: Bearer <token>`` header (401 otherwise).

    Without the header, a browser's session cookie (``/login``) stands for the key it signed in
    with; a state-changing request by cookie must carry the session's CSRF token (403 without).
    Async so that a cached token costs no trip to the thread pool; a lookup goes there.
    """
    header = request.headers.get("authorization", "")
    if not header and SESSION_COOKIE in request.cookies:
        return await _cookie_principal(request, session)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    token_sha256 = hash_token(token.strip())
    cache = _principal_cache(request)
    principal = cache.get(token_sha256)
    if principal is None:
        principal = await run_in_threadpool(_load_principal, session, token_sha256)
        if principal is None:
            raise _unauthorized("invalid or revoked token")
        cache.put(token_sha256, principal)
    return principal


async def _cookie_principal(request: Request, session: Session) -> Principal:
    """Authenticate a browser session cookie; check the CSRF token of a state change."""
    browser = request_session(request)
    if browser is None:
        raise _unauthorized("session expired or invalid: sign in again at /login")
    if request.method not in SAFE_METHODS:
        token = request.headers.get(CSRF_HEADER)
        if not session_signer(request).is_valid_csrf(browser, token):
            raise ApiError(
                403,
                "csrf_failed",
                f"a change made with a session cookie needs its {CSRF_HEADER} header",
            )
    cache = _principal_cache(request)
    cache_key = f"key:{browser.key_id}"
    principal = cache.get(cache_key)
    if principal is None:
        principal = await run_in_threadpool(_load_principal_by_key, session, browser.key_id)
        if principal is None:
            raise _unauthorized("the key of this session was revoked: sign in again at /login")
        cache.put(cache_key, principal)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: Role) -> Any:
    """Return a dependency that lets only ``roles`` through (403 for any other role)."""
    allowed = frozenset(roles)

    async def check(principal: PrincipalDep) -> Principal:  # async: no thread-pool trip
        if principal.role not in allowed:
            names = ", ".join(sorted(allowed))
            raise ApiError(
                403,
                "forbidden",
                f"role {principal.role} may not do this (needs one of: {names})",
                {"role": principal.role.value},
            )
        return principal

    return Depends(check)


def utc_now() -> datetime:
    """Return the current time, timezone-aware (the one clock the service reads)."""
    return datetime.now(UTC)
