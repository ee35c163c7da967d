"""Dispatch: optimiser runs, their plans, and the assignment of tickets to technicians."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base
from api.db.tables.tickets import BigId, UtcDateTime


class DispatchRunRow(Base):
    """One optimiser run: what it covers, how it went and its figures.

    ``scope`` is the request's ``{"region_id", "date"}`` or ``{"ticket_ids"}``; ``region_id``
    and ``day`` repeat it as columns (``day`` is set for both kinds) so that the plan in force
    for a region and day is found with an index. ``ticket_versions`` snapshots each planned
    ticket (``{id: [status, technician_id, updated_at]}``) to refuse a stale apply.
    ``heartbeat_at`` is refreshed by the process that owns a queued or running run; once it
    is older than the lease, that process is gone and the run has failed.
    """

    __tablename__ = "dispatch_run"
    __table_args__ = (Index("ix_dispatch_run_day_region_id", "day", "region_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scope: Mapped[dict[str, Any]] = mapped_column(JSON)
    region_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    day: Mapped[date] = mapped_column(Date)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), index=True)
    phase: Mapped[str] = mapped_column(String(20))
    progress: Mapped[float] = mapped_column(Float)
    n_orders: Mapped[int] = mapped_column(Integer)
    n_technicians: Mapped[int] = mapped_column(Integer)
    ticket_versions: Mapped[dict[str, list[Any]]] = mapped_column(JSON)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    kpis: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class DispatchPlanRow(Base):
    """A run's plan in the documented plan format (``docs/problem-format.md``).

    ``revision`` goes up with every change of ``plan`` and when it is applied, so that a
    process keeping a copy (``api.dispatch.live_plans``) can tell with one read whether it is
    current.
    """

    __tablename__ = "dispatch_plan"

    run_id: Mapped[int] = mapped_column(BigId, ForeignKey("dispatch_run.id"), primary_key=True)
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)
    applied_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AssignmentRow(Base):
    """The current assignment of one ticket to a technician (at most one per ticket).

    Times are the plan's: ``eta_at`` the arrival, ``start_at``/``end_at`` the service. A manual
    assignment has no ``run_id`` and may lack times. ``is_pinned`` makes later runs keep the
    ticket on this technician.
    """

    __tablename__ = "assignment"
    __table_args__ = (Index("ix_assignment_technician_id_day", "technician_id", "day"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("ticket.id"), unique=True)
    technician_id: Mapped[str] = mapped_column(String(64), ForeignKey("technician.id"))
    day: Mapped[date] = mapped_column(Date)
    sequence: Mapped[int | None] = mapped_column(Integer, nullable=True)
    eta_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    start_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    end_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    is_pinned: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(10))  # "run" or "manual"
    run_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("dispatch_run.id"), nullable=True)
    assigned_at: Mapped[datetime] = mapped_column(UtcDateTime)
    assigned_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
