"""Inquiries: customers' free-text requests, the drafts the model made, the labels staff gave."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from geoalchemy2 import WKBElement

from api.db.base import Base
from api.db.spatial import geometry_column
from api.db.tables.tickets import BigId, UtcDateTime


class InquiryRow(Base):
    """One inquiry of a source, with the ticket draft answered to it; once confirmed, its ticket."""

    __tablename__ = "inquiry"
    __table_args__ = (
        Index("ix_inquiry_source_id", "source", "id"),
        Index("ix_inquiry_status_id", "status", "id"),
        CheckConstraint("status IN ('open', 'confirmed')", name="status"),
        CheckConstraint(
            "(status = 'confirmed') = (ticket_id IS NOT NULL)", name="ticket_when_confirmed"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    location: Mapped[WKBElement] = mapped_column(geometry_column("POINT"))
    region_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    address: Mapped[str | None] = mapped_column(String(500), nullable=True)
    contact_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    contact_phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    contact_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    # The draft as answered: {"type": {"value", "confidence", "words"}, "skills": [...], ...}.
    draft: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10))
    ticket_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("ticket.id"), nullable=True, unique=True
    )
    created_by_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class InquiryLabelRow(Base):
    """The ticket staff confirmed for an inquiry: a labelled example the model trains on.

    ``corrected`` names the parts staff changed from the draft (``type``, ``skills``,
    ``priority``, ``duration_min``); empty when they took the draft as it was.
    """

    __tablename__ = "inquiry_label"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    inquiry_id: Mapped[int] = mapped_column(BigId, ForeignKey("inquiry.id"), unique=True)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(20))
    skills: Mapped[dict[str, int]] = mapped_column(JSON)
    priority: Mapped[str] = mapped_column(String(10))
    duration_min: Mapped[int] = mapped_column(Integer)
    corrected: Mapped[list[str]] = mapped_column(JSON)
    confirmed_by_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
