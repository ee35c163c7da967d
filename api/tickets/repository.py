"""Tickets in the database: creating, loading, moving through the lifecycle, listing, confirming.

Functions take a session and keyword arguments, may flush, and never commit. Creation comes in
three sizes: one ticket on the request path (fewest round trips), many in bulk, and on
PostgreSQL one ticket under an ``Idempotency-Key`` in a single statement
(:func:`insert_ticket_keyed`).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import (
    CTE,
    JSON,
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Select,
    String,
    Table,
    and_,
    bindparam,
    cast,
    column,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    table,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Session

from geoalchemy2 import WKTElement

from api.db.base import Base
from api.db.spatial import SRID
from api.db.tables import (
    CustomerRow,
    TechnicianRow,
    TicketRow,
    TicketSignatureRow,
    TicketStatusChangeRow,
)
from api.idempotency import Fingerprint, StoredAnswer
from api.rate_cards import repository as card_repo
from api.tickets.rules import (
    ASSIGNED,
    OPEN_STATUSES,
    Actor,
    CardTerms,
    Confirmation,
    IllegalTransition,
    NewTicket,
    TicketStatus,
    check_transition,
)
from settlement import RateCard
from settlement.rules.coefficients import KeyedCoefficientSlot
from settlement.rules.fees import MaterialSlot


# Loading one ticket and moving it through its lifecycle.
def begin_write(session: Session) -> None:
    """Do nothing: every SQLite transaction now begins as a writer (``BEGIN IMMEDIATE``).

    Kept only for ``api.technicians.router``, which still calls it; delete both.
    """


def get_technician(session: Session, *, technician_id: str) -> TechnicianRow | None:
    """Return the technician a ticket would be assigned to, or ``None``."""
    return session.get(TechnicianRow, technician_id)


def get_ticket(session: Session, *, ticket_id: int, for_update: bool = False) -> TicketRow | None:
    """Return one ticket, optionally locked against concurrent changes (PostgreSQL).

    A locked read refreshes a row the session already holds: the status a change is checked
    against must be the one read under the lock, not one loaded before waiting for it.
    """
    query = select(TicketRow).where(TicketRow.id == ticket_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalar(query)


def transition(
    session: Session,
    *,
    ticket: TicketRow,
    target: TicketStatus,
    actor: Actor,
    actor_key_id: str | None,
    at: datetime,
    note: str | None = None,
    technician_id: str | None = None,
) -> TicketStatusChangeRow:
    """Move ``ticket`` (loaded ``for_update``) to ``target`` and append the change to its history.

    Raises ``IllegalTransition`` / ``TransitionNotPermitted`` from the state machine, and
    ``IllegalTransition`` when the ticket would be scheduled without a technician.
    """
    current = TicketStatus(ticket.status)
    check_transition(current, target, actor)
    if technician_id is not None:
        ticket.technician_id = technician_id
    if target is TicketStatus.NEW:
        ticket.technician_id = None  # back in the pool: unassigned
    if target in ASSIGNED and ticket.technician_id is None:
        raise IllegalTransition(
            f"cannot go from {current} to {target}: no technician is assigned "
            "(send technician_id with to=scheduled)",
            from_status=current.value,
            to_status=target.value,
        )
    ticket.status = target.value
    ticket.updated_at = at
    change = TicketStatusChangeRow(
        ticket_id=ticket.id,
        from_status=current.value,
        to_status=target.value,
        at=at,
        actor_key_id=actor_key_id,
        note=note,
    )
    session.add(change)
    session.flush()
    return change


def mark_settled(
    session: Session, *, ticket_id: int, at: datetime, note: str | None = None
) -> TicketStatusChangeRow:
    """Move a confirmed ticket to ``settled``; the settlement engine calls this once paid out.

    Raises ``LookupError`` for an unknown ticket and ``IllegalTransition`` unless it is
    ``confirmed``.
    """
    ticket = get_ticket(session, ticket_id=ticket_id, for_update=True)
    if ticket is None:
        raise LookupError(f"no ticket {ticket_id}")
    return transition(
        session,
        ticket=ticket,
        target=TicketStatus.SETTLED,
        actor=Actor.SETTLEMENT,
        actor_key_id=None,
        at=at,
        note=note,
    )


# Creating tickets: one on the request path, or many in bulk.
_IN_CHUNK = 1000  # bound parameters per IN (...) list


_TICKET: Table = Base.metadata.tables["ticket"]
_HISTORY: Table = Base.metadata.tables["ticket_status_change"]
_INSERT_TICKET = insert(_TICKET).returning(_TICKET.c.id)
_INSERT_CHANGE = insert(_HISTORY)
_CHANGE_COLUMNS = ("to_status", "at", "actor_key_id")
# What ``_ticket_values`` fills: every column but the id and the technician, set later.
_TICKET_COLUMNS = tuple(c.name for c in _TICKET.columns if c.name not in {"id", "technician_id"})


def existing_external_ids(
    session: Session, *, source: str, external_ids: Sequence[str]
) -> dict[str, int]:
    """Return ``{external_id: id}`` of the given ids already stored for ``source``."""
    found: dict[str, int] = {}
    for i in range(0, len(external_ids), _IN_CHUNK):
        chunk = external_ids[i : i + _IN_CHUNK]
        query = select(TicketRow.external_id, TicketRow.id).where(
            TicketRow.source == source, TicketRow.external_id.in_(chunk)
        )
        found.update({ext: id_ for ext, id_ in session.execute(query)})
    return found


def _ticket_values(
    t: NewTicket, *, customer_id: int | None, actor_key_id: str | None, now: datetime
) -> dict[str, Any]:
    """Return the ``ticket`` row of ``t`` (status ``new``), without its id."""
    return {
        "source": t.source,
        "external_id": t.external_id,
        "type": t.type,
        # EWKT text, not a WKTElement: a SQL expression per row would make an executemany
        # fall back to one INSERT per row.
        "location": f"SRID={SRID};POINT({t.lon!r} {t.lat!r})",
        "region_id": t.region_id,
        "address": t.address,
        "duration_min": t.duration_min,
        "skills": t.skills,
        "time_windows": [[s.isoformat(), e.isoformat()] for s, e in t.windows],
        "window_start_at": t.windows[0][0] if t.windows else None,
        "window_end_at": t.windows[-1][1] if t.windows else None,
        "priority": t.priority,
        "sla_due_at": t.sla_due_at,
        "status": TicketStatus.NEW.value,
        "customer_id": customer_id,
        "notes": t.notes,
        "demand": t.demand,
        "units": t.units,
        "difficulty": list(t.difficulty),
        "materials": [{"code": code, "quantity": quantity} for code, quantity in t.materials],
        "created_by_key_id": actor_key_id,
        "created_at": now,
        "updated_at": now,
    }


def _history_values(ticket_id: int, *, actor_key_id: str | None, now: datetime) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "to_status": TicketStatus.NEW.value,
        "at": now,
        "actor_key_id": actor_key_id,
    }


def insert_ticket(
    session: Session,
    *,
    ticket: NewTicket,
    customer_id: int | None,
    actor_key_id: str | None,
    now: datetime,
) -> int:
    """Insert one ticket (status ``new``) of a customer and its first history entry; return its id.

    The request path: constant Core statements (compiled once, values bound per call) on the
    session's connection and no ORM objects. PostgreSQL takes both rows in one statement
    (:func:`insert_ctes`); SQLite, in process, in two.
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        params = bound_values(ticket, customer_id=customer_id, actor_key_id=actor_key_id, now=now)
        ticket_id: int = conn.execute(_ONE_STATEMENT, params).scalar_one()
        return ticket_id
    row = _ticket_values(ticket, customer_id=customer_id, actor_key_id=actor_key_id, now=now)
    ticket_id = conn.execute(_INSERT_TICKET, row).scalar_one()
    conn.execute(_INSERT_CHANGE, _history_values(ticket_id, actor_key_id=actor_key_id, now=now))
    return ticket_id


