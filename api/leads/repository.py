"""Leads in the database: capture, read and list, touches, owners, funnel counts.

Duplicates are looked for within the lead's own source only: an integrator never touches, nor
learns of, another source's lead by posting the same phone number.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
from sqlalchemy import ColumnElement, and_, case, false, func, or_, select, text
from sqlalchemy.orm import Session

from shapely.geometry import Point

from api.db.spatial import to_wkb
from api.db.tables import LeadNurtureStepRow, LeadOwnerRow, LeadRow, LeadTouchRow, TicketRow
from api.leads.rules.assignment import DEFAULT_ASSIGN, LeadToAssign, Owner, assign_many
from api.leads.rules.contact import Contact
from api.leads.rules.dedupe import DedupeParams, dedupe_keys, merge_missing
from api.leads.rules.junk import Cleaned, clean
from api.leads.rules.model import Channel, LeadFacts
from api.leads.rules.nurture import nurture_schedule
from api.leads.rules.scoring import score_lead
from api.leads.schemas import LeadCreate, LeadOwnerWrite, TouchCreate
from api.schemas import CrsName
from geo.coords import to_wgs84
from geo.regions import RegionIndex

# Capturing leads: clean, de-duplicate, locate, score, assign hot first, plan the nurture.
OPEN_STATUSES = ("new", "assigned", "contacted")
_IN_CHUNK = 1000  # bound parameters per IN (...) list
_ADVISORY_LOCKS = text(
    "SELECT pg_advisory_xact_lock(hashtext(k)) FROM "
    "(SELECT unnest(CAST(:keys AS text[])) AS k ORDER BY k) AS ordered"
)
Outcome = Literal["created", "merged", "rejected"]


@dataclass(frozen=True, slots=True)
class Captured:
    """What became of one captured lead."""

    outcome: Outcome
    lead: LeadRow


@dataclass(frozen=True, slots=True)
class Place:
    """A lead's WGS84 point and the territory it falls in."""

    lon: float
    lat: float
    region_id: str | None
    team: str | None


def locate(index: RegionIndex, location: tuple[float, float], crs: CrsName) -> Place:
    """Convert ``location`` to WGS84 and find its region and the nearest ``team`` around it."""
    lons, lats = to_wgs84(np.array([location[0]]), np.array([location[1]]), crs)
    lon, lat = float(lons[0]), float(lats[0])
    hierarchy = index.containing(lon, lat)
    team = next((str(r.attributes["team"]) for r in hierarchy if "team" in r.attributes), None)
    return Place(lon, lat, hierarchy[0].id if hierarchy else None, team)


def capture_many(
    session: Session,
    *,
    leads_in: Sequence[LeadCreate],
    source: str,
    actor_key_id: str | None,
    index: RegionIndex,
    now: datetime,
    dedupe: DedupeParams,
) -> list[Captured]:
    """Capture leads in order (a later one may merge into an earlier one), then assign hot first."""
    cleaned = [
        clean(name=x.name, phone=x.phone, email=x.email, texts=[x.notes, x.campaign, x.address])
        for x in leads_in
    ]
    _lock_people(session, source, [c.contact for c in cleaned if c.rejection is None])
    contacts = [c.contact for c in cleaned if c.rejection is None]
    batch = _Batch(_stored_matches(session, source, contacts, dedupe.oldest_touch(now)))
    # One query finds the stored leads the batch may merge into, and one flush writes the
    # batch: later leads find earlier ones of the same batch in memory.
    with session.no_autoflush:
        captured = [
            _capture_one(session, batch, x, c, source, actor_key_id, index, now, dedupe)
            for x, c in zip(leads_in, cleaned, strict=True)
        ]
    session.flush()
    for row, lead_in, captured_at in batch.touches:
        _add_inbound_touch(session, row, lead_in, captured_at)
    unassigned = {c.lead.id: c.lead for c in captured if c.lead.status == "new"}
    _assign(session, list(unassigned.values()), now)
    created = {c.lead.id for c in captured if c.outcome == "created"}
    for lead in unassigned.values():
        if lead.id in created or not _has_nurture(session, lead.id):
            _plan_nurture(session, lead, now)
    session.flush()
    return captured


@dataclass
class _Batch:
    """Leads of the batch so far, by de-duplication key, and the touches still to write."""

    seen: dict[str, LeadRow]
    touches: list[tuple[LeadRow, LeadCreate, datetime]] = field(default_factory=list)

    def remember(self, row: LeadRow) -> None:
        """Let later leads of the batch find ``row`` by any of its keys."""
        for key in dedupe_keys(Contact(row.phone_e164, row.email)):
            self.seen[key] = row


