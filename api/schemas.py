"""Shared request/response pieces: coordinates, CRS, strict bodies and GeoJSON shapes."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, examples=[121.4737])]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, examples=[31.2304])]
CrsName = Literal["wgs84", "gcj02", "bd09"]


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
