"""End-to-end datum checks on the demo city: real WGS84 places land in their districts.

``data/places.geojson`` holds 222 OpenStreetMap metro stations and 154 GeoNames towns, each with
the district it lies in (``district_id``). Stations near district borders are what make the
datum visible: GCJ-02 positions are 500-700 m off in Shanghai.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from geo.coords import to_wgs84, wgs84_to_bd09, wgs84_to_gcj02
from geo.geojson import regions_from_geojson
from geo.regions import RegionIndex

from .conftest import DEMO_REGIONS

DEMO_PLACES = Path(__file__).resolve().parents[2] / "data" / "places.geojson"
pytestmark = pytest.mark.skipif(
    not (DEMO_REGIONS.exists() and DEMO_PLACES.exists()), reason="demo data not built yet"
)


@pytest.fixture(scope="module")
def districts() -> RegionIndex:
    """The demo city's district-level regions only (no city polygons, no zones)."""
    regions = regions_from_geojson(json.loads(DEMO_REGIONS.read_text(encoding="utf-8")))
    return RegionIndex(r for r in regions if r.level == "district")


@pytest.fixture(scope="module")
def places() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Longitudes, latitudes and recorded district ids of the demo places."""
    features = json.loads(DEMO_PLACES.read_text(encoding="utf-8"))["features"]
    lons, lats = np.array([f["geometry"]["coordinates"] for f in features]).T
    return lons, lats, [f["properties"]["district_id"] for f in features]


def test_every_place_is_located_in_its_district(
    districts: RegionIndex, places: tuple[np.ndarray, np.ndarray, list[str]]
) -> None:
    lons, lats, expected = places
    assert districts.locate(lons, lats) == expected


@pytest.mark.parametrize(("crs", "to_crs"), [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_sdk_positions_land_right_only_after_conversion(
    districts: RegionIndex,
    places: tuple[np.ndarray, np.ndarray, list[str]],
    crs: str,
    to_crs: object,
) -> None:
    lons, lats, expected = places
    sdk_lons, sdk_lats = to_crs(lons, lats)  # type: ignore[operator]
    assert districts.locate(*to_wgs84(sdk_lons, sdk_lats, crs)) == expected  # type: ignore[arg-type]
    unconverted = districts.locate(sdk_lons, sdk_lats)
    misplaced = sum(got != want for got, want in zip(unconverted, expected, strict=True))
    # Skipping the conversion puts border places in the wrong district (13 of 376 for GCJ-02,
    # 35 for BD-09 on the current data; the data README measured 12 stations the other way round).
    assert misplaced >= 10
