import math

import pytest

from shapely.geometry import Point, Polygon, box

from geo.distance import haversine_m
from geo.errors import InvalidCoordinates, InvalidGeometry, InvalidParameter
from geo.utm import area_m2, buffer_m, to_utm, utm_crs_for

from .conftest import make_region


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [(121.47, 31.23, 32651), (120.6, 31.3, 32651), (114.0, 22.5, 32650), (-180.0, 0.0, 32601),
     (180.0, 10.0, 32601), (151.2, -33.9, 32756)],
)  # fmt: skip
def test_utm_zone_of_a_point(lon: float, lat: float, epsg: int) -> None:
    assert utm_crs_for(lon, lat).to_epsg() == epsg


def test_utm_rejects_invalid_coordinates() -> None:
    with pytest.raises(InvalidCoordinates):
        utm_crs_for(121.0, 95.0)


def test_area_agrees_with_the_geodesic_area() -> None:
    district = box(121.3, 31.1, 121.5, 31.3)
    assert area_m2(district) == pytest.approx(make_region(geometry=district).area_m2, rel=2e-3)


def test_buffer_is_a_disc_of_the_radius_in_metres() -> None:
    centre = Point(121.47, 31.23)
    disc = buffer_m(centre, 1000.0)
    assert area_m2(disc) == pytest.approx(math.pi * 1e6, rel=1e-2)
    lons, lats = zip(*disc.exterior.coords, strict=True)
    distances = haversine_m(centre.x, centre.y, lons, lats)
    assert distances.min() == pytest.approx(1000.0, rel=5e-3)
    assert distances.max() == pytest.approx(1000.0, rel=5e-3)


def test_negative_buffer_shrinks() -> None:
    square = box(121.0, 31.0, 121.1, 31.1)
    shrunk = buffer_m(square, -500.0)
    assert square.contains(shrunk)
    assert area_m2(shrunk) < area_m2(square)


def test_to_utm_returns_metres_and_the_zone() -> None:
    projected, epsg = to_utm(box(121.0, 31.0, 121.01, 31.0))
    assert epsg == 32651
    xmin, _, xmax, _ = projected.bounds
    assert xmax - xmin == pytest.approx(953.0, abs=2.0)  # 0.01 degree of longitude at 31N


@pytest.mark.parametrize("radius_m", [math.nan, math.inf, 1e9])
def test_buffer_rejects_a_bad_radius(radius_m: float) -> None:
    with pytest.raises(InvalidParameter):
        buffer_m(Point(121.0, 31.0), radius_m)


def test_metric_functions_reject_empty_or_out_of_range_geometry() -> None:
    with pytest.raises(InvalidGeometry):
        area_m2(Polygon())
    with pytest.raises(InvalidCoordinates):
        area_m2(box(179.0, 80.0, 181.0, 91.0))
