"""Leads in the database: read and list, record touches, owners, funnel counts."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select
from sqlalchemy.orm import Session

from api.db.tables import LeadNurtureStepRow, LeadOwnerRow, LeadRow, LeadTouchRow, TicketRow
from api.leads.assignment import DEFAULT_ASSIGN
from api.repositories.lead_capture import OPEN_STATUSES, open_leads_by_owner
from api.schemas.leads import LeadOwnerWrite, TouchCreate

RESPONSE_KINDS = frozenset({"call", "sms", "email", "visit"})
COMPLETED_TICKET_STATUSES = ("completed", "confirmed", "settled")


@dataclass(frozen=True, slots=True)
class LeadFilter:
    """What a lead list may be narrowed by; ``None`` means any."""

    source: str | None = None
    status: str | None = None
    channel: str | None = None
    campaign: str | None = None
    owner_id: str | None = None
    band: str | None = None
    region_id: str | None = None
    is_overdue: bool | None = None
    is_at_risk: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def get_lead(session: Session, *, lead_id: int) -> LeadRow | None:
    """Return one lead, or ``None``."""
    return session.get(LeadRow, lead_id)


def list_leads(
    session: Session, *, where: LeadFilter, after_id: int | None, limit: int, now: datetime
) -> list[LeadRow]:
    """List leads newest first (by id), ``limit`` of them after the cursor ``after_id``."""
    query = select(LeadRow).order_by(LeadRow.id.desc()).limit(limit)
    for column, value in (
        (LeadRow.source, where.source),
        (LeadRow.status, where.status),
        (LeadRow.channel, where.channel),
        (LeadRow.campaign, where.campaign),
        (LeadRow.owner_id, where.owner_id),
        (LeadRow.score_band, where.band),
        (LeadRow.region_id, where.region_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if where.created_from is not None:
        query = query.where(LeadRow.created_at >= where.created_from)
    if where.created_to is not None:
        query = query.where(LeadRow.created_at < where.created_to)
    if where.is_overdue is not None:
        overdue = _overdue(now)
        query = query.where(overdue if where.is_overdue else ~overdue)
    if where.is_at_risk is not None:
        at_risk = _at_risk(now)
        query = query.where(at_risk if where.is_at_risk else ~at_risk)
    if after_id is not None:
        query = query.where(LeadRow.id < after_id)
    return list(session.scalars(query))


def _unanswered() -> ColumnElement[bool]:
    return and_(
        LeadRow.status.in_(OPEN_STATUSES),
        LeadRow.first_responded_at.is_(None),
        LeadRow.first_response_due_at.is_not(None),
    )


def _overdue(now: datetime) -> ColumnElement[bool]:
    return and_(_unanswered(), LeadRow.first_response_due_at < now)


def _at_risk(now: datetime) -> ColumnElement[bool]:
    """Unanswered, not yet due, within the last share of its band's window (as ``sla_state``)."""
    share = DEFAULT_ASSIGN.at_risk_share
    per_band = [
        and_(LeadRow.score_band == band, LeadRow.first_response_due_at <= now + window * share)
        for band, window in DEFAULT_ASSIGN.sla_by_band.items()
    ]
    return and_(_unanswered(), LeadRow.first_response_due_at >= now, or_(false(), *per_band))


def touches(session: Session, *, lead_id: int) -> list[LeadTouchRow]:
    """Return a lead's touches, oldest first."""
    query = select(LeadTouchRow).where(LeadTouchRow.lead_id == lead_id)
    return list(session.scalars(query.order_by(LeadTouchRow.at, LeadTouchRow.id)))


def nurture_steps(session: Session, *, lead_id: int) -> list[LeadNurtureStepRow]:
    """Return a lead's nurture plan in order."""
    query = select(LeadNurtureStepRow).where(LeadNurtureStepRow.lead_id == lead_id)
    return list(session.scalars(query.order_by(LeadNurtureStepRow.seq)))


def due_steps(
    session: Session, *, source: str | None, owner_id: str | None, before: datetime, limit: int
) -> list[tuple[LeadNurtureStepRow, LeadRow]]:
    """Return undone nurture steps of open leads due before ``before``, earliest first."""
    query = (
        select(LeadNurtureStepRow, LeadRow)
        .join(LeadRow, LeadRow.id == LeadNurtureStepRow.lead_id)
        .where(LeadNurtureStepRow.done_at.is_(None), LeadNurtureStepRow.due_at <= before)
        .where(LeadRow.status.in_(OPEN_STATUSES))
        .order_by(LeadNurtureStepRow.due_at, LeadNurtureStepRow.id)
        .limit(limit)
    )
    if source is not None:
        query = query.where(LeadRow.source == source)
    if owner_id is not None:
        query = query.where(LeadRow.owner_id == owner_id)
    return [(step, lead) for step, lead in session.execute(query)]