def bound_values(
    ticket: NewTicket, *, customer_id: int | None, actor_key_id: str | None, now: datetime
) -> dict[str, Any]:
    """Return the values :func:`insert_ctes` binds: names prefixed ``t_`` and ``h_``.

    The prefixes keep the ticket's and the history entry's columns apart, since several have
    the same names. The customer is already resolved (``api.customers.service.link_people``).
    """
    row = _ticket_values(ticket, customer_id=customer_id, actor_key_id=actor_key_id, now=now)
    change = _history_values(0, actor_key_id=actor_key_id, now=now)
    params = {f"t_{name}": row[name] for name in _TICKET_COLUMNS}
    return params | {f"h_{name}": change[name] for name in _CHANGE_COLUMNS}


def insert_ctes(
    *, source: CTE | None = None, customer_id: ColumnElement[int] | None = None
) -> tuple[CTE, list[CTE]]:
    """Return CTEs inserting a ticket and its first history entry (PostgreSQL).

    Data-modifying CTEs chained by RETURNING: the history entry takes the new ticket's id.
    Returns the ticket's CTE (its ``id`` column is the new id) and the CTEs the final
    statement must add. With ``source``, each row is selected from it, so nothing is inserted
    when it has no row. With ``customer_id`` (a column of ``source``: a customer inserted by
    the same statement), the ticket takes that customer instead of the bound one.
    """

    def rows(*columns: Any) -> Select[Any]:
        query = select(*columns)
        return query.select_from(source) if source is not None else query

    def bound(table: Table, name: str, prefix: str) -> Any:
        return bindparam(f"{prefix}{name}", type_=table.c[name].type)

    def ticket_value(name: str) -> Any:
        if name == "customer_id" and customer_id is not None:
            return customer_id
        return bound(_TICKET, name, "t_")

    ticket_values = rows(*(ticket_value(n) for n in _TICKET_COLUMNS))
    new_ticket = (
        insert(_TICKET)
        .from_select(_TICKET_COLUMNS, ticket_values)
        .returning(_TICKET.c.id)
        .cte("new_ticket")
    )
    change = select(new_ticket.c.id, *(bound(_HISTORY, n, "h_") for n in _CHANGE_COLUMNS))
    new_change = insert(_HISTORY).from_select(["ticket_id", *_CHANGE_COLUMNS], change)
    return new_ticket, [new_change.cte("new_change")]


