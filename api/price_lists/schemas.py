"""Customer price-list versions on the wire."""

from datetime import date, datetime

from pydantic import BaseModel, Field


class PriceListVersionRead(BaseModel):
    """A stored customer price-list version (never changed once stored)."""

    list_id: str
    version: int
    label: str = Field(examples=["sh-sz-customer@v2"], description="what bills record")
    currency: str
    time_zone: str
    effective_from: date
    effective_until: date | None = Field(description="exclusive; null: open-ended")
    content_sha256: str
    document_format: str
    created_at: datetime
    document: str | None = Field(default=None, description="the list as uploaded (one version)")


class PriceListSaved(BaseModel):
    """The outcome of an upload: ``created`` or ``unchanged`` (the same content again)."""

    outcome: str
    price_list: PriceListVersionRead
