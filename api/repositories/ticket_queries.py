"""Reading tickets: filtered listing, SLA flags, customers, status history.

Functions take a session and keyword arguments and never write.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, and_, column, func, literal_column, select, table
from sqlalchemy.orm import Session

from api.db.spatial import SRID
from api.db.tables import CustomerRow, TicketRow, TicketStatusChangeRow
from api.lifecycle import SLA_CLOSED, TicketStatus

SlaFilter = Literal["at_risk", "overdue"]
_OPEN = [s.value for s in TicketStatus if s not in SLA_CLOSED]
_IN_CHUNK = 1000  # bound parameters per IN (...) list


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


def sla_flags(
    *, status: str, sla_due_at: datetime | None, now: datetime, at_risk_margin: timedelta
) -> tuple[bool, bool]:
    """Return ``(at_risk, overdue)``: the rule the ``sla`` list filter applies in SQL."""
    if sla_due_at is None or status not in _OPEN:
        return False, False
    return now <= sla_due_at <= now + at_risk_margin, sla_due_at < now


def history(session: Session, *, ticket_id: int) -> list[TicketStatusChangeRow]:
    """Return a ticket's status changes, oldest first."""
    query = (
        select(TicketStatusChangeRow)
        .where(TicketStatusChangeRow.ticket_id == ticket_id)
        .order_by(TicketStatusChangeRow.id)
    )
    return list(session.scalars(query))
