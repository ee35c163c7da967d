"""The map's query parameters: checked strictly, so a typo is a 422 naming it, not a guess."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Query, Request

from api.auth import utc_now
from api.deps import SettingsDep
from api.errors import ApiError, invalid_field
from api.fields import Day
from api.schemas import BBox, BBoxParam, parse_bbox

FILTERS = frozenset({"day", "bbox", "region", "technician", "zoom", "lang"})


@dataclass(frozen=True, slots=True)
class MapQuery:
    """What a view asks for: a local day, and optionally a box, a region and a technician."""

    day: date
    zone: ZoneInfo
    bbox: BBox | None = None
    region_id: str | None = None
    technician_id: str | None = None
    zoom: int = 11

    @property
    def start(self) -> datetime:
        """Local midnight that starts the day."""
        return datetime.combine(self.day, time(), self.zone)

    @property
    def end(self) -> datetime:
        """Local midnight that ends the day."""
        return self.start + timedelta(days=1)


async def map_query(
    request: Request,
    settings: SettingsDep,
    day: Annotated[Day | None, Query(description="local day, YYYY-MM-DD; default today")] = None,
    bbox: BBoxParam = None,
    region: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    technician: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    zoom: Annotated[int, Query(ge=0, le=22, description="map zoom; sets region detail")] = 11,
) -> MapQuery:
    """Read the view's filters; an unknown parameter is refused (422) rather than ignored.

    Async: it does no I/O (see ``api.deps.get_app_settings``).
    """
    unknown = sorted(set(request.query_params) - FILTERS)
    if unknown:
        raise invalid_query(unknown[0], f"unknown filter (known: {', '.join(sorted(FILTERS))})")
    zone = ZoneInfo(settings.timezone)
    return MapQuery(
        day=day or today(zone),
        zone=zone,
        bbox=None if bbox is None else parse_bbox(bbox),
        region_id=region,
        technician_id=technician,
        zoom=zoom,
    )


def today(zone: ZoneInfo) -> date:
    """Return today's date in ``zone``."""
    return utc_now().astimezone(zone).date()


MapQueryDep = Annotated[MapQuery, Depends(map_query)]


def invalid_query(field: str, message: str) -> ApiError:
    """Return the 422 of one bad query parameter."""
    return invalid_field(field, message, location="query")
