"""``Idempotency-Key`` for creating routes, with Stripe's semantics, and the keys' storage.

1. The key, the work and the stored answer share one transaction: either the answer is
   stored with everything the request wrote, or nothing is.
2. While that transaction runs it holds the key (:func:`hold`: an advisory lock on
   PostgreSQL; SQLite's single writer), so a concurrent request with the same key gets 409.
3. A retry with the same key and body gets the stored status and body back, with
   ``Idempotent-Replayed: true``; the same key with another body is 422.
4. A failed request stores nothing, and a process that dies mid-request has its transaction
   rolled back by the database: either way the next retry runs afresh.
"""

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import BigInteger, Table, bindparam, delete, func, insert, select
from sqlalchemy.orm import Session

from api.auth import Principal, Role, utc_now
from api.config import Settings
from api.db.base import Base
from api.db.tables import IdempotencyKeyRow
from api.errors import ApiError

# Keys in the database: hold one for a request, find its stored answer, store a new answer.
# Constant Core statements on the table: the request path skips the ORM, and each statement
# is compiled once with its values bound per call.
_KEYS: Table = Base.metadata.tables[IdempotencyKeyRow.__tablename__]
_TRY_LOCK = select(func.pg_try_advisory_xact_lock(bindparam("lock_id", type_=BigInteger)))
_FIND = select(
    _KEYS.c.id,
    _KEYS.c.method,
    _KEYS.c.path,
    _KEYS.c.body_sha256,
    _KEYS.c.response_status,
    _KEYS.c.response_body,
    _KEYS.c.expires_at,
).where(_KEYS.c.principal == bindparam("principal"), _KEYS.c.key == bindparam("key"))
_DELETE = delete(_KEYS).where(_KEYS.c.id == bindparam("row_id"))
_INSERT = insert(_KEYS)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What makes two requests "the same": who, which key, and what exactly was asked."""

    principal: str
    key: str
    method: str
    path: str
    body_sha256: str

    def lock_id(self) -> int:
        """Return a signed 64-bit number for the key (PostgreSQL's advisory lock ids)."""
        digest = hashlib.sha256(f"{self.principal}\n{self.key}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The request a key was first used for, and the answer it got."""

    method: str
    path: str
    body_sha256: str
    response_status: int
    response_body: Any

    def is_for(self, fp: Fingerprint) -> bool:
        """Whether ``fp`` asks exactly what the first request asked."""
        return (self.method, self.path, self.body_sha256) == (fp.method, fp.path, fp.body_sha256)


def hold(session: Session, *, fp: Fingerprint) -> bool:
    """Hold ``fp``'s key until this transaction ends; False if another transaction holds it.

    PostgreSQL: a transaction-level advisory lock on :meth:`Fingerprint.lock_id`, tried without
    waiting, so a concurrent duplicate learns at once that the key is in flight. SQLite: the
    transaction began ``IMMEDIATE`` and so already excludes every other writer.
    """
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return True
    return bool(conn.execute(_TRY_LOCK, {"lock_id": fp.lock_id()}).scalar_one())


def find(session: Session, *, fp: Fingerprint, now: datetime) -> StoredAnswer | None:
    """Return the answer stored under ``fp``'s key, unless it has expired (then delete it)."""
    conn = session.connection()
    row = conn.execute(_FIND, {"principal": fp.principal, "key": fp.key}).first()
    if row is None:
        return None
    if row.expires_at <= now:
        conn.execute(_DELETE, {"row_id": row.id})
        return None
    return StoredAnswer(
        row.method, row.path, row.body_sha256, row.response_status, row.response_body
    )


def store(
    session: Session,
    *,
    fp: Fingerprint,
    now: datetime,
    expires_at: datetime,
    response_status: int,
    response_body: Any,
) -> None:
    """Store the answer to ``fp`` in the request's own transaction (the caller holds the key)."""
    values = {
        "principal": fp.principal,
        "key": fp.key,
        "method": fp.method,
        "path": fp.path,
        "body_sha256": fp.body_sha256,
        "response_status": response_status,
        "response_body": response_body,
        "created_at": now,
        "expires_at": expires_at,
    }
    session.connection().execute(_INSERT, values)


def purge_expired(session: Session, *, now: datetime) -> int:
    """Delete every key past its ``expires_at``; return how many went."""
    result = session.execute(delete(IdempotencyKeyRow).where(IdempotencyKeyRow.expires_at <= now))
    return int(result.rowcount)  # type: ignore[attr-defined]


# The request side: fingerprints, replays and the one transaction around the work.
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string (a UUID is good) to make retries safe: a retry with "
        "the same key and body returns the first answer with `Idempotent-Replayed: true`; "
        "the same key with another body is 422; while the first request runs, 409. Keys "
        "are kept at least 24 hours.",
    ),
]