def record_touch(
    session: Session, *, lead: LeadRow, touch_in: TouchCreate, actor_key_id: str, now: datetime
) -> LeadTouchRow:
    """Record an outbound touch; the first real contact answers the SLA and ticks a plan step."""
    at = min(touch_in.at or now, now)
    touch = LeadTouchRow(
        lead_id=lead.id,
        direction="outbound",
        kind=touch_in.kind,
        outcome=touch_in.outcome,
        note=touch_in.note,
        at=at,
        actor_key_id=actor_key_id,
    )
    session.add(touch)
    session.flush()
    if touch_in.kind in RESPONSE_KINDS:
        if lead.first_responded_at is None:
            lead.first_responded_at = at
        if lead.status in {"new", "assigned"}:
            lead.status = "contacted"
        step = session.scalar(
            select(LeadNurtureStepRow)
            .where(LeadNurtureStepRow.lead_id == lead.id, LeadNurtureStepRow.kind == touch_in.kind)
            .where(LeadNurtureStepRow.done_at.is_(None))
            .order_by(LeadNurtureStepRow.seq)
            .limit(1)
        )
        if step is not None:
            step.done_at, step.touch_id = at, touch.id
    lead.updated_at = now
    session.flush()
    return touch


def link_ticket(session: Session, *, lead: LeadRow, ticket_id: int, now: datetime) -> None:
    """Mark ``lead`` converted into the ticket ``ticket_id``."""
    lead.ticket_id, lead.converted_at, lead.status, lead.updated_at = (
        ticket_id,
        now,
        "converted",
        now,
    )
    session.flush()


def upsert_owner(
    session: Session, *, owner_id: str, owner_in: LeadOwnerWrite, now: datetime
) -> tuple[LeadOwnerRow, bool]:
    """Create or replace a lead owner; return it and whether it is new."""
    row = session.get(LeadOwnerRow, owner_id)
    is_new = row is None
    if row is None:
        row = LeadOwnerRow(id=owner_id, created_at=now)
        session.add(row)
    row.name, row.team, row.product_lines = owner_in.name, owner_in.team, owner_in.product_lines
    row.max_open_leads, row.is_active, row.updated_at = (
        owner_in.max_open_leads, owner_in.is_active, now
    )  # fmt: skip
    session.flush()
    return row, is_new


def list_owners(session: Session) -> list[tuple[LeadOwnerRow, int]]:
    """Return every owner with the number of open leads they hold."""
    load = open_leads_by_owner(session)
    rows = session.scalars(select(LeadOwnerRow).order_by(LeadOwnerRow.id))
    return [(row, load.get(row.id, 0)) for row in rows]


def funnel(
    session: Session,
    *,
    source: str | None,
    by_campaign: bool,
    created_from: datetime | None,
    created_to: datetime | None,
) -> list[dict[str, Any]]:
    """Count leads per channel (and campaign) at each stage: lead, ticket, completed, paid."""
    kept = LeadRow.status != "rejected"
    keys: tuple[Any, ...] = (
        (LeadRow.channel, LeadRow.campaign) if by_campaign else (LeadRow.channel,)
    )
    counted = {
        "leads": func.sum(case((kept, 1), else_=0)),
        "rejected": func.sum(case((LeadRow.status == "rejected", 1), else_=0)),
        "contacted": func.sum(case((LeadRow.first_responded_at.is_not(None), 1), else_=0)),
        "tickets": func.sum(case((LeadRow.ticket_id.is_not(None), 1), else_=0)),
        "completed": func.sum(case((TicketRow.status.in_(COMPLETED_TICKET_STATUSES), 1), else_=0)),
        "paid": func.sum(case((TicketRow.status == "settled", 1), else_=0)),
    }
    query = (
        select(*keys, *(c.label(name) for name, c in counted.items()))
        .select_from(LeadRow)
        .outerjoin(TicketRow, TicketRow.id == LeadRow.ticket_id)
        .group_by(*keys)
        .order_by(*keys)
    )
    if source is not None:
        query = query.where(LeadRow.source == source)
    if created_from is not None:
        query = query.where(LeadRow.created_at >= created_from)
    if created_to is not None:
        query = query.where(LeadRow.created_at < created_to)
    return [dict(row._mapping) for row in session.execute(query)]
