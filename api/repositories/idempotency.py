"""Idempotency keys: claim one for a request, store its answer, replay it on a retry."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api.db.tables import IdempotencyKeyRow

ClaimKind = Literal["claimed", "replay", "in_flight", "mismatch"]


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of claiming a key; ``row`` is the stored key (always set)."""

    kind: ClaimKind
    row: IdempotencyKeyRow


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What makes two requests "the same": who, which key, and what exactly was asked."""

    principal: str
    key: str
    method: str
    path: str
    body_sha256: str


def claim(
    session: Session, *, fp: Fingerprint, now: datetime, ttl: timedelta, lock: timedelta
) -> Claim:
    """Claim ``fp.key`` for ``fp.principal`` as in flight, or say why it cannot be claimed.

    A key whose holder died (in flight past ``locked_until``) is taken over; an expired key
    is replaced. The caller commits right away so that concurrent requests see the claim.
    """
    claimed = _insert(session, fp=fp, now=now, ttl=ttl, lock=lock)
    if claimed is not None:
        return Claim("claimed", claimed)
    row = session.scalars(
        select(IdempotencyKeyRow).where(
            IdempotencyKeyRow.principal == fp.principal, IdempotencyKeyRow.key == fp.key
        )
    ).one()
    if row.expires_at <= now:
        session.execute(delete(IdempotencyKeyRow).where(IdempotencyKeyRow.id == row.id))
        claimed = _insert(session, fp=fp, now=now, ttl=ttl, lock=lock)
        return Claim("claimed", claimed) if claimed is not None else Claim("in_flight", row)
    if (row.method, row.path, row.body_sha256) != (fp.method, fp.path, fp.body_sha256):
        return Claim("mismatch", row)
    if row.status == "done":
        return Claim("replay", row)
    if row.locked_until > now:
        return Claim("in_flight", row)
    taken = session.execute(
        update(IdempotencyKeyRow)
        .where(
            IdempotencyKeyRow.id == row.id,
            IdempotencyKeyRow.status == "in_flight",
            IdempotencyKeyRow.locked_until == row.locked_until,
        )
        .values(locked_until=now + lock)
        .execution_options(synchronize_session="fetch")
    )
    return Claim("claimed" if taken.rowcount == 1 else "in_flight", row)  # type: ignore[attr-defined]


def _insert(
    session: Session, *, fp: Fingerprint, now: datetime, ttl: timedelta, lock: timedelta
) -> IdempotencyKeyRow | None:
    """Insert the key unless it exists (no error, no aborted transaction); return the new row."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(IdempotencyKeyRow)
        .values(
            principal=fp.principal,
            key=fp.key,
            method=fp.method,
            path=fp.path,
            body_sha256=fp.body_sha256,
            status="in_flight",
            created_at=now,
            locked_until=now + lock,
            expires_at=now + ttl,
        )
        .on_conflict_do_nothing(index_elements=["principal", "key"])
        .returning(IdempotencyKeyRow.id)
    )
    row_id = session.scalar(statement)
    return None if row_id is None else session.get(IdempotencyKeyRow, row_id)


def finish(session: Session, *, row_id: int, response_status: int, response_body: Any) -> None:
    """Store the answer of the request that held the key (in the request's own transaction)."""
    session.execute(
        update(IdempotencyKeyRow)
        .where(IdempotencyKeyRow.id == row_id)
        .values(status="done", response_status=response_status, response_body=response_body)
        .execution_options(synchronize_session=False)
    )


def release(session: Session, *, row_id: int) -> None:
    """Forget an in-flight key whose request failed, so that a retry runs it afresh."""
    session.execute(
        delete(IdempotencyKeyRow).where(
            IdempotencyKeyRow.id == row_id, IdempotencyKeyRow.status == "in_flight"
        )
    )


def purge_expired(session: Session, *, now: datetime) -> int:
    """Delete every key past its ``expires_at``; return how many went."""
    result = session.execute(delete(IdempotencyKeyRow).where(IdempotencyKeyRow.expires_at <= now))
    return int(result.rowcount)  # type: ignore[attr-defined]