_PURGE_EVERY_S = 600.0
_purge_lock = threading.Lock()
_last_purge = 0.0


def principal_scope(principal: Principal) -> str:
    """Return whose keys these are: an integrator's source (kept across key rotation), or a key."""
    if principal.role is Role.INTEGRATOR and principal.source:
        return f"source:{principal.source}"
    return f"key:{principal.key_id}"


def body_sha256(body: BaseModel) -> str:
    """Hash a validated body canonically (key order and whitespace do not matter)."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def fingerprint(
    *, request: Request, principal: Principal, key: str, body: BaseModel
) -> Fingerprint:
    """Return what makes a retry of this request "the same" request."""
    return Fingerprint(
        principal=principal_scope(principal),
        key=key,
        method=request.method,
        path=request.url.path,
        body_sha256=body_sha256(body),
    )


def key_expiry(now: datetime, settings: Settings) -> datetime:
    """Return until when a key used ``now`` is kept."""
    return now + timedelta(hours=settings.idempotency_ttl_h)


def run_idempotent(
    session: Session,
    *,
    request: Request,
    principal: Principal,
    key: str | None,
    body: BaseModel,
    settings: Settings,
    status_code: int,
    work: Callable[[], BaseModel],
) -> JSONResponse:
    """Run ``work`` (which writes but does not commit) once per key; commit; answer JSON."""
    if key is None:
        return _commit(session, status_code, work)
    fp = fingerprint(request=request, principal=principal, key=key, body=body)
    now = utc_now()
    if not hold(session, fp=fp):
        raise in_flight(key)
    stored = find(session, fp=fp, now=now)
    if stored is not None:  # nothing was written: the session's end rolls back and lets go
        return replay(stored, fp, key)
    maybe_purge(session)
    expires_at = key_expiry(now, settings)

    def store_with(answer: dict[str, Any]) -> None:
        store(
            session,
            fp=fp,
            now=now,
            expires_at=expires_at,
            response_status=status_code,
            response_body=answer,
        )

    return _commit(session, status_code, work, store_with)


def _commit(
    session: Session,
    status_code: int,
    work: Callable[[], BaseModel],
    store: Callable[[dict[str, Any]], None] | None = None,
) -> JSONResponse:
    """Run ``work``, store its answer if asked, and commit; roll everything back on failure."""
    try:
        answer = work().model_dump(mode="json", by_alias=True)
        if store is not None:
            store(answer)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return JSONResponse(status_code=status_code, content=answer)


def replay(stored: StoredAnswer, fp: Fingerprint, key: str) -> JSONResponse:
    """Answer a retry with the stored answer; 422 if the key was used for another request."""
    if not stored.is_for(fp):
        raise ApiError(
            422,
            "idempotency_key_reused",
            f"Idempotency-Key {key!r} was used with a different request; "
            "use a new key for a new request",
            {"field": "Idempotency-Key", "first_path": stored.path},
        )
    return JSONResponse(
        status_code=stored.response_status,
        content=stored.response_body,
        headers={"Idempotent-Replayed": "true"},
    )


def in_flight(key: str) -> ApiError:
    """Return the 409 for a key whose first request is still running."""
    return ApiError(
        409,
        "idempotency_key_in_flight",
        f"a request with Idempotency-Key {key!r} is still being processed; retry shortly",
        {"field": "Idempotency-Key"},
        headers={"Retry-After": "1"},
    )


def maybe_purge(session: Session) -> None:
    """Delete expired keys at most every ten minutes per process, in the request's transaction."""
    global _last_purge
    now_s = time.monotonic()
    with _purge_lock:
        if now_s - _last_purge < _PURGE_EVERY_S:
            return
        _last_purge = now_s
    purge_expired(session, now=utc_now())
