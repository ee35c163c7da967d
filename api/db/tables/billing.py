"""Customer billing at rest: the versions of customer price lists.

A version is stored once and never changed (``api.price_lists.repository`` never updates one,
and the migration installs triggers that refuse UPDATE and DELETE on both databases): bills are
computed from the version in force at a job's service time, so editing a version would change
bills already handed to customers. A correction is a new version.
"""

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base
from api.db.tables.tickets import BigId, UtcDateTime


class PriceListVersionRow(Base):
    """One version of a customer price list: the document as uploaded, its hash and validity."""

    __tablename__ = "price_list_version"
    __table_args__ = (
        UniqueConstraint("list_id", "version", name="uq_price_list_version_list_id_version"),
        CheckConstraint("document_format IN ('toml', 'json')", name="document_format"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    list_id: Mapped[str] = mapped_column(String(64))
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
