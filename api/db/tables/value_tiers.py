"""Customer value tiers: each customer's latest RFM score and the policy version it used."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base
from api.db.tables.tickets import BigId, UtcDateTime


class CustomerValueRow(Base):
    """A customer's latest score (replaced on every recomputation) and what it was made of."""

    __tablename__ = "customer_value"

    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"), primary_key=True)
    tier: Mapped[str] = mapped_column(String(16), index=True)
    recency: Mapped[int] = mapped_column(SmallInteger)
    frequency: Mapped[int] = mapped_column(SmallInteger)
    monetary: Mapped[int] = mapped_column(SmallInteger)
    services: Mapped[int] = mapped_column(Integer)
    billed_fen: Mapped[int] = mapped_column(BigInteger)
    last_service_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    policy_id: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime)
