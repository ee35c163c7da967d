"""Escalations: every firing of an escalation rule, and the approvals rules require."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base
from api.db.tables.tickets import BigId, UtcDateTime


class EscalationFiringRow(Base):
    """A rule that fired on a ticket or lead: the facts that fired it and what it did.

    The unique constraint makes a rule fire once per subject and condition, however many
    evaluations run at once: the second insert fails and counts as already fired.
    """

    __tablename__ = "escalation_firing"
    __table_args__ = (
        UniqueConstraint(
            "rule_id",
            "subject_kind",
            "subject_id",
            "condition_key",
            name="uq_escalation_firing_rule_subject_condition",
        ),
        CheckConstraint("subject_kind IN ('ticket', 'lead')", name="subject_kind"),
        Index("ix_escalation_firing_subject_kind_subject_id", "subject_kind", "subject_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(String(48))
    rules_version: Mapped[str] = mapped_column(String(80))
    subject_kind: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[int] = mapped_column(BigId)
    condition_key: Mapped[str] = mapped_column(String(48))
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    fired_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TicketApprovalRow(Base):
    """A ticket held from dispatch until staff approve it (``pending`` -> ``approved``)."""

    __tablename__ = "ticket_approval"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved')", name="status"),
        CheckConstraint("(status = 'approved') = (approved_at IS NOT NULL)", name="approved_at"),
    )

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("ticket.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(10))
    firing_id: Mapped[int] = mapped_column(BigId, ForeignKey("escalation_firing.id"))
    required_at: Mapped[datetime] = mapped_column(UtcDateTime)
    approved_by_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
