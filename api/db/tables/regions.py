"""Table definitions (singular snake_case names; ``_at`` timestamps are timezone-aware)."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from geoalchemy2 import WKBElement

from api.db.base import Base
from api.db.spatial import geometry_column


class RegionRow(Base):
    """A geofenced region (district, zone, city) with its payout attributes."""

    __tablename__ = "region"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(20))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    parent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    area_m2: Mapped[float] = mapped_column(Float)
    geometry: Mapped[WKBElement] = mapped_column(geometry_column("MULTIPOLYGON"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp()
    )
