"""Money at rest: rate cards, settlements, the append-only ledger, adjustments awaiting approval.

Rows of ``settlement`` and ``ledger_entry`` are never updated or deleted (no code path does, the
migration installs triggers that refuse it on both databases, and on PostgreSQL the service's
role may only SELECT and INSERT them: ``info["app_privileges"]``, applied by
:mod:`api.db.roles`); a rate-card version is frozen from the moment it first prices an order
(``first_used_at``). An adjustment request is decided once and never deleted. Money is integer
fen.
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
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

#: What the service's database role may do to an append-only table (``api.db.roles``).
APPEND_ONLY = {"app_privileges": ("SELECT", "INSERT")}


class RateCardVersionRow(Base):
    """One version of a rate card: the document as uploaded, its hash and its validity."""

    __tablename__ = "rate_card_version"
    __table_args__ = (
        UniqueConstraint("card_id", "version", name="uq_rate_card_version_card_id_version"),
        CheckConstraint("document_format IN ('toml', 'json')", name="document_format"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    card_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    time_zone: Mapped[str] = mapped_column(String(64))
    effective_from: Mapped[date] = mapped_column(Date, index=True)
    effective_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    document_format: Mapped[str] = mapped_column(String(8))
    document: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    first_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class SettlementRow(Base):
    """The priced breakdown of one ticket under one rate-card version (written once)."""

    __tablename__ = "settlement"
    __table_args__ = (
        UniqueConstraint(
            "ticket_id", "rate_card_version_id", name="uq_settlement_ticket_id_rate_card_version_id"
        ),
        Index("ix_settlement_technician_id_service_date", "technician_id", "service_date"),
        Index("ix_settlement_service_date", "service_date"),  # the cost report's period
        {"info": APPEND_ONLY},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("ticket.id"))
    technician_id: Mapped[str] = mapped_column(String(64), ForeignKey("technician.id"))
    rate_card_version_id: Mapped[int] = mapped_column(BigId, ForeignKey("rate_card_version.id"))
    rate_card_version: Mapped[str] = mapped_column(String(80))  # "<card id>@v<version>"
    service_type: Mapped[str] = mapped_column(String(40))
    region_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    service_at: Mapped[datetime] = mapped_column(UtcDateTime)
    service_date: Mapped[date] = mapped_column(Date)  # in the card's time zone
    nth_in_period: Mapped[int] = mapped_column(Integer)
    total_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # [{"code", "label_zh", "label_en", "basis", "rate", "amount_fen", "rule_id"}, ...]
    # decimals as strings, in application order
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # the CompletedOrder as priced (position, travel, surge ratio, ...), so that a what-if can
    # re-price it under another card and anyone can re-check the breakdown
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    settled_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The customer's bill of the same job, priced at settlement (api.bills.pricing), so that the
    # cost report sums bills and margins with pay in one query; null when no customer price
    # list in force could price it, and for settlements made before migration 0016.
    bill_total_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    bill_currency: Mapped[str | None] = mapped_column(String(3), nullable=True)


class LedgerEntryRow(Base):
    """One line of a technician's ledger (append-only); the balance is the sum of amounts."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('earning', 'adjustment', 'reversal', 'withdrawal')", name="entry_kind"
        ),
        # An entry is reversed at most once.
        UniqueConstraint("reverses_entry_id", name="uq_ledger_entry_reverses_entry_id"),
        Index("ix_ledger_entry_technician_id_id", "technician_id", "id"),
        {"info": APPEND_ONLY},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    technician_id: Mapped[str] = mapped_column(String(64), ForeignKey("technician.id"))
    kind: Mapped[str] = mapped_column(String(12))
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # signed: withdrawals are negative
    currency: Mapped[str] = mapped_column(String(3))
    ticket_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("ticket.id"), nullable=True)
    settlement_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("settlement.id"), nullable=True, index=True
    )
    reverses_entry_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("ledger_entry.id"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    memo: Mapped[str] = mapped_column(Text)


class AdjustmentRequestRow(Base):
    """A large manual adjustment, waiting for (or given) a second admin's decision: four eyes.

    It moves no money until approved; the approval appends the ledger
    entry (``ledger_entry_id``). Decided once: triggers refuse any change of a decided request
    and any deletion, and the database refuses an approval by the requester's own key.
    """

    __tablename__ = "adjustment_request"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status"),
        CheckConstraint(
            "(status = 'pending') = (decided_at IS NULL AND decided_by_key_id IS NULL)",
            name="decided_when_not_pending",
        ),
        CheckConstraint(
            "(status = 'approved') = (ledger_entry_id IS NOT NULL)", name="entry_when_approved"
        ),
        CheckConstraint(
            "status <> 'approved' OR decided_by_key_id <> requested_by_key_id", name="four_eyes"
        ),
        CheckConstraint("amount_fen <> 0", name="amount_not_zero"),
        UniqueConstraint("ledger_entry_id", name="uq_adjustment_request_ledger_entry_id"),
        Index("ix_adjustment_request_status_id", "status", "id"),
        Index("ix_adjustment_request_technician_id_id", "technician_id", "id"),
        {"info": {"app_privileges": ("SELECT", "INSERT", "UPDATE")}},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    technician_id: Mapped[str] = mapped_column(String(64), ForeignKey("technician.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # signed, as the entry it would append
    currency: Mapped[str] = mapped_column(String(3))
    memo: Mapped[str] = mapped_column(Text)  # the reason, shown to the technician once booked
    status: Mapped[str] = mapped_column(String(10))
    requested_by_key_id: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_by_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    decision_memo: Mapped[str | None] = mapped_column(Text, nullable=True)
    ledger_entry_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("ledger_entry.id"), nullable=True
    )
