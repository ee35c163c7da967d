"""Leads: captured prospects with their touches, nurture plan and the people who work them."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from geoalchemy2 import WKBElement

from api.db.base import Base
from api.db.spatial import geometry_column
from api.db.tables.tickets import BigId, UtcDateTime


class LeadOwnerRow(Base):
    """A salesperson (or technician) who works leads of a territory team and product lines."""

    __tablename__ = "lead_owner"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    team: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    product_lines: Mapped[list[str]] = mapped_column(JSON)
    max_open_leads: Mapped[int | None] = mapped_column(Integer, nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LeadRow(Base):
    """A lead of one source; rejected junk is kept with its reason, never dropped."""

    __tablename__ = "lead"
    __table_args__ = (
        Index("ix_lead_source_phone_e164", "source", "phone_e164"),
        Index("ix_lead_source_email_key", "source", "email_key"),
        Index("ix_lead_status_first_response_due_at", "status", "first_response_due_at"),
        Index("ix_lead_channel_campaign", "channel", "campaign"),
        Index("ix_lead_created_at", "created_at"),  # the reports' leads captured in a period
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    channel: Mapped[str] = mapped_column(String(20))
    campaign: Mapped[str | None] = mapped_column(String(128), nullable=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    phone_raw: Mapped[str | None] = mapped_column(String(64), nullable=True)
    email_raw: Mapped[str | None] = mapped_column(String(320), nullable=True)
    phone_e164: Mapped[str | None] = mapped_column(String(20), nullable=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    email_key: Mapped[str | None] = mapped_column(String(320), nullable=True)
    product_line: Mapped[str | None] = mapped_column(String(64), nullable=True)
    address: Mapped[str | None] = mapped_column(String(500), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    location: Mapped[WKBElement | None] = mapped_column(geometry_column("POINT"), nullable=True)
    region_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    team: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(12))
    rejection_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    rejection_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    score_band: Mapped[str | None] = mapped_column(String(8), nullable=True)
    # [{"code", "label", "points", "max_points"}, ...]: the breakdown shown to people.
    score_lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    owner_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("lead_owner.id"), nullable=True, index=True
    )
    assignment_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    assigned_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    first_response_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    first_responded_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    touch_count: Mapped[int] = mapped_column(Integer)
    last_touched_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ticket_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("ticket.id"), nullable=True, unique=True
    )
    converted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    customer_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("customer.id"), nullable=True, index=True
    )
    created_by_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LeadTouchRow(Base):
    """One contact with a lead: an inbound capture or an outbound call, SMS, e-mail or visit."""

    __tablename__ = "lead_touch"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    lead_id: Mapped[int] = mapped_column(BigId, ForeignKey("lead.id"), index=True)
    direction: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(12))
    channel: Mapped[str | None] = mapped_column(String(20), nullable=True)
    campaign: Mapped[str | None] = mapped_column(String(128), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class LeadNurtureStepRow(Base):
    """A planned touch of a lead's nurture schedule; done when a touch of its kind is recorded."""

    __tablename__ = "lead_nurture_step"
    __table_args__ = (UniqueConstraint("lead_id", "seq", name="uq_lead_nurture_step_lead_id_seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    lead_id: Mapped[int] = mapped_column(BigId, ForeignKey("lead.id"))
    seq: Mapped[int] = mapped_column(Integer)
    day: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    touch_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("lead_touch.id"), nullable=True)
