"""Shared request/response pieces: coordinates, CRS, strict bodies and GeoJSON shapes."""

import math
import re
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from api.errors import invalid_field
from api.fields import Latitude as Latitude
from api.fields import Longitude as Longitude
from api.fields import unstorable_text

CrsName = Literal["wgs84", "gcj02", "bd09"]


BBox = tuple[float, float, float, float]
BBOX_HELP = "min_lon,min_lat,max_lon,max_lat (WGS84)"
_DEGREES = r"-?[0-9]{1,3}(\.[0-9]{1,15})?"
BBOX_PATTERN = rf"^{_DEGREES}(,{_DEGREES}){{3}}$"
BBoxParam = Annotated[
    str | None,
    Query(
        max_length=200,
        description=f"{BBOX_HELP}; decimal degrees, min before max",
        json_schema_extra={"pattern": BBOX_PATTERN},
    ),
]
"""The ``bbox`` query parameter, read by ``parse_bbox`` (which answers its 422s)."""


def parse_bbox(text: str) -> BBox:
    """Parse the ``bbox`` query parameter; anything but a box on the globe is a 422 naming it.

    >>> parse_bbox("121.2,31.0,121.8,31.5")
    (121.2, 31.0, 121.8, 31.5)
    """
    if not re.match(BBOX_PATTERN, text):
        raise invalid_field("bbox", f"must be four numbers: {BBOX_HELP}", location="query")
    parts = text.split(",")
    try:
        x0, y0, x1, y1 = (float(p) for p in parts)
    except ValueError:
        raise invalid_field(
            "bbox", f"must be four numbers: {BBOX_HELP}", location="query"
        ) from None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise invalid_field("bbox", "must be finite numbers", location="query")
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= 90 and -90 <= y1 <= 90):
        message = "longitudes must be within -180..180 and latitudes within -90..90"
        raise invalid_field("bbox", message, location="query")
    if x0 > x1 or y0 > y1:
        message = "min_lon must not exceed max_lon, nor min_lat max_lat"
        raise invalid_field("bbox", message, location="query")
    return x0, y0, x1, y1


class Strict(BaseModel):
    """Base of every request body: unknown fields are refused, so nobody sets what they may not.

    Text no database can store (a NUL character, a lone surrogate) is refused in every field,
    at any depth, naming the field: PostgreSQL would otherwise fail the insert (a 500).
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        if (why := unstorable_text(value)) is not None:
            raise PydanticCustomError("unstorable_text", why)
        return value


class RegionRead(BaseModel):
    """A region as returned by the API (without geometry)."""

    id: str
    name_zh: str
    name_en: str
    level: str
    priority: int
    parent_id: str | None
    area_km2: float
    attributes: dict[str, Any]


class LocateRead(BaseModel):
    """Where a point falls: the most specific region and the whole hierarchy around it."""

    lon: float = Field(description="WGS84 longitude actually located (after CRS conversion)")
    lat: float = Field(description="WGS84 latitude actually located (after CRS conversion)")
    region: RegionRead | None = Field(description="the most specific region, or null outside all")
    hierarchy: list[RegionRead] = Field(description="every containing region, most specific first")


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection (RFC 7946; coordinates are [lon, lat])."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[dict[str, Any]]
