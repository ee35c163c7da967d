"""``Idempotency-Key`` for creating routes, with Stripe's semantics.

1. The key is claimed "in flight" in its own short transaction, committed at once, so that a
   concurrent request with the same key sees it and gets 409.
2. The work and the stored answer are committed together in a second transaction: either
   both exist or neither does.
3. A retry with the same key and body gets the stored status and body back, with
   ``Idempotent-Replayed: true``; the same key with another body is 422.
4. If the work fails the claim is released; if the process dies the claim expires after
   ``idempotency_lock_s`` and the next retry takes it over.
"""

import hashlib
import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Header, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.auth import Principal, Role, utc_now
from api.config import Settings
from api.repositories import idempotency as repo
from api.repositories.tickets import begin_write

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
        begin_write(session)
        result = jsonable_encoder(work())
        session.commit()
        return JSONResponse(status_code=status_code, content=result)
    fp = repo.Fingerprint(
        principal=principal_scope(principal),
        key=key,
        method=request.method,
        path=request.url.path,
        body_sha256=body_sha256(body),
    )
    now = utc_now()
    begin_write(session)
    _maybe_purge(session, now_s=time.monotonic())
    claim = repo.claim(
        session,
        fp=fp,
        now=now,
        ttl=timedelta(hours=settings.idempotency_ttl_h),
        lock=timedelta(seconds=settings.idempotency_lock_s),
    )
    session.commit()
    if claim.kind != "claimed":
        return _refusal_or_replay(claim, key)
    row_id = claim.row.id
    begin_write(session)
    try:
        result = jsonable_encoder(work())
        repo.finish(session, row_id=row_id, response_status=status_code, response_body=result)
        session.commit()
    except BaseException:
        session.rollback()
        repo.release(session, row_id=row_id)
        session.commit()
        raise
    return JSONResponse(status_code=status_code, content=result)


def _refusal_or_replay(claim: repo.Claim, key: str) -> JSONResponse:
    if claim.kind == "replay":
        return JSONResponse(
            status_code=claim.row.response_status or 200,
            content=claim.row.response_body,
            headers={"Idempotent-Replayed": "true"},
        )
    if claim.kind == "mismatch":
        detail = {
            "code": "idempotency_key_reused",
            "message": f"Idempotency-Key {key!r} was used with a different request; "
            "use a new key for a new request",
            "details": {"field": "Idempotency-Key", "first_path": claim.row.path},
        }
        raise HTTPException(422, detail)
    detail = {
        "code": "idempotency_key_in_flight",
        "message": f"a request with Idempotency-Key {key!r} is still being processed; "
        "retry shortly",
        "details": {"field": "Idempotency-Key"},
    }
    raise HTTPException(409, detail, headers={"Retry-After": "1"})


def _maybe_purge(session: Session, *, now_s: float) -> None:
    """Delete expired keys at most every ten minutes per process, in the claim's transaction."""
    global _last_purge
    with _purge_lock:
        if now_s - _last_purge < _PURGE_EVERY_S:
            return
        _last_purge = now_s
    repo.purge_expired(session, now=utc_now())
