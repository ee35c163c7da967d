"""Webhooks: integrators' subscriptions, one delivery per (subscription, change), every attempt."""

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base
from api.db.tables.tickets import BigId, UtcDateTime


class WebhookSubscriptionRow(Base):
    """Where to send one source's ticket status changes, and the secret that signs them.

    The secret must be kept readable (it signs every delivery), so it is stored as given; the
    API shows it only in the response that creates it.
    """

    __tablename__ = "webhook_subscription"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(String(500), nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean)
    created_by_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebhookDeliveryRow(Base):
    """One event for one subscription: its exact signed body and where its retries stand."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint(
            "subscription_id", "change_id", name="uq_webhook_delivery_subscription_id_change_id"
        ),
        UniqueConstraint(
            "subscription_id", "firing_id", name="uq_webhook_delivery_subscription_id_firing_id"
        ),
        Index("ix_webhook_delivery_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("webhook_subscription.id", ondelete="CASCADE")
    )
    # A delivery carries a status change or an escalation's firing (then of a ticket or a lead).
    change_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("ticket_status_change.id"), nullable=True
    )
    firing_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("escalation_firing.id"), nullable=True
    )
    ticket_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    event_type: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))
    attempt_count: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class WebhookAttemptRow(Base):
    """One HTTP POST of a delivery: when, how long, what came back (or what went wrong)."""

    __tablename__ = "webhook_attempt"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("webhook_delivery.id", ondelete="CASCADE"), index=True
    )
    attempt_no: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    latency_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    is_success: Mapped[bool] = mapped_column(Boolean)


class WebhookCursorRow(Base):
    """How far the delivery worker has read the ``ticket_status_change`` outbox."""

    __tablename__ = "webhook_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_change_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
