"""Customer identity: identifiers by channel, merge suggestions and the merges themselves.

The customer row itself is ``api.db.tables.tickets.CustomerRow``. Nothing here is deleted: a
refused suggestion stays refused (it is not offered again), and an un-merge stamps its merge.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base
from api.db.tables.tickets import BigId, UtcDateTime


class CustomerIdentifierRow(Base):
    """An identifier of one channel (``kind``) that names one customer of a source."""

    __tablename__ = "customer_identifier"
    __table_args__ = (
        UniqueConstraint("source", "kind", "value", name="uq_customer_identifier_source_kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(24))
    value: Mapped[str] = mapped_column(String(320))
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MergeSuggestionRow(Base):
    """Two customers that are probably one person, with the evidence, for a person to decide.

    ``customer_id`` < ``candidate_id``; one suggestion per pair, whatever becomes of it.
    """

    __tablename__ = "customer_merge_suggestion"
    __table_args__ = (
        UniqueConstraint("customer_id", "candidate_id", name="uq_customer_merge_suggestion_pair"),
        CheckConstraint("customer_id < candidate_id", name="ordered_pair"),
        CheckConstraint("status IN ('open', 'accepted', 'refused', 'unmerged')", name="status"),
        Index("ix_customer_merge_suggestion_source_status", "source", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"))
    candidate_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"), index=True)
    # [{"code", "detail", "distance_m"}, ...]: why the pair is probably one person.
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    decided_by_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class CustomerMergeRow(Base):
    """One merge of ``merged_id`` into ``survivor_id``: who, when, why, and what moved.

    ``moved`` lists the ticket, lead and identifier ids re-pointed to the survivor, so that an
    un-merge puts back exactly those (work linked to the survivor later stays with it).
    """

    __tablename__ = "customer_merge"
    __table_args__ = (
        CheckConstraint("survivor_id <> merged_id", name="not_itself"),
        Index("ix_customer_merge_merged_id", "merged_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    survivor_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"), index=True)
    merged_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"))
    suggestion_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("customer_merge_suggestion.id"), nullable=True
    )
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # {"tickets": [ids], "leads": [ids], "identifiers": [ids]}
    moved: Mapped[dict[str, list[int]]] = mapped_column(JSON)
    merged_at: Mapped[datetime] = mapped_column(UtcDateTime)
    merged_by: Mapped[str] = mapped_column(String(64))
    unmerged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    unmerged_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
