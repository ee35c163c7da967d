"""Inquiries in SQL: store one, read and list them, confirm one, read the confirmed labels."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shapely.geometry import Point

from api.db.spatial import to_wkb
from api.db.tables import InquiryLabelRow, InquiryRow


@dataclass(frozen=True, slots=True)
class NewInquiry:
    """A validated inquiry, located in WGS84, with the draft answered to it."""

    source: str
    text: str
    language: str
    lon: float
    lat: float
    region_id: str | None
    address: str | None
    contact_name: str | None
    contact_phone: str | None
    contact_email: str | None
    draft: dict[str, Any]


def insert_inquiry(
    session: Session, *, inquiry: NewInquiry, actor_key_id: str | None, now: datetime
) -> InquiryRow:
    """Store an inquiry as ``open``; flush, do not commit."""
    row = InquiryRow(
        source=inquiry.source,
        text=inquiry.text,
        language=inquiry.language,
        location=to_wkb(Point(inquiry.lon, inquiry.lat)),
        region_id=inquiry.region_id,
        address=inquiry.address,
        contact_name=inquiry.contact_name,
        contact_phone=inquiry.contact_phone,
        contact_email=inquiry.contact_email,
        draft=inquiry.draft,
        status="open",
        created_by_key_id=actor_key_id,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def get_inquiry(
    session: Session, *, inquiry_id: int, for_update: bool = False
) -> InquiryRow | None:
    """Return an inquiry; ``for_update`` locks its row (PostgreSQL) and reads it afresh."""
    query = select(InquiryRow).where(InquiryRow.id == inquiry_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).one_or_none()


def list_inquiries(
    session: Session, *, source: str | None, status: str | None, before_id: int | None, limit: int
) -> Sequence[InquiryRow]:
    """Return up to ``limit`` inquiries, newest first, of one source or all (``None``)."""
    query = select(InquiryRow).order_by(InquiryRow.id.desc()).limit(limit)
    if source is not None:
        query = query.where(InquiryRow.source == source)
    if status is not None:
        query = query.where(InquiryRow.status == status)
    if before_id is not None:
        query = query.where(InquiryRow.id < before_id)
    return session.scalars(query).all()


def record_confirmation(
    session: Session,
    *,
    inquiry: InquiryRow,
    label: InquiryLabelRow,
    ticket_id: int,
    now: datetime,
) -> None:
    """Mark ``inquiry`` (locked) confirmed as ``ticket_id`` and keep its label; flush only."""
    inquiry.status = "confirmed"
    inquiry.ticket_id = ticket_id
    inquiry.confirmed_at = now
    session.add(label)
    session.flush()


def confirmed_labels(session: Session) -> Sequence[InquiryLabelRow]:
    """Return every label staff confirmed, oldest first."""
    return session.scalars(select(InquiryLabelRow).order_by(InquiryLabelRow.id)).all()
