import numpy as np
import pytest

from geo.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    is_outside_china,
    to_wgs84,
    validate_lonlat,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.distance import haversine_m
from geo.errors import InvalidCoordinates, InvalidParameter

# Published test vector of the widely used coordtransform library (wandergis/coordtransform,
# test/app.js), input (116.404, 39.915) near Tiananmen, Beijing.
TIANANMEN = (116.404, 39.915)
PUBLISHED_WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
PUBLISHED_GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)
# Its inverses are one-step approximations, a few centimetres from the exact inverse.
PUBLISHED_BD09_TO_GCJ02 = (116.39762729119315, 39.90865673957631)
PUBLISHED_GCJ02_TO_WGS84 = (116.39775550083061, 39.91359571849836)


def test_forward_transforms_match_published_vectors() -> None:
    lon, lat = wgs84_to_gcj02(*TIANANMEN)
    assert (lon[0], lat[0]) == pytest.approx(PUBLISHED_WGS84_TO_GCJ02, abs=1e-10)
    lon, lat = gcj02_to_bd09(*TIANANMEN)
    assert (lon[0], lat[0]) == pytest.approx(PUBLISHED_GCJ02_TO_BD09, abs=1e-10)


@pytest.mark.parametrize(
    ("inverse", "published"),
    [(bd09_to_gcj02, PUBLISHED_BD09_TO_GCJ02), (gcj02_to_wgs84, PUBLISHED_GCJ02_TO_WGS84)],
)
def test_exact_inverses_are_within_decimetres_of_published_approximations(
    inverse: object, published: tuple[float, float]
) -> None:
    lon, lat = inverse(*TIANANMEN)  # type: ignore[operator]
    assert haversine_m(lon, lat, *published)[0] < 0.1


def test_shanghai_offset_matches_the_datum_cross_check() -> None:
    # ../shared/data/README.md section 5: the GCJ-02 shift at 121.47E 31.23N is
    # +0.0045 lon, -0.0019 lat, which also matched the measured shift of the district layer.
    lon, lat = wgs84_to_gcj02(121.47, 31.23)
    assert round(lon[0] - 121.47, 4) == 0.0045
    assert round(lat[0] - 31.23, 4) == -0.0019


def _china_grid() -> tuple[np.ndarray, np.ndarray]:
    lons, lats = np.meshgrid(np.linspace(73.0, 135.0, 125), np.linspace(18.0, 53.5, 72))
    inside = ~is_outside_china(lons.ravel(), lats.ravel())
    return lons.ravel()[inside], lats.ravel()[inside]


@pytest.mark.parametrize(
    ("forward", "inverse"),
    [
        (wgs84_to_gcj02, gcj02_to_wgs84),
        (gcj02_to_bd09, bd09_to_gcj02),
        (wgs84_to_bd09, bd09_to_wgs84),
    ],
)
def test_round_trip_within_half_a_metre_across_china(forward: object, inverse: object) -> None:
    lons, lats = _china_grid()
    shifted = forward(lons, lats)  # type: ignore[operator]
    back_lons, back_lats = inverse(*shifted)  # type: ignore[operator]
    assert (
        haversine_m(shifted[0], shifted[1], lons, lats).min() > 10
    )  # really shifted (GCJ-02 moves 40-700 m)
    assert haversine_m(back_lons, back_lats, lons, lats).max() < 0.5


def test_one_position_converts_as_it_does_among_many() -> None:
    # A single position takes a plain-float path (the API converts one ticket at a time).
    rng = np.random.default_rng(7)
    lons = np.concatenate([rng.uniform(72.0, 138.0, 300), [72.004, 2.35, -179.9, 137.8347]])
    lats = np.concatenate([rng.uniform(0.8, 55.9, 300), [31.0, 48.86, -80.0, 55.8271]])
    many_lons, many_lats = gcj02_to_wgs84(lons, lats)
    for i in range(len(lons)):
        one_lon, one_lat = gcj02_to_wgs84(lons[i], lats[i])
        assert one_lon.shape == one_lat.shape == (1,)
        assert one_lon[0] == pytest.approx(many_lons[i], abs=1e-12)
        assert one_lat[0] == pytest.approx(many_lats[i], abs=1e-12)


def test_gcj02_is_wgs84_outside_china() -> None:
    paris, sydney = (2.35, 48.86), (151.21, -33.87)
    lons, lats = wgs84_to_gcj02([paris[0], sydney[0]], [paris[1], sydney[1]])
    assert list(zip(lons, lats, strict=True)) == [paris, sydney]
    assert list(zip(*gcj02_to_wgs84(lons, lats), strict=True)) == [paris, sydney]


def test_to_wgs84_dispatches_on_crs() -> None:
    gcj = wgs84_to_gcj02(121.47, 31.23)
    bd = wgs84_to_bd09(121.47, 31.23)
    for crs, position in (("wgs84", (121.47, 31.23)), ("gcj02", gcj), ("bd09", bd)):
        lon, lat = to_wgs84(*position, crs)  # type: ignore[arg-type]
        assert haversine_m(lon, lat, 121.47, 31.23)[0] < 0.01
    with pytest.raises(InvalidParameter, match="unknown crs 'utm'"):
        to_wgs84(121.47, 31.23, "utm")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("lons", "lats", "index", "field"),
    [
        ([121.0, np.nan], [31.0, 31.0], 1, "longitude"),
        ([121.0, 121.0, 121.0], [31.0, 31.0, np.inf], 2, "latitude"),
        ([180.5], [31.0], 0, "longitude"),
        ([121.0, 121.0], [31.0, -90.01], 1, "latitude"),
    ],
)
def test_invalid_values_name_the_first_bad_index(
    lons: list[float], lats: list[float], index: int, field: str
) -> None:
    with pytest.raises(InvalidCoordinates) as caught:
        validate_lonlat(lons, lats)
    assert caught.value.details["index"] == index
    assert caught.value.details["field"] == field
    assert f"index {index}" in str(caught.value)


def test_edges_of_the_valid_range_are_accepted() -> None:
    lons, lats = validate_lonlat([-180, 180, 0], [-90, 90, 0])
    assert lons.dtype == lats.dtype == np.float64
    assert (lons.tolist(), lats.tolist()) == ([-180.0, 180.0, 0.0], [-90.0, 90.0, 0.0])


@pytest.mark.parametrize(
    ("lons", "lats"), [([1.0, 2.0], [1.0]), (["east"], [1.0]), ([[1.0, 2.0]], [[1.0, 2.0]])]
)
def test_malformed_input_is_rejected(lons: object, lats: object) -> None:
    with pytest.raises(InvalidCoordinates):
        validate_lonlat(lons, lats)  # type: ignore[arg-type]


def test_conversions_validate_their_input() -> None:
    with pytest.raises(InvalidCoordinates, match="index 0"):
        bd09_to_wgs84([float("nan")], [31.0])
