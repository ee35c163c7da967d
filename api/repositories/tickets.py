"""Tickets in the database: bulk creation, filtered listing, status changes, signatures.

Functions take a session and keyword arguments, may flush, and never commit.
"""

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import (
    ColumnElement,
    and_,
    column,
    false,
    func,
    insert,
    literal_column,
    select,
    table,
    text,
    update,
)
from sqlalchemy.orm import Session

from geoalchemy2 import WKTElement

from api.db.base import Base
from api.db.spatial import SRID, from_wkb
from api.db.tables import CustomerRow, TicketRow, TicketSignatureRow, TicketStatusChangeRow
from api.lifecycle import (
    ASSIGNED,
    SLA_CLOSED,
    Actor,
    IllegalTransition,
    TicketStatus,
    check_transition,
)

SlaFilter = Literal["at_risk", "overdue"]
_OPEN = [s.value for s in TicketStatus if s not in SLA_CLOSED]
_IN_CHUNK = 1000  # bound parameters per IN (...) list


@dataclass(frozen=True, slots=True)
class NewCustomer:
    """A customer as submitted with a ticket."""

    name: str
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class NewTicket:
    """A validated ticket, location already WGS84 and region already located."""

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


def begin_write(session: Session) -> None:
    """On SQLite, end the current transaction and open the next one as a writer at once.

    SQLite will not promote a reader to a writer while another writer is committing: it fails
    with "database is locked" at once instead of waiting (that wait could deadlock). A write
    transaction that starts by writing simply queues on ``busy_timeout``. PostgreSQL needs none
    of this: its row locks and unique indexes serialise what must be serialised.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.commit()
        session.execute(update(TicketRow).where(false()).values(id=TicketRow.id))


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


def create_tickets(
    session: Session, *, tickets: Sequence[NewTicket], actor_key_id: str | None, now: datetime
) -> list[TicketRow]:
    """Insert ``tickets`` (status ``new``) with their customers and first history entry.

    Ids are reserved first and rows go in as one executemany per table, so ten thousand
    tickets cost a handful of round trips. Returns the stored rows, in the order of
    ``tickets``, as detached objects (reading them back would cost another round trip).
    """
    customer_ids = _insert_customers(session, tickets=tickets, now=now)
    rows: list[dict[str, object]] = [
        {
            "source": t.source,
            "external_id": t.external_id,
            "type": t.type,
            # EWKT text, not a WKTElement: a SQL expression per row would make the ORM send
            # one INSERT per row instead of one executemany.
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
            "customer_id": customer_ids[i],
            "notes": t.notes,
            "created_by_key_id": actor_key_id,
            "created_at": now,
            "updated_at": now,
        }
        for i, t in enumerate(tickets)
    ]
    ids = allocate_ids(session, table="ticket", n=len(rows))
    for id_, row in zip(ids, rows, strict=True):
        row["id"] = id_
    session.execute(insert(Base.metadata.tables["ticket"]), rows)
    history = [
        {
            "ticket_id": id_,
            "to_status": TicketStatus.NEW.value,
            "at": now,
            "actor_key_id": actor_key_id,
        }
        for id_ in ids
    ]
    session.execute(insert(Base.metadata.tables["ticket_status_change"]), history)
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
    session.execute(insert(Base.metadata.tables["customer"]), rows)
    for id_, (i, _) in zip(ids, wanted, strict=True):
        result[i] = id_
    return result


def allocate_ids(session: Session, *, table: str, n: int) -> list[int]:
    """Reserve ``n`` ids of ``table`` so that rows can be inserted without RETURNING.

    A multi-row INSERT ... RETURNING in the rows' order is slow through SQLAlchemy's
    insertmanyvalues (small pages); a plain executemany (a psycopg pipeline) is fast. On
    PostgreSQL the ids come from the table's sequence; SQLite has one writer at a time, and
    the caller holds the write lock (``begin_write``), so ``max(id)`` cannot move under us.
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
        conditions.append(and_(TicketRow.sla_due_at < now, TicketRow.status.in_(_OPEN)))
    elif where.sla == "at_risk":
        due_soon = TicketRow.sla_due_at.between(now, now + at_risk_margin)
        conditions.append(and_(due_soon, TicketRow.status.in_(_OPEN)))
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


def point_of(row: TicketRow) -> tuple[float, float]:
    """Return a ticket's ``(lon, lat)``."""
    point = from_wkb(row.location)
    return point.x, point.y  # type: ignore[attr-defined]


def sla_flags(
    *, status: str, sla_due_at: datetime | None, now: datetime, at_risk_margin: timedelta
) -> tuple[bool, bool]:
    """Return ``(at_risk, overdue)``: the rule the ``sla`` list filter applies in SQL."""
    if sla_due_at is None or status not in _OPEN:
        return False, False
    return now <= sla_due_at <= now + at_risk_margin, sla_due_at < now


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


def record_signature(
    session: Session,
    *,
    ticket_id: int,
    signer_name: str,
    signed_at: datetime,
    image: bytes | None,
    image_media_type: str | None,
    actor_key_id: str | None,
    at: datetime,
) -> None:
    """Store the customer's confirmation of ``ticket_id`` (one per ticket)."""
    session.add(
        TicketSignatureRow(
            ticket_id=ticket_id,
            signer_name=signer_name,
            signed_at=signed_at,
            image=image,
            image_media_type=image_media_type,
            recorded_at=at,
            actor_key_id=actor_key_id,
        )
    )
    session.flush()


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


def history(session: Session, *, ticket_id: int) -> list[TicketStatusChangeRow]:
    """Return a ticket's status changes, oldest first."""
    query = (
        select(TicketStatusChangeRow)
        .where(TicketStatusChangeRow.ticket_id == ticket_id)
        .order_by(TicketStatusChangeRow.id)
    )
    return list(session.scalars(query))
