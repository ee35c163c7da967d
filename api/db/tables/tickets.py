"""Tickets (work orders): customers, tickets, their status history, signatures, idempotency keys.

Times go through :class:`UtcDateTime`: SQLite has no time zone type and SQLAlchemy's SQLite
``DATETIME`` silently drops the offset, so every value is stored in UTC and read back aware.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from geoalchemy2 import WKBElement

from api.db.base import Base
from api.db.spatial import geometry_column

# BIGSERIAL on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY (its rowid).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp stored in UTC on both databases; naive values are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to UTC before it is stored."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to what SQLite hands back naive; PostgreSQL's values are already aware."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class CustomerRow(Base):
    """The person or business a ticket is for, as the integrator sent it."""

    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TicketRow(Base):
    """A work order at one location; ``(source, external_id)`` is the integrator's own id."""

    __tablename__ = "ticket"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_ticket_source_external_id"),
        Index("ix_ticket_status_sla", "status", "sla_due_at"),
        Index("ix_ticket_window", "window_start_at", "window_end_at"),
        CheckConstraint("demand >= 0", name="demand"),
        CheckConstraint("units >= 1", name="units"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(20))
    location: Mapped[WKBElement] = mapped_column(geometry_column("POINT"))
    region_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    address: Mapped[str] = mapped_column(String(500))
    duration_min: Mapped[int] = mapped_column(Integer)
    skills: Mapped[dict[str, int]] = mapped_column(JSON)
    # [[start, end], ...] as ISO 8601 strings with their offsets, sorted by start; the first
    # start and the last end are also columns so that time-range filters use an index.
    time_windows: Mapped[list[list[str]]] = mapped_column(JSON)
    window_start_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    window_end_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    priority: Mapped[str] = mapped_column(String(10))
    sla_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    technician_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("technician.id"), nullable=True, index=True
    )
    customer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("customer.id"), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Work facts: parts carried (the technician's capacity), units of work (unit fees), the
    # rate card's difficulty flags and the materials used ([{"code", "quantity"}]).
    demand: Mapped[int] = mapped_column(Integer, server_default="0")
    units: Mapped[int] = mapped_column(Integer, server_default="1")
    difficulty: Mapped[list[str]] = mapped_column(JSON, server_default="[]")
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JSON, server_default="[]")
    created_by_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TicketStatusChangeRow(Base):
    """One status change (append-only); the increasing ``id`` makes it the webhook outbox."""

    __tablename__ = "ticket_status_change"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("ticket.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_status: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class TicketSignatureRow(Base):
    """The customer's confirmation of a completed ticket, with their rating of the work."""

    __tablename__ = "ticket_signature"
    __table_args__ = (CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),)

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("ticket.id"), primary_key=True)
    signer_name: Mapped[str] = mapped_column(String(200))
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    image: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    image_media_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    rating: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class IdempotencyKeyRow(Base):
    """A client's ``Idempotency-Key`` and the answer of the request that first used it.

    The row is written in that request's transaction, so it exists only for committed work;
    a request in flight holds the key with a lock instead (``api.idempotency``).
    """

    __tablename__ = "idempotency_key"
    __table_args__ = (
        UniqueConstraint("principal", "key", name="uq_idempotency_key_principal_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    principal: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    body_sha256: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