def _one_statement() -> Select[int]:
    new_ticket, others = insert_ctes()
    return select(new_ticket.c.id).add_cte(*others)


_ONE_STATEMENT = _one_statement()


def create_tickets(
    session: Session,
    *,
    tickets: Sequence[NewTicket],
    actor_key_id: str | None,
    now: datetime,
    customer_ids: Sequence[int | None] | None = None,
) -> list[TicketRow]:
    """Insert ``tickets`` as :func:`insert_tickets` does; return them as detached rows."""
    customers = customer_ids if customer_ids is not None else [None] * len(tickets)
    rows = _insert_rows(
        session, tickets=tickets, customer_ids=customers, actor_key_id=actor_key_id, now=now
    )
    return [
        TicketRow(**{**row, "location": WKTElement(str(row["location"]), extended=True)})
        for row in rows
    ]


def insert_tickets(
    session: Session,
    *,
    tickets: Sequence[NewTicket],
    customer_ids: Sequence[int | None],
    actor_key_id: str | None,
    now: datetime,
) -> list[int]:
    """Insert ``tickets`` (status ``new``) of their customers with their first history entry.

    Ids are reserved first and rows go in as one executemany per table, so ten thousand
    tickets cost a handful of round trips. Returns the new ids, in the order of ``tickets``.
    """
    rows = _insert_rows(
        session, tickets=tickets, customer_ids=customer_ids, actor_key_id=actor_key_id, now=now
    )
    return [int(row["id"]) for row in rows]


