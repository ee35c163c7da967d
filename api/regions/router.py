"""``/v1/regions``: the stored regions as GeoJSON, and which region a point falls in."""

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Request

from api.deps import SessionDep
from api.fields import LatitudeParam, LongitudeParam
from api.regions import repository as repo
from api.schemas import BBoxParam, CrsName, FeatureCollection, LocateRead, RegionRead, parse_bbox
from geo.coords import to_wgs84
from geo.geojson import regions_to_geojson
from geo.regions import Region

router = APIRouter(prefix="/regions", tags=["regions"])


def region_read(region: Region) -> RegionRead:
    return RegionRead(
        id=region.id,
        name_zh=region.name_zh,
        name_en=region.name_en,
        level=region.level,
        priority=region.priority,
        parent_id=region.parent_id,
        area_km2=round(region.area_m2 / 1e6, 3),
        attributes=dict(region.attributes),
    )


@router.get("", response_model=FeatureCollection)
def list_regions(
    session: SessionDep,
    level: Annotated[str | None, Query(description="only regions of this level")] = None,
    bbox: BBoxParam = None,
) -> dict[str, object]:
    """Every region as a GeoJSON FeatureCollection (WGS84, [lon, lat])."""
    regions = repo.list_regions(
        session, level=level, bbox=None if bbox is None else parse_bbox(bbox)
    )
    return regions_to_geojson(regions)


@router.get("/locate", response_model=LocateRead)
def locate(
    request: Request,
    session: SessionDep,
    lon: Annotated[LongitudeParam, Query()],
    lat: Annotated[LatitudeParam, Query()],
    crs: Annotated[CrsName, Query(description="datum of lon/lat; converted to WGS84")] = "wgs84",
) -> LocateRead:
    """Find the most specific region containing a point, and every region around it."""
    lons, lats = to_wgs84(np.array([lon]), np.array([lat]), crs)
    wgs_lon, wgs_lat = float(lons[0]), float(lats[0])
    index = request.app.state.region_cache.index(session)
    hierarchy = [region_read(r) for r in index.containing(wgs_lon, wgs_lat)]
    return LocateRead(
        lon=wgs_lon, lat=wgs_lat, region=hierarchy[0] if hierarchy else None, hierarchy=hierarchy
    )
