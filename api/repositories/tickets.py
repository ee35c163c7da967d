"""Tickets in the database: creation (one fast, or many in bulk) and status changes.

Functions take a session and keyword arguments, may flush, and never commit. Listing lives in
``ticket_queries``, confirmations in ``ticket_confirmations``.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, select, text
from sqlalchemy.orm import Session

from geoalchemy2 import WKTElement

from api.db.base import Base
from api.db.spatial import SRID, from_wkb
from api.db.tables import TicketRow, TicketStatusChangeRow
from api.lifecycle import ASSIGNED, Actor, IllegalTransition, TicketStatus, check_transition

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


def begin_write(session: Session) -> None:
    """Do nothing: every SQLite transaction now begins as a writer (``BEGIN IMMEDIATE``).

    Kept only for ``api.routes.technician_locations``, which still calls it; delete both.
    """


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

    The request path: Core statements with RETURNING, no ORM objects, three round trips at most.
    """
    customer_id = None
    if (customer := ticket.customer) is not None:
        values = {"source": ticket.source, "created_at": now, **asdict(customer)}
        customer_id = session.scalar(insert(_CUSTOMER).values(values).returning(_CUSTOMER.c.id))
    row = _ticket_values(ticket, customer_id=customer_id, actor_key_id=actor_key_id, now=now)
    ticket_id: int = session.execute(
        insert(_TICKET).values(row).returning(_TICKET.c.id)
    ).scalar_one()
    session.execute(
        insert(_HISTORY).values(_history_values(ticket_id, actor_key_id=actor_key_id, now=now))
    )
    return ticket_id


def create_tickets(
    session: Session, *, tickets: Sequence[NewTicket], actor_key_id: str | None, now: datetime
) -> list[TicketRow]:
    """Insert ``tickets`` (status ``new``) with their customers and first history entry.

    Ids are reserved first and rows go in as one executemany per table, so ten thousand
    tickets cost a handful of round trips. Returns the stored rows, in the order of
    ``tickets``, as detached objects (reading them back would cost another round trip).
    """
    customer_ids = _insert_customers(session, tickets=tickets, now=now)
    ids = allocate_ids(session, table="ticket", n=len(tickets))
    rows = [
        {"id": id_, **_ticket_values(t, customer_id=c, actor_key_id=actor_key_id, now=now)}
        for id_, t, c in zip(ids, tickets, customer_ids, strict=True)
    ]
    session.execute(insert(_TICKET), rows)
    history = [_history_values(id_, actor_key_id=actor_key_id, now=now) for id_ in ids]
    session.execute(insert(_HISTORY), history)
    return [
        TicketRow(**{**row, "location": WKTElement(str(row["location"]), extended=True)})
        for row in rows
    ]


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


def get_ticket(session: Session, *, ticket_id: int, for_update: bool = False) -> TicketRow | None:
    """Return one ticket, optionally locked against concurrent changes (PostgreSQL)."""
    query = select(TicketRow).where(TicketRow.id == ticket_id)
    return session.scalar(query.with_for_update() if for_update else query)


def point_of(row: TicketRow) -> tuple[float, float]:
    """Return a ticket's ``(lon, lat)``."""
    point = from_wkb(row.location)
    return point.x, point.y  # type: ignore[attr-defined]


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
