"""``Idempotency-Key`` for creating routes, with Stripe's semantics.

1. The key, the work and the stored answer share one transaction: either the answer is
   stored with everything the request wrote, or nothing is.
2. While that transaction runs it holds the key (:func:`repo.hold`: an advisory lock on
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
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.auth import Principal, Role, utc_now
from api.config import Settings
from api.repositories import idempotency as repo

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
) -> repo.Fingerprint:
    """Return what makes a retry of this request "the same" request."""
    return repo.Fingerprint(
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
    if not repo.hold(session, fp=fp):
        raise in_flight(key)
    stored = repo.find(session, fp=fp, now=now)
    if stored is not None:  # nothing was written: the session's end rolls back and lets go
        return replay(stored, fp, key)
    maybe_purge(session)
    expires_at = key_expiry(now, settings)

    def store_with(answer: dict[str, Any]) -> None:
        repo.store(
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


def replay(stored: repo.StoredAnswer, fp: repo.Fingerprint, key: str) -> JSONResponse:
    """Answer a retry with the stored answer; 422 if the key was used for another request."""
    if not stored.is_for(fp):
        detail = {
            "code": "idempotency_key_reused",
            "message": f"Idempotency-Key {key!r} was used with a different request; "
            "use a new key for a new request",
            "details": {"field": "Idempotency-Key", "first_path": stored.path},
        }
        raise HTTPException(422, detail)
    return JSONResponse(
        status_code=stored.response_status,
        content=stored.response_body,
        headers={"Idempotent-Replayed": "true"},
    )


def in_flight(key: str) -> HTTPException:
    """Return the 409 for a key whose first request is still running."""
    detail = {
        "code": "idempotency_key_in_flight",
        "message": f"a request with Idempotency-Key {key!r} is still being processed; "
        "retry shortly",
        "details": {"field": "Idempotency-Key"},
    }
    return HTTPException(409, detail, headers={"Retry-After": "1"})


def maybe_purge(session: Session) -> None:
    """Delete expired keys at most every ten minutes per process, in the request's transaction."""
    global _last_purge
    now_s = time.monotonic()
    with _purge_lock:
        if now_s - _last_purge < _PURGE_EVERY_S:
            return
        _last_purge = now_s
    repo.purge_expired(session, now=utc_now())