def _lock_people(session: Session, source: str, contacts: Sequence[Contact]) -> None:
    """Make concurrent captures of the same person wait for each other (PostgreSQL).

    Without it two requests could both find no duplicate and both create a lead.  The
    transaction-scoped advisory locks are taken in sorted order, so batches cannot deadlock.
    SQLite (the embedded, single-node store) has no such locks; there two captures of one
    person arriving in the same instant may still make two leads.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted({f"{source}|{key}" for contact in contacts for key in dedupe_keys(contact)})
    if keys:
        session.execute(_ADVISORY_LOCKS, {"keys": keys})


def _capture_one(
    session: Session,
    batch: _Batch,
    lead_in: LeadCreate,
    cleaned: Cleaned,
    source: str,
    actor_key_id: str | None,
    index: RegionIndex,
    now: datetime,
    dedupe: DedupeParams,
) -> Captured:
    place = locate(index, lead_in.location, lead_in.crs) if lead_in.location else None
    captured_at = min(lead_in.captured_at or now, now)
    existing = None
    if cleaned.rejection is None:
        matches = (batch.seen.get(key) for key in dedupe_keys(cleaned.contact))
        existing = next((row for row in matches if row is not None), None)
    if existing is not None:
        _merge(existing, lead_in, cleaned.contact, place, captured_at, now)
        batch.touches.append((existing, lead_in, captured_at))
        batch.remember(existing)
        return Captured("merged", existing)
    row = _new_row(lead_in, source, actor_key_id, cleaned.contact, place, captured_at, now)
    if cleaned.rejection is not None:
        row.status = "rejected"
        row.rejection_code = cleaned.rejection.code
        row.rejection_reason = cleaned.rejection.reason
    else:
        _rescore(row, now)
        batch.remember(row)
    session.add(row)
    batch.touches.append((row, lead_in, captured_at))
    return Captured("rejected" if cleaned.rejection else "created", row)


def _new_row(
    lead_in: LeadCreate,
    source: str,
    actor_key_id: str | None,
    contact: Contact,
    place: Place | None,
    captured_at: datetime,
    now: datetime,
) -> LeadRow:
    return LeadRow(
        source=source,
        external_id=lead_in.external_id,
        channel=lead_in.channel.value,
        campaign=lead_in.campaign,
        name=_blank_to_none(lead_in.name),
        phone_raw=lead_in.phone,
        email_raw=lead_in.email,
        phone_e164=contact.phone_e164,
        email=contact.email,
        email_key=contact.email.casefold() if contact.email else None,
        product_line=lead_in.product_line,
        address=lead_in.address,
        notes=lead_in.notes,
        location=to_wkb(Point(place.lon, place.lat)) if place else None,
        region_id=place.region_id if place else None,
        team=place.team if place else None,
        status="new",
        score_lines=[],
        touch_count=1,
        last_touched_at=captured_at,
        created_by_key_id=actor_key_id,
        created_at=now,
        updated_at=now,
    )


def _blank_to_none(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _stored_matches(
    session: Session, source: str, contacts: Sequence[Contact], oldest_touch: datetime
) -> dict[str, LeadRow]:
    """Return the stored leads of ``source`` touched since ``oldest_touch`` by matching key.

    A key that matches several leads maps to the oldest one.
    """
    phones = sorted({c.phone_e164 for c in contacts if c.phone_e164})
    emails = sorted({c.email.casefold() for c in contacts if c.email})
    found: dict[str, LeadRow] = {}
    for column, values in ((LeadRow.phone_e164, phones), (LeadRow.email_key, emails)):
        for i in range(0, len(values), _IN_CHUNK):
            query = (
                select(LeadRow)
                .where(LeadRow.source == source, LeadRow.status != "rejected")
                .where(LeadRow.last_touched_at >= oldest_touch)
                .where(column.in_(values[i : i + _IN_CHUNK]))
                .order_by(LeadRow.id)
            )
            for row in session.scalars(query):
                for key in dedupe_keys(Contact(row.phone_e164, row.email)):
                    found.setdefault(key, row)
    return found


def _merge(
    row: LeadRow,
    lead_in: LeadCreate,
    contact: Contact,
    place: Place | None,
    captured_at: datetime,
    now: datetime,
) -> None:
    current = {"name": row.name, "email": row.email, "phone_e164": row.phone_e164,
               "product_line": row.product_line, "address": row.address,
               "external_id": row.external_id, "region_id": row.region_id}  # fmt: skip
    incoming = {"name": _blank_to_none(lead_in.name), "email": contact.email,
                "phone_e164": contact.phone_e164, "product_line": lead_in.product_line,
                "address": lead_in.address, "external_id": lead_in.external_id}  # fmt: skip
    for key, value in merge_missing(current, incoming).items():
        setattr(row, key, value)
    if row.email and not row.email_key:
        row.email_key = row.email.casefold()
    if place is not None and row.location is None:
        row.location = to_wkb(Point(place.lon, place.lat))
        row.region_id, row.team = place.region_id, place.team
    row.touch_count += 1
    row.last_touched_at = max(row.last_touched_at, captured_at)
    row.updated_at = now
    _rescore(row, now)


def _add_inbound_touch(
    session: Session, row: LeadRow, lead_in: LeadCreate, captured_at: datetime
) -> None:
    session.add(
        LeadTouchRow(
            lead_id=row.id,
            direction="inbound",
            kind="capture",
            channel=lead_in.channel.value,
            campaign=lead_in.campaign,
            note=lead_in.notes,
            at=captured_at,
            actor_key_id=row.created_by_key_id,
        )
    )


def facts(row: LeadRow) -> LeadFacts:
    """Return what the lead rules read from a stored lead."""
    return LeadFacts(
        channel=Channel(row.channel),
        has_phone=row.phone_e164 is not None,
        has_email=row.email is not None,
        has_name=row.name is not None,
        has_location=row.location is not None,
        product_line=row.product_line,
        region_id=row.region_id,
        touches=row.touch_count,
        last_touched_at=row.last_touched_at,
    )


def _rescore(row: LeadRow, now: datetime) -> None:
    score = score_lead(facts(row), now=now)
    row.score, row.score_band = score.total, score.band
    row.score_lines = [
        {"code": x.code, "label": x.label, "points": x.points, "max_points": x.max_points}
        for x in score.lines
    ]
    if row.first_responded_at is None and row.status != "rejected":
        due = now + DEFAULT_ASSIGN.sla_by_band[score.band]
        # A repeat capture that makes a lead hotter brings its deadline forward, never back.
        if row.first_response_due_at is None or due < row.first_response_due_at:
            row.first_response_due_at = due


def open_leads_by_owner(session: Session) -> dict[str, int]:
    """Return how many open leads each owner holds."""
    query = (
        select(LeadRow.owner_id, func.count())
        .where(LeadRow.owner_id.is_not(None), LeadRow.status.in_(OPEN_STATUSES))
        .group_by(LeadRow.owner_id)
    )
    return {str(owner): int(n) for owner, n in session.execute(query)}


def _assign(session: Session, leads: Sequence[LeadRow], now: datetime) -> None:
    if not leads:
        return
    load = open_leads_by_owner(session)
    owners = [
        Owner(o.id, o.team, frozenset(o.product_lines), load.get(o.id, 0), o.max_open_leads)
        for o in session.scalars(select(LeadOwnerRow).where(LeadOwnerRow.is_active))
    ]
    to_assign = [LeadToAssign(str(r.id), r.team, r.product_line, r.score or 0) for r in leads]
    by_id = {str(row.id): row for row in leads}
    for assignment in assign_many(to_assign, owners):
        row = by_id[assignment.lead_id]
        row.assignment_reason = assignment.reason
        if assignment.owner_id is not None:
            row.owner_id, row.status, row.assigned_at = assignment.owner_id, "assigned", now


def _has_nurture(session: Session, lead_id: int) -> bool:
    query = select(LeadNurtureStepRow.id).where(LeadNurtureStepRow.lead_id == lead_id).limit(1)
    return session.scalar(query) is not None


def _plan_nurture(session: Session, row: LeadRow, now: datetime) -> None:
    steps = nurture_schedule(
        band=row.score_band or "cold",
        starts_at=now,
        has_phone=row.phone_e164 is not None,
        has_email=row.email is not None,
    )
    session.add_all(
        LeadNurtureStepRow(lead_id=row.id, seq=s.seq, day=s.day, kind=s.kind, due_at=s.due_at)
        for s in steps
    )


# Reading leads, recording touches, owners and funnel counts.
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
