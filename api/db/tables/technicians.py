"""Technicians: profiles with skills and territory, daily shifts, GPS pings."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from geoalchemy2 import WKBElement

from api.db.base import Base
from api.db.spatial import geometry_column
from api.db.tables.tickets import BigId, UtcDateTime


class TechnicianRow(Base):
    """A technician; the id is the company's own (stable, caller-supplied)."""

    __tablename__ = "technician"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    home_base: Mapped[WKBElement] = mapped_column(geometry_column("POINT"))
    skills: Mapped[dict[str, int]] = mapped_column(JSON)
    territory: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    max_orders: Mapped[int | None] = mapped_column(Integer, nullable=True)
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TechnicianShiftRow(Base):
    """One working day of a technician, with flexible breaks."""

    __tablename__ = "technician_shift"
    __table_args__ = (
        UniqueConstraint("technician_id", "day", name="uq_technician_shift_technician_id_day"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    technician_id: Mapped[str] = mapped_column(String(64), ForeignKey("technician.id"))
    day: Mapped[date] = mapped_column(Date)
    start_at: Mapped[datetime] = mapped_column(UtcDateTime)
    end_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # [{"earliest_start_at": iso, "latest_start_at": iso, "duration_min": n}, ...]
    breaks: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class TechnicianLocationRow(Base):
    """A GPS ping; the current position is the latest ``recorded_at``, not the latest insert."""

    __tablename__ = "technician_location"
    __table_args__ = (
        UniqueConstraint(
            "technician_id", "recorded_at", name="uq_technician_location_technician_id_recorded_at"
        ),
        Index("ix_technician_location_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    technician_id: Mapped[str] = mapped_column(String(64), ForeignKey("technician.id"))
    location: Mapped[WKBElement] = mapped_column(geometry_column("POINT"))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    accuracy_m: Mapped[float | None] = mapped_column(Float, nullable=True)
