"""Shared request/response pieces: coordinates, CRS, strict bodies and GeoJSON shapes."""

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.errors import invalid_field

Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, examples=[121.4737])]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, examples=[31.2304])]
CrsName = Literal["wgs84", "gcj02", "bd09"]


BBox = tuple[float, float, float, float]
BBOX_HELP = "min_lon,min_lat,max_lon,max_lat (WGS84)"


def parse_bbox(text: str) -> BBox:
    """Parse the ``bbox`` query parameter; anything but a box on the globe is a 422 naming it.

    >>> parse_bbox("121.2,31.0,121.8,31.5")
    (121.2, 31.0, 121.8, 31.5)
    """
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
    """Base of every request body: unknown fields are refused, so nobody sets what they may not."""

    model_config = ConfigDict(extra="forbid")


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