def _insert_rows(
    session: Session,
    *,
    tickets: Sequence[NewTicket],
    customer_ids: Sequence[int | None],
    actor_key_id: str | None,
    now: datetime,
) -> list[dict[str, Any]]:
    ids = allocate_ids(session, table="ticket", n=len(tickets))
    rows = [
        {"id": id_, **_ticket_values(t, customer_id=c, actor_key_id=actor_key_id, now=now)}
        for id_, t, c in zip(ids, tickets, customer_ids, strict=True)
    ]
    session.execute(insert(_TICKET), rows)
    history = [_history_values(id_, actor_key_id=actor_key_id, now=now) for id_ in ids]
    session.execute(insert(_HISTORY), history)
    return rows


def allocate_ids(session: Session, *, table: str, n: int) -> list[int]:
    """Reserve ``n`` ids of ``table`` so that rows can be inserted without RETURNING.

    A multi-row INSERT ... RETURNING in the rows' order is slow through SQLAlchemy's
    insertmanyvalues (small pages); a plain executemany (a psycopg pipeline) is fast. On
    PostgreSQL the ids come from the table's sequence; on SQLite the transaction began
    ``IMMEDIATE``, so no other writer can move ``max(id)`` before it commits.
    """
    if n == 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        query = text(
            "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
        )
        return list(session.scalars(query, {"table": table, "n": n}))
    last = session.scalar(text(f"SELECT coalesce(max(id), 0) FROM {table}"))
    return list(range(int(last or 0) + 1, int(last or 0) + 1 + n))


