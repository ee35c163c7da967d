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
    Float,
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
    """One person or business of one source, whatever channel they came through.

    Identifiers live in ``customer_identifier``; ``phone`` here is the E.164 number the
    customer was created with (a second person on a shared phone keeps it here only).
    ``lon``/``lat`` are the first address known, compared only after a name match (the
    probable-duplicate rule). A customer merged into another keeps its row, pointing at the
    survivor through ``merged_into_id``, so that an un-merge can restore it.
    """

    __tablename__ = "customer"
    __table_args__ = (
        Index("ix_customer_source_name_key", "source", "name_key"),
        Index("ix_customer_source_phone", "source", "phone"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    name_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    address: Mapped[str | None] = mapped_column(String(500), nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    merged_into_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("customer.id"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TicketRow(Base):
    """A work order at one location; ``(source, external_id)`` is the integrator's own id."""

    __tablename__ = "ticket"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_ticket_source_external_id"),
        Index("ix_ticket_status_sla", "status", "sla_due_at"),
        Index("ix_ticket_window", "window_start_at", "window_end_at"),
        Index("ix_ticket_sla_due_at", "sla_due_at"),  # the reports' deadlines in a period
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
    customer_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("customer.id"), nullable=True, index=True
    )
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
    __table_args__ = (  # the reports: a ticket's first of a status; who completed in a period
        Index("ix_ticket_status_change_ticket_id_to_status_at", "ticket_id", "to_status", "at"),
        Index("ix_ticket_status_change_to_status_at", "to_status", "at"),
    )

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
