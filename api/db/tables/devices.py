"""Devices: installed units, the readings and alarms they post, the incidents those open."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from geoalchemy2 import WKBElement

from api.db.base import Base
from api.db.spatial import geometry_column
from api.db.tables.tickets import BigId, UtcDateTime

#: The one open incident per device and fault: the partial unique index's condition.
OPEN_INCIDENT = text("status = 'open'")


class DeviceRow(Base):
    """An installed unit of a source: its customer, where it is, its model and warranty."""

    __tablename__ = "device"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"), index=True)
    model: Mapped[str] = mapped_column(String(64))
    location: Mapped[WKBElement] = mapped_column(geometry_column("POINT"))
    address: Mapped[str] = mapped_column(String(500))
    warranty_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_by_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DeviceEventRow(Base):
    """One reading (metric and value) or alarm (fault code) a device posted."""

    __tablename__ = "device_event"
    __table_args__ = (
        Index("ix_device_event_device_id_occurred_at", "device_id", "occurred_at"),
        CheckConstraint("kind IN ('reading', 'alarm')", name="kind"),
        CheckConstraint(
            "(kind = 'reading') = (metric IS NOT NULL AND value IS NOT NULL)", name="reading"
        ),
        CheckConstraint("(kind = 'alarm') = (fault_code IS NOT NULL)", name="alarm"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(BigId, ForeignKey("device.id"))
    kind: Mapped[str] = mapped_column(String(10))
    fault_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    metric: Mapped[str | None] = mapped_column(String(48), nullable=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DeviceIncidentRow(Base):
    """A fault of a device that rules found, with the maintenance ticket it opened.

    At most one incident per device and fault is open (the partial unique index): further
    firings of the fault count on it. It closes once its ticket is done or cancelled.
    """

    __tablename__ = "device_incident"
    __table_args__ = (
        Index(
            "uq_device_incident_open_fault",
            "device_id",
            "fault_key",
            unique=True,
            postgresql_where=OPEN_INCIDENT,
            sqlite_where=OPEN_INCIDENT,
        ),
        Index("ix_device_incident_device_id_id", "device_id", "id"),
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="closed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(BigId, ForeignKey("device.id"))
    fault_key: Mapped[str] = mapped_column(String(100))
    rule_id: Mapped[str] = mapped_column(String(48))
    status: Mapped[str] = mapped_column(String(10))
    # Null only inside the transaction that opens it: the incident claims the fault first.
    ticket_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("ticket.id"), nullable=True, unique=True
    )
    event_count: Mapped[int] = mapped_column(Integer)
    first_event_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_event_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # {"rules": "id@version", "reason": ..., "evidence": {...}, "readings": [...]}
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
