"""One ticket under an ``Idempotency-Key`` in one PostgreSQL statement.

``api.idempotency.run_idempotent`` takes a round trip per step: hold the key, look it up,
insert the rows, store the answer. On the request path PostgreSQL does all four in one
statement of data-modifying CTEs:

- ``held``: ``pg_try_advisory_xact_lock`` on the key, as ``idempotency.hold`` takes it;
- ``stored``: the key's row, if any (expired or not: the caller sorts that out);
- ``go``: one row when the key is held and unused, else none; every insert selects from it;
- customer, ticket and first history entry, chained by RETURNING as ``insert_ticket`` does;
- the key's row, its answer the caller's template with the new ticket's ``id`` set in.

A concurrent request that committed the same key between this statement's snapshot and its
lock makes an insert fail on a unique index; the caller then rolls back and takes the general
path, which sees that request's answer.

The statement is atomic by itself, so when it is the session's first it runs in autocommit:
one round trip instead of three (BEGIN, the statement, COMMIT).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    Engine,
    Select,
    Table,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from api.db.base import Base
from api.repositories import ticket_creation as creation
from api.repositories.idempotency import Fingerprint, StoredAnswer

_KEYS: Table = Base.metadata.tables["idempotency_key"]
_KEY_COLUMNS = ("principal", "key", "method", "path", "body_sha256", "response_status")
_KEY_TIMES = ("created_at", "expires_at")


@dataclass(frozen=True, slots=True)
class KeyedInsert:
    """What the statement found and did.

    ``is_held`` is False when another transaction holds the key; ``stored`` is the key's
    earlier answer (with its expiry) when it has one; ``ticket_id`` is set when the ticket was
    created now.
    """

    is_held: bool
    stored: StoredAnswer | None
    stored_expires_at: datetime | None
    ticket_id: int | None


def insert_ticket_keyed(
    session: Session,
    *,
    ticket: creation.NewTicket,
    actor_key_id: str | None,
    now: datetime,
    fp: Fingerprint,
    expires_at: datetime,
    response_status: int,
    answer: dict[str, Any],
) -> KeyedInsert:
    """Create ``ticket`` and store ``answer`` (its ``id`` filled in) under ``fp``, if unused.

    Raises ``IntegrityError`` on a unique violation (the external id exists, or a concurrent
    request just stored the key); the transaction is then aborted.
    """
    params = creation.bound_values(ticket, actor_key_id=actor_key_id, now=now)
    params |= {f"k_{name}": getattr(fp, name) for name in _KEY_COLUMNS if name != "response_status"}
    params |= {
        "k_lock_id": fp.lock_id(),
        "k_response_status": response_status,
        "k_created_at": now,
        "k_expires_at": expires_at,
        "k_answer": answer,
    }
    statement = _WITH_CUSTOMER if ticket.customer is not None else _WITHOUT_CUSTOMER
    row = _connection(session).execute(statement, params).one()
    stored = None
    if row.method is not None:
        stored = StoredAnswer(
            row.method, row.path, row.body_sha256, row.response_status, row.response_body
        )
    return KeyedInsert(bool(row.held), stored, row.expires_at, row.ticket_id)


def _connection(session: Session) -> Connection:
    """Return the connection to run the statement on: in autocommit if nothing has begun.

    A session that has begun (it read the regions' signature or purged keys, or it is a test's
    session inside a transaction) runs the statement in its transaction instead. Its
    connection goes back to the pool, and its default isolation, when the session ends.
    """
    if isinstance(session.get_bind(), Engine) and not session.in_transaction():
        return session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return session.connection()


def _statement(*, with_customer: bool) -> Select[Any]:
    held = select(
        func.pg_try_advisory_xact_lock(bindparam("k_lock_id", type_=BigInteger)).label("ok")
    ).cte("held")
    stored = (
        select(
            _KEYS.c.method,
            _KEYS.c.path,
            _KEYS.c.body_sha256,
            _KEYS.c.response_status,
            _KEYS.c.response_body,
            _KEYS.c.expires_at,
        )
        .where(_KEYS.c.principal == bindparam("k_principal"), _KEYS.c.key == bindparam("k_key"))
        .cte("stored")
    )
    go = (
        select(literal(1).label("go"))
        .where(select(held.c.ok).scalar_subquery(), ~exists(select(stored.c.method)))
        .cte("go")
    )
    new_ticket, inserts = creation.insert_ctes(with_customer=with_customer, source=go)
    answer = func.jsonb_set(
        cast(bindparam("k_answer", type_=JSON), JSONB),
        literal_column("ARRAY['id']"),
        func.to_jsonb(new_ticket.c.id),
    )
    key_values = select(
        *(bindparam(f"k_{n}", type_=_KEYS.c[n].type) for n in (*_KEY_COLUMNS, *_KEY_TIMES)),
        cast(answer, JSON),
    ).select_from(new_ticket)
    new_key = insert(_KEYS).from_select([*_KEY_COLUMNS, *_KEY_TIMES, "response_body"], key_values)
    one = select(literal(1).label("one")).subquery("one")
    return (
        select(
            select(held.c.ok).scalar_subquery().label("held"),
            select(new_ticket.c.id).scalar_subquery().label("ticket_id"),
            *stored.c,
        )
        .select_from(one.outerjoin(stored, true()))
        .add_cte(*inserts, new_key.cte("new_key"))
    )


_WITH_CUSTOMER = _statement(with_customer=True)
_WITHOUT_CUSTOMER = _statement(with_customer=False)
