"""Idempotency keys: hold one for a request, find its stored answer, store a new answer."""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Table, bindparam, delete, func, insert, select
from sqlalchemy.orm import Session

from api.db.base import Base
from api.db.tables import IdempotencyKeyRow

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
