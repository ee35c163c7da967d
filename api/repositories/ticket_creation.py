"""Creating tickets: one on the request path (fewest round trips), or many in bulk.

Functions take a session and keyword arguments, may flush, and never commit.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CTE, Select, Table, bindparam, insert, null, select, text
from sqlalchemy.orm import Session

from geoalchemy2 import WKTElement

from api.db.base import Base
from api.db.spatial import SRID
from api.db.tables import TicketRow
from api.lifecycle import TicketStatus

_IN_CHUNK = 1000  # bound parameters per IN (...) list


@dataclass(frozen=True, slots=True)
class NewCustomer:
    """A customer as submitted with a ticket."""

    name: str
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class NewTicket:
    """A validated ticket, location already WGS84 and region already located.

    ``materials`` are ``(code, quantity)`` pairs, as ``settlement.CompletedOrder`` takes them.
    """

    source: str
    external_id: str
    type: str
    lon: float
    lat: float
    region_id: str | None
    address: str
    duration_min: int
    skills: dict[str, int]
    windows: list[tuple[datetime, datetime]]
    priority: str
    sla_due_at: datetime | None = None
    customer: NewCustomer | None = None
    notes: str | None = None
    demand: int = 0
    units: int = 1
    difficulty: tuple[str, ...] = ()
    materials: tuple[tuple[str, int], ...] = ()


_TICKET: Table = Base.metadata.tables["ticket"]
_CUSTOMER: Table = Base.metadata.tables["customer"]
_HISTORY: Table = Base.metadata.tables["ticket_status_change"]
_INSERT_CUSTOMER = insert(_CUSTOMER).returning(_CUSTOMER.c.id)
_INSERT_TICKET = insert(_TICKET).returning(_TICKET.c.id)
_INSERT_CHANGE = insert(_HISTORY)
_CUSTOMER_COLUMNS = ("source", "name", "phone", "email", "created_at")
_CHANGE_COLUMNS = ("to_status", "at", "actor_key_id")
# What ``_ticket_values`` fills: every column but the id and the links set with or after it.
_TICKET_COLUMNS = tuple(
    c.name for c in _TICKET.columns if c.name not in {"id", "customer_id", "technician_id"}
)


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
    session: Session, *, ticket: NewTicket, actor_key_id: str | None, now: datetime
) -> int:
    """Insert one ticket (status ``new``), its customer and first history entry; return its id.

    The request path: constant Core statements (compiled once, values bound per call) on the
    session's connection and no ORM objects. PostgreSQL takes the three rows in one statement
    (:func:`insert_ctes`); SQLite, in process, in three.
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        statement = _ONE_WITH_CUSTOMER if ticket.customer is not None else _ONE_WITHOUT_CUSTOMER
        params = bound_values(ticket, actor_key_id=actor_key_id, now=now)
        ticket_id: int = conn.execute(statement, params).scalar_one()
        return ticket_id
    row = _ticket_values(ticket, customer_id=None, actor_key_id=actor_key_id, now=now)
    if ticket.customer is not None:
        customer = {"source": ticket.source, "created_at": now, **asdict(ticket.customer)}
        row["customer_id"] = conn.execute(_INSERT_CUSTOMER, customer).scalar_one()
    ticket_id = conn.execute(_INSERT_TICKET, row).scalar_one()
    conn.execute(_INSERT_CHANGE, _history_values(ticket_id, actor_key_id=actor_key_id, now=now))
    return ticket_id


def bound_values(ticket: NewTicket, *, actor_key_id: str | None, now: datetime) -> dict[str, Any]:
    """Return the values :func:`insert_ctes` binds: names prefixed ``c_``, ``t_`` and ``h_``.

    The prefixes keep the customer's, the ticket's and the history entry's columns apart, since
    several have the same names.
    """
    row = _ticket_values(ticket, customer_id=None, actor_key_id=actor_key_id, now=now)
    change = _history_values(0, actor_key_id=actor_key_id, now=now)
    params = {f"t_{name}": row[name] for name in _TICKET_COLUMNS}
    params |= {f"h_{name}": change[name] for name in _CHANGE_COLUMNS}
    if ticket.customer is not None:
        customer = {"source": ticket.source, "created_at": now, **asdict(ticket.customer)}
        params |= {f"c_{name}": customer[name] for name in _CUSTOMER_COLUMNS}
    return params