# One ticket under an ``Idempotency-Key`` in one PostgreSQL statement.
#
# ``api.idempotency.run_idempotent`` takes a round trip per step: hold the key, look it up,
# insert the rows, store the answer. On the request path PostgreSQL does all four in one
# statement of data-modifying CTEs:
#
# - ``held``: ``pg_try_advisory_xact_lock`` on the key, as ``idempotency.hold`` takes it;
# - ``stored``: the key's row, if any (expired or not: the caller sorts that out);
# - ``go``: one row when the key is held and unused, else none; every insert selects from it;
# - for a customer new to the source (``api.customers.identity.one_statement_link`` decided
#   so before), the customer and its identifiers, chained by RETURNING;
# - ticket and first history entry, chained by RETURNING as ``insert_ticket`` does (the
#   customer is the new one, or the known one the link found);
# - the key's row, its answer the caller's template with the new ticket's ``id`` (and the new
#   customer's) set in.
#
# A concurrent request that committed the same key, or took the new customer's phone, between
# this statement's snapshot and its lock makes an insert fail on a unique index; the caller
# then rolls back and takes the general path, which sees that request's answer or customer.
#
# The statement is atomic by itself, so when it is the session's first it runs in autocommit:
# one round trip instead of three (BEGIN, the statement, COMMIT).
_KEYS: Table = Base.metadata.tables["idempotency_key"]
_KEY_COLUMNS = ("principal", "key", "method", "path", "body_sha256", "response_status")
_KEY_TIMES = ("created_at", "expires_at")
_CUSTOMER: Table = Base.metadata.tables["customer"]
_IDENTIFIERS: Table = Base.metadata.tables["customer_identifier"]
# What a new customer's row holds when the keyed statement creates it (``c_`` values).
_CUSTOMER_COLUMNS = (
    "source", "name", "phone", "email", "name_key", "address", "lon", "lat", "created_at",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class KeyedInsert:
    """What the statement found and did.

    ``is_held`` is False when another transaction holds the key; ``stored`` is the key's
    earlier answer (with its expiry) when it has one; ``ticket_id`` is set when the ticket was
    created now, and ``new_customer_id`` when its customer was too.
    """

    is_held: bool
    stored: StoredAnswer | None
    stored_expires_at: datetime | None
    ticket_id: int | None
    new_customer_id: int | None = None


def has_keyed_insert(session: Session) -> bool:
    """Whether this database can run :func:`insert_ticket_keyed` (PostgreSQL only)."""
    return session.get_bind().dialect.name == "postgresql"


@dataclass(frozen=True, slots=True)
class NewCustomerValues:
    """A customer the keyed statement creates: its row's values and its identifiers."""

    row: dict[str, Any]
    identifiers: tuple[tuple[str, str], ...]


def insert_ticket_keyed(
    session: Session,
    *,
    ticket: NewTicket,
    customer_id: int | None,
    actor_key_id: str | None,
    now: datetime,
    fp: Fingerprint,
    expires_at: datetime,
    response_status: int,
    answer: dict[str, Any],
    new_customer: NewCustomerValues | None = None,
) -> KeyedInsert:
    """Create ``ticket`` and store ``answer`` (its ``id`` filled in) under ``fp``, if unused.

    With ``new_customer``, the ticket's customer is created too, with its identifiers, and
    the answer's ``customer.id`` is filled in. Raises ``IntegrityError`` on a unique violation
    (the external id exists, a concurrent request just stored the key or one of the new
    customer's identifiers); the transaction is then aborted.
    """
    params = bound_values(ticket, customer_id=customer_id, actor_key_id=actor_key_id, now=now)
    statement = _KEYED_STATEMENT
    if new_customer is not None:
        statement = _KEYED_NEW_CUSTOMER_STATEMENT
        params |= {f"c_{name}": value for name, value in new_customer.row.items()}
        params |= {
            "c_kinds": [kind for kind, _ in new_customer.identifiers],
            "c_values": [value for _, value in new_customer.identifiers],
        }
    params |= {f"k_{name}": getattr(fp, name) for name in _KEY_COLUMNS if name != "response_status"}
    params |= {
        "k_lock_id": fp.lock_id(),
        "k_response_status": response_status,
        "k_created_at": now,
        "k_expires_at": expires_at,
        "k_answer": answer,
    }
    row = keyed_connection(session).execute(statement, params).one()
    stored = None
    if row.method is not None:
        stored = StoredAnswer(
            row.method, row.path, row.body_sha256, row.response_status, row.response_body
        )
    new_customer_id = row.customer_id if new_customer is not None else None
    return KeyedInsert(bool(row.held), stored, row.expires_at, row.ticket_id, new_customer_id)


def keyed_connection(session: Session) -> Connection:
    """Return the connection to run the statement on: in autocommit if nothing has begun.

    A session that has begun (it read the regions' signature or purged keys, or it is a test's
    session inside a transaction) runs the statement in its transaction instead. Its
    connection goes back to the pool, and its default isolation, when the session ends.
    """
    if isinstance(session.get_bind(), Engine) and not session.in_transaction():
        return session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return session.connection()


def _statement(*, with_new_customer: bool) -> Select[Any]:
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
    customer_ctes: list[CTE] = []
    if with_new_customer:
        new_customer, identifiers = _new_customer_ctes(source=go)
        customer_ctes = [new_customer, identifiers]
        new_ticket, inserts = insert_ctes(source=new_customer, customer_id=new_customer.c.id)
    else:
        new_ticket, inserts = insert_ctes(source=go)
    answer = func.jsonb_set(
        cast(bindparam("k_answer", type_=JSON), JSONB),
        literal_column("ARRAY['id']"),
        func.to_jsonb(new_ticket.c.id),
    )
    if with_new_customer:
        answer = func.jsonb_set(
            answer, literal_column("ARRAY['customer', 'id']"), func.to_jsonb(customer_ctes[0].c.id)
        )
    key_values = select(
        *(bindparam(f"k_{n}", type_=_KEYS.c[n].type) for n in (*_KEY_COLUMNS, *_KEY_TIMES)),
        cast(answer, JSON),
    ).select_from(new_ticket.join(customer_ctes[0], true()) if customer_ctes else new_ticket)
    new_key = insert(_KEYS).from_select([*_KEY_COLUMNS, *_KEY_TIMES, "response_body"], key_values)
    one = select(literal(1).label("one")).subquery("one")
    results = [
        select(held.c.ok).scalar_subquery().label("held"),
        select(new_ticket.c.id).scalar_subquery().label("ticket_id"),
    ]
    if with_new_customer:
        results.append(select(customer_ctes[0].c.id).scalar_subquery().label("customer_id"))
    return (
        select(*results, *stored.c)
        .select_from(one.outerjoin(stored, true()))
        .add_cte(*customer_ctes, *inserts, new_key.cte("new_key"))
    )


def _new_customer_ctes(*, source: CTE) -> tuple[CTE, CTE]:
    """Return CTEs inserting a customer and its identifiers, when ``source`` has a row.

    The customer's values are bound as ``c_`` names; each ``c_kinds``/``c_values`` pair is an
    identifier. The identifiers' unique index refuses one that another request took
    meanwhile: the statement then fails as a whole.
    """
    values = select(
        *(bindparam(f"c_{n}", type_=_CUSTOMER.c[n].type) for n in _CUSTOMER_COLUMNS)
    ).select_from(source)
    new_customer = (
        insert(_CUSTOMER)
        .from_select(_CUSTOMER_COLUMNS, values)
        .returning(_CUSTOMER.c.id)
        .cte("new_customer")
    )
    pairs = (
        func.unnest(
            bindparam("c_kinds", type_=ARRAY(String)), bindparam("c_values", type_=ARRAY(String))
        )
        .table_valued("kind", "value")
        .render_derived(name="pairs")
    )
    identifier_values = select(
        bindparam("c_source", type_=String),
        pairs.c.kind,
        pairs.c.value,
        new_customer.c.id,
        bindparam("c_created_at", type_=_CUSTOMER.c.created_at.type),
    ).select_from(new_customer.join(pairs, true()))
    columns = ["source", "kind", "value", "customer_id", "created_at"]
    identifiers = insert(_IDENTIFIERS).from_select(columns, identifier_values)
    return new_customer, identifiers.cte("new_identifiers")


_KEYED_STATEMENT = _statement(with_new_customer=False)
_KEYED_NEW_CUSTOMER_STATEMENT = _statement(with_new_customer=True)

# Reading tickets: filtered listing, customers, status history (read only).
SlaFilter = Literal["at_risk", "overdue"]


@dataclass(frozen=True, slots=True)
class TicketFilter:
    """What a listing is restricted to; ``None`` means no restriction."""

    source: str | None = None
    technician_id: str | None = None
    statuses: frozenset[str] = field(default_factory=frozenset)
    region_id: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    window_from: datetime | None = None
    window_to: datetime | None = None
    sla: SlaFilter | None = None


def customers_by_id(session: Session, *, ids: Iterable[int | None]) -> dict[int, CustomerRow]:
    """Return the customers with the given ids (``None`` entries are skipped)."""
    wanted = sorted({i for i in ids if i is not None})
    found: dict[int, CustomerRow] = {}
    for i in range(0, len(wanted), _IN_CHUNK):
        query = select(CustomerRow).where(CustomerRow.id.in_(wanted[i : i + _IN_CHUNK]))
        found.update({row.id: row for row in session.scalars(query)})
    return found


def list_tickets(
    session: Session,
    *,
    where: TicketFilter,
    after_id: int | None,
    limit: int,
    now: datetime,
    at_risk_margin: timedelta,
) -> list[TicketRow]:
    """Return up to ``limit`` matching tickets with ids above ``after_id``, in id order."""
    query = select(TicketRow).order_by(TicketRow.id).limit(limit)
    conditions = _conditions(session, where, now=now, at_risk_margin=at_risk_margin)
    if after_id is not None:
        conditions.append(TicketRow.id > after_id)
    return list(session.scalars(query.where(*conditions)))


def _conditions(
    session: Session, where: TicketFilter, *, now: datetime, at_risk_margin: timedelta
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.source is not None:
        conditions.append(TicketRow.source == where.source)
    if where.technician_id is not None:
        conditions.append(TicketRow.technician_id == where.technician_id)
    if where.statuses:
        conditions.append(TicketRow.status.in_(sorted(where.statuses)))
    if where.region_id is not None:
        conditions.append(TicketRow.region_id == where.region_id)
    if where.window_from is not None:
        conditions.append(TicketRow.window_end_at > where.window_from)
    if where.window_to is not None:
        conditions.append(TicketRow.window_start_at < where.window_to)
    if where.sla == "overdue":
        conditions.append(and_(TicketRow.sla_due_at < now, TicketRow.status.in_(OPEN_STATUSES)))
    elif where.sla == "at_risk":
        due_soon = TicketRow.sla_due_at.between(now, now + at_risk_margin)
        conditions.append(and_(due_soon, TicketRow.status.in_(OPEN_STATUSES)))
    if where.bbox is not None:
        conditions.append(_in_bbox(session, where.bbox))
    return conditions


def _in_bbox(session: Session, bbox: tuple[float, float, float, float]) -> ColumnElement[bool]:
    """Restrict to tickets in a lon/lat box through the spatial index of either database."""
    if session.get_bind().dialect.name == "sqlite":
        # SpatiaLite does not consult its R*Tree by itself; ticket.id is the rowid.
        index = table(
            "SpatialIndex",
            column("f_table_name"),
            column("f_geometry_column"),
            column("search_frame"),
        )
        return TicketRow.id.in_(
            select(literal_column("ROWID"))
            .select_from(index)
            .where(
                index.c.f_table_name == "ticket",
                index.c.f_geometry_column == "location",
                index.c.search_frame == func.BuildMbr(*bbox, SRID),
            )
        )
    envelope = func.ST_MakeEnvelope(*bbox, SRID)
    return TicketRow.location.op("&&")(envelope)


def history(session: Session, *, ticket_id: int) -> list[TicketStatusChangeRow]:
    """Return a ticket's status changes, oldest first."""
    query = (
        select(TicketStatusChangeRow)
        .where(TicketStatusChangeRow.ticket_id == ticket_id)
        .order_by(TicketStatusChangeRow.id)
    )
    return list(session.scalars(query))


# The words a ticket may use for its work facts: the rate cards' difficulty flags and materials.
#
# A flag or material no card knows would silently earn or deduct nothing, so tickets are checked
# against the stored rate-card versions that still price orders (open-ended, or ending after
# ``today``): a flag of last year's card is refused, one of next month's card is fine.


def card_terms(session: Session, *, today: date) -> CardTerms:
    """Collect the flags and material codes of every version not expired by ``today``."""
    terms = [_terms_of(card) for card in card_repo.cards_not_expired(session, today=today)]
    return CardTerms(
        flags=frozenset().union(*(t.flags for t in terms)),
        materials=frozenset().union(*(t.materials for t in terms)),
    )


@lru_cache(maxsize=64)
def _terms_of(card: RateCard) -> CardTerms:
    """Return one card's flags and material codes (cached: a version's card is one object)."""
    return CardTerms(
        flags=frozenset(
            s.flag for s in card.slots if isinstance(s, KeyedCoefficientSlot) and s.flag is not None
        ),
        materials=frozenset(s.material_code for s in card.slots if isinstance(s, MaterialSlot)),
    )


# The customer's confirmation of a ticket: signature, time, optional image and rating.


def record_confirmation(
    session: Session,
    *,
    ticket_id: int,
    confirmation: Confirmation,
    actor_key_id: str | None,
    at: datetime,
) -> None:
    """Store the customer's confirmation of ``ticket_id`` (one per ticket)."""
    session.add(
        TicketSignatureRow(
            ticket_id=ticket_id,
            signer_name=confirmation.signer_name,
            signed_at=confirmation.signed_at,
            image=confirmation.image,
            image_media_type=confirmation.image_media_type,
            rating=confirmation.rating,
            recorded_at=at,
            actor_key_id=actor_key_id,
        )
    )
    session.flush()


def rating_of(session: Session, *, ticket_id: int) -> int | None:
    """Return the customer's rating of ``ticket_id``, or None (no rating, or not confirmed)."""
    return session.scalar(
        select(TicketSignatureRow.rating).where(TicketSignatureRow.ticket_id == ticket_id)
    )
