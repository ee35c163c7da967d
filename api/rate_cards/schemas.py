"""Rate-card versions and what-if simulations on the wire."""

from datetime import date, datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.earnings.schemas import MoneyRead
from api.fields import JSON_NUMBER, Count, Day, Flag, Timestamp
from api.schemas import Latitude, Longitude, Strict

MAX_SIMULATED_ORDERS = 100_000


class RuleSummary(BaseModel):
    """One rule of a card, in application order."""

    id: str
    kind: str


class RateCardVersionRead(BaseModel):
    """A stored rate-card version; ``is_used`` versions are frozen."""

    card_id: str
    version: int
    label: str = Field(examples=["shanghai-2026@v3"], description="what breakdown lines record")
    currency: str
    time_zone: str
    effective_from: date
    effective_until: date | None = Field(description="exclusive; null: open-ended")
    content_sha256: str
    document_format: str
    created_at: datetime
    first_used_at: datetime | None
    is_used: bool
    rules: list[RuleSummary]
    document: str | None = Field(default=None, description="the card as uploaded (one version)")


class RateCardSaved(BaseModel):
    """The outcome of an upload: ``created``, ``unchanged`` or ``replaced`` (unused only)."""

    outcome: str
    rate_card: RateCardVersionRead


class VersionRef(Strict):
    """A stored version, by card id and version number."""

    card_id: str = Field(examples=["shanghai-2026"])
    version: Count = Field(ge=1, le=2**31 - 1, examples=[3])


class OrderIn(Strict):
    """A completed order to price in a simulation (the inputs a settlement records)."""

    order_id: str = Field(min_length=1, max_length=128)
    technician_id: str = Field(min_length=1, max_length=64)
    service_type: str = Field(min_length=1, max_length=40, examples=["repair"])
    service_at: Timestamp
    location: tuple[Longitude, Latitude] = Field(description="[lon, lat], WGS84")
    units: Count = Field(default=1, ge=1, le=10_000)
    flags: list[str] = Field(default_factory=list, max_length=50)
    is_urgent: Flag = False
    rating: Annotated[int, Field(ge=1, le=5), JSON_NUMBER] | None = None
    travel_m: Count = Field(default=0, ge=0, le=2_000_000)
    origin: tuple[Longitude, Latitude] | None = Field(default=None, description="trip origin")
    demand_supply_ratio: Annotated[str, Field(pattern=r"^[0-9]{1,6}(\.[0-9]{1,4})?$")] | None = None
    materials: dict[str, Annotated[int, Field(ge=1, le=100_000), JSON_NUMBER]] = Field(
        default_factory=dict
    )


class SimulateRequest(Strict):
    """Compare a candidate card with the current one over the same orders.

    The candidate is a card document (``candidate``, as JSON) or a stored version
    (``candidate_version``). The current card is ``current_version`` or, by default, the version
    in force today. The orders are either the settled orders whose service date is in
    ``[first, last]`` (optionally of one region or technician) or ``orders`` in the body.
    Both cards are applied to every order whatever their effective dates: the question is
    "what if this card had priced these orders".
    """

    candidate: dict[str, Any] | None = Field(default=None, description="a rate-card document")
    candidate_version: VersionRef | None = None
    current_version: VersionRef | None = None
    first: Day | None = None
    last: Day | None = None
    region_id: str | None = Field(default=None, max_length=64)
    technician_id: str | None = Field(default=None, max_length=64)
    orders: list[OrderIn] | None = Field(default=None, max_length=MAX_SIMULATED_ORDERS)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "candidate_version": {"card_id": "shanghai-2026", "version": 4},
                    "first": "2026-10-01",
                    "last": "2026-10-31",
                    "region_id": "310115",
                }
            ]
        },
    )

    @model_validator(mode="after")
    def _one_source_each(self) -> Self:
        if (self.candidate is None) == (self.candidate_version is None):
            raise ValueError("give exactly one of candidate and candidate_version")
        has_range = self.first is not None or self.last is not None
        if has_range == (self.orders is not None):
            raise ValueError("give either first and last (past settled orders) or orders")
        if has_range and (self.first is None or self.last is None):
            raise ValueError("first and last go together")
        if self.first and self.last and self.first > self.last:
            raise ValueError("first must not be after last")
        if self.orders is not None and (self.region_id or self.technician_id):
            raise ValueError("region_id and technician_id filter past orders, not body orders")
        return self


class ComparisonRead(BaseModel):
    """Current vs candidate cost of one group (a region, service type or technician)."""

    key: str
    order_count: int
    current: MoneyRead
    candidate: MoneyRead
    delta: MoneyRead = Field(description="candidate minus current")


class WhatIfRead(BaseModel):
    """The what-if comparison of the settlement package, per region, type and technician."""

    current_version: str
    candidate_version: str
    total: ComparisonRead
    by_region: list[ComparisonRead]
    by_service_type: list[ComparisonRead]
    by_technician: list[ComparisonRead]
    paid_more: int = Field(description="technicians whose total rises")
    paid_less: int = Field(description="technicians whose total falls")
    unchanged: int
    gained: MoneyRead
    lost: MoneyRead
    largest_gain: MoneyRead
    largest_loss: MoneyRead