def insert_ctes(*, with_customer: bool, source: CTE | None = None) -> tuple[CTE, list[CTE]]:
    """Return CTEs inserting a ticket with its customer and first history entry (PostgreSQL).

    Data-modifying CTEs chained by RETURNING: the ticket takes the new customer's id, the
    history entry the new ticket's. Returns the ticket's CTE (its ``id`` column is the new id)
    and the CTEs the final statement must add. With ``source``, each row is selected from it,
    so nothing is inserted when it has no row.
    """

    def rows(*columns: Any) -> Select[Any]:
        query = select(*columns)
        return query.select_from(source) if source is not None else query

    def bound(table: Table, name: str, prefix: str) -> Any:
        return bindparam(f"{prefix}{name}", type_=table.c[name].type)

    customer_id: Any = null()
    if with_customer:
        customer_values = rows(*(bound(_CUSTOMER, n, "c_") for n in _CUSTOMER_COLUMNS))
        new_customer = (
            insert(_CUSTOMER)
            .from_select(_CUSTOMER_COLUMNS, customer_values)
            .returning(_CUSTOMER.c.id)
            .cte("new_customer")
        )
        customer_id = select(new_customer.c.id).scalar_subquery()
    ticket_values = rows(*(bound(_TICKET, n, "t_") for n in _TICKET_COLUMNS), customer_id)
    new_ticket = (
        insert(_TICKET)
        .from_select([*_TICKET_COLUMNS, "customer_id"], ticket_values)
        .returning(_TICKET.c.id)
        .cte("new_ticket")
    )
    change = select(new_ticket.c.id, *(bound(_HISTORY, n, "h_") for n in _CHANGE_COLUMNS))
    new_change = insert(_HISTORY).from_select(["ticket_id", *_CHANGE_COLUMNS], change)
    return new_ticket, [new_change.cte("new_change")]


def _one_statement(*, with_customer: bool) -> Select[int]:
    new_ticket, others = insert_ctes(with_customer=with_customer)
    return select(new_ticket.c.id).add_cte(*others)


_ONE_WITH_CUSTOMER = _one_statement(with_customer=True)
_ONE_WITHOUT_CUSTOMER = _one_statement(with_customer=False)


def create_tickets(
    session: Session, *, tickets: Sequence[NewTicket], actor_key_id: str | None, now: datetime
) -> list[TicketRow]:
    """Insert ``tickets`` as :func:`insert_tickets` does; return them as detached rows."""
    rows = _insert_rows(session, tickets=tickets, actor_key_id=actor_key_id, now=now)
    return [
        TicketRow(**{**row, "location": WKTElement(str(row["location"]), extended=True)})
        for row in rows
    ]


def insert_tickets(
    session: Session, *, tickets: Sequence[NewTicket], actor_key_id: str | None, now: datetime
) -> list[int]:
    """Insert ``tickets`` (status ``new``) with their customers and first history entry.

    Ids are reserved first and rows go in as one executemany per table, so ten thousand
    tickets cost a handful of round trips. Returns the new ids, in the order of ``tickets``.
    """
    rows = _insert_rows(session, tickets=tickets, actor_key_id=actor_key_id, now=now)
    return [int(row["id"]) for row in rows]


def _insert_rows(
    session: Session, *, tickets: Sequence[NewTicket], actor_key_id: str | None, now: datetime
) -> list[dict[str, Any]]:
    customer_ids = _insert_customers(session, tickets=tickets, now=now)
    ids = allocate_ids(session, table="ticket", n=len(tickets))
    rows = [
        {"id": id_, **_ticket_values(t, customer_id=c, actor_key_id=actor_key_id, now=now)}
        for id_, t, c in zip(ids, tickets, customer_ids, strict=True)
    ]
    session.execute(insert(_TICKET), rows)
    history = [_history_values(id_, actor_key_id=actor_key_id, now=now) for id_ in ids]
    session.execute(insert(_HISTORY), history)
    return rows


def _insert_customers(
    session: Session, *, tickets: Sequence[NewTicket], now: datetime
) -> list[int | None]:
    wanted = [(i, t) for i, t in enumerate(tickets) if t.customer is not None]
    result: list[int | None] = [None] * len(tickets)
    if not wanted:
        return result
    ids = allocate_ids(session, table="customer", n=len(wanted))
    rows = [
        {"id": id_, "source": t.source, "created_at": now, **asdict(t.customer)}
        for id_, (_, t) in zip(ids, wanted, strict=True)
        if t.customer is not None
    ]
    session.execute(insert(_CUSTOMER), rows)
    for id_, (i, _) in zip(ids, wanted, strict=True):
        result[i] = id_
    return result


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
