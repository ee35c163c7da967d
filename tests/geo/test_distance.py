import pickle

import numpy as np
import pytest

from pyproj import Geod
from shapely.geometry import box

from geo.distance import (
    HaversineTravelTime,
    TravelTimeParams,
    TravelTimeProvider,
    haversine_m,
    haversine_matrix_m,
)
from geo.errors import InvalidCoordinates, InvalidParameter
from geo.regions import RegionIndex

from .conftest import make_region

PEOPLES_SQUARE = (121.4737, 31.2304)
TIANANMEN = (116.3975, 39.9087)


def test_haversine_agrees_with_the_ellipsoid_within_half_a_percent() -> None:
    _, _, ellipsoid_m = Geod(ellps="WGS84").inv(*PEOPLES_SQUARE, *TIANANMEN)
    assert haversine_m(*PEOPLES_SQUARE, *TIANANMEN) == pytest.approx(ellipsoid_m, rel=5e-3)


def test_haversine_broadcasts_and_handles_antipodes() -> None:
    distances = haversine_m(np.zeros((3, 1)), 0.0, np.array([0.0, 90.0, 180.0]), 0.0)
    assert distances.shape == (3, 3)
    assert distances[0].tolist() == pytest.approx(
        [0.0, np.pi / 2 * 6_371_008.8, np.pi * 6_371_008.8]
    )


def test_matrix_is_symmetric_with_zero_diagonal_and_supports_targets() -> None:
    rng = np.random.default_rng(1)
    lons, lats = rng.uniform(120, 122, 50), rng.uniform(30, 32, 50)
    square = haversine_matrix_m(lons, lats)
    assert square.shape == (50, 50)
    np.testing.assert_allclose(square, square.T)
    assert np.all(np.diag(square) == 0)
    rectangle = haversine_matrix_m(lons, lats, lons[:3], lats[:3])
    np.testing.assert_allclose(rectangle, square[:, :3])
    with pytest.raises(InvalidParameter, match="both"):
        haversine_matrix_m(lons, lats, to_lons=lons)
    with pytest.raises(InvalidCoordinates, match="index 2"):
        haversine_matrix_m(lons[:3], [31.0, 31.0, 99.0])


def test_travel_time_is_distance_times_circuity_over_speed() -> None:
    params = TravelTimeParams(circuity=1.4, speed_kmh=30.0)
    lons, lats = [121.40, 121.45, 121.50], [31.20, 31.22, 31.25]
    matrix = HaversineTravelTime(params).matrix_s(lons, lats)
    assert matrix.dtype == np.int32
    expected = np.rint(haversine_matrix_m(lons, lats) * 1.4 / (30.0 / 3.6))
    np.testing.assert_array_equal(matrix, expected)
    assert np.all(np.diag(matrix) == 0)


def test_speed_comes_from_the_origin_region() -> None:
    slow = make_region("slow", geometry=box(121.0, 31.0, 121.5, 31.5), attributes={"speed_kmh": 15})
    fast = make_region("fast", geometry=box(121.5, 31.0, 122.0, 31.5))
    index = RegionIndex([slow, fast])
    params = TravelTimeParams(circuity=1.0, speed_kmh=20.0, speed_kmh_by_region={"fast": 40.0})
    lons, lats = [121.2, 121.8, 123.0], [31.2, 31.2, 31.2]  # slow, fast, outside
    matrix = HaversineTravelTime(params, index).matrix_s(lons, lats)
    distance_m = haversine_matrix_m(lons, lats)
    speeds_mps = np.array([15.0, 40.0, 20.0]) / 3.6
    np.testing.assert_array_equal(matrix, np.rint(distance_m / speeds_mps[:, None]))
    assert matrix[0, 1] > matrix[1, 0]  # asymmetric: the slow origin is slower


def test_hour_of_day_factor_scales_speed() -> None:
    rush = tuple(0.5 if hour in (8, 18) else 1.0 for hour in range(24))
    model = HaversineTravelTime(TravelTimeParams(hourly_speed_factor=rush))
    lons, lats = [121.4, 121.6], [31.2, 31.3]
    off_peak = model.matrix_s(lons, lats, depart_hour=11)
    assert model.matrix_s(lons, lats).tolist() == off_peak.tolist()
    np.testing.assert_allclose(model.matrix_s(lons, lats, depart_hour=8), 2 * off_peak, atol=1)
    for hour in (-1, 24):
        with pytest.raises(InvalidParameter, match="depart_hour"):
            model.matrix_s(lons, lats, depart_hour=hour)


def test_two_thousand_points_give_a_full_matrix() -> None:
    rng = np.random.default_rng(3)
    provider: TravelTimeProvider = HaversineTravelTime()
    matrix = provider.matrix_s(rng.uniform(120, 122, 2000), rng.uniform(30, 32, 2000))
    assert matrix.shape == (2000, 2000)
    assert matrix.min() == 0
    assert np.count_nonzero(matrix) == 2000 * 1999


def test_times_beyond_int32_are_an_error_not_a_wrap_around() -> None:
    model = HaversineTravelTime(TravelTimeParams(circuity=10.0, speed_kmh=0.1))
    with pytest.raises(InvalidParameter, match="int32"):
        model.matrix_s([0.0, 180.0], [0.0, 0.0])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"circuity": 0.9}, "circuity"),
        ({"speed_kmh": 0.0}, "speed_kmh"),
        ({"speed_kmh": float("nan")}, "speed_kmh"),
        ({"speed_kmh_by_region": {"a": -5.0}}, "speed_kmh_by_region['a']"),
        ({"hourly_speed_factor": (1.0,) * 23}, "hourly_speed_factor"),
        ({"hourly_speed_factor": (1.0,) * 23 + (0.0,)}, "hourly_speed_factor[23]"),
    ],
)
def test_params_check_their_values(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        TravelTimeParams(**kwargs)  # type: ignore[arg-type]
    assert caught.value.details["field"] == field


def test_bad_region_speed_attribute_names_the_region() -> None:
    index = RegionIndex([make_region("r9", attributes={"speed_kmh": "fast"})])
    with pytest.raises(InvalidParameter, match="region 'r9'"):
        HaversineTravelTime(TravelTimeParams(), index)


def test_params_survive_pickling() -> None:
    params = TravelTimeParams(speed_kmh_by_region={"a": 12.0}, hourly_speed_factor=(0.9,) * 24)
    assert pickle.loads(pickle.dumps(params)) == params


def _textbook_haversine_m(lon1: object, lat1: object, lon2: object, lat2: object) -> object:
    """The formula as written before it was computed in place (the reference)."""
    lam1, phi1, lam2, phi2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (
        lon1, lat1, lon2, lat2))  # fmt: skip
    half_chord = (
        np.sin((phi2 - phi1) / 2.0) ** 2
        + np.cos(phi1) * np.cos(phi2) * np.sin((lam2 - lam1) / 2.0) ** 2
    )
    return 2.0 * 6_371_008.8 * np.arcsin(np.sqrt(np.clip(half_chord, 0.0, 1.0)))


def test_haversine_in_place_gives_the_textbook_bits() -> None:
    rng = np.random.default_rng(7)
    lons, lats = rng.uniform(-180, 180, 400), rng.uniform(-90, 90, 400)
    for args in (
        (lons[:, None], lats[:, None], lons[None, :], lats[None, :]),
        (lons, lats, lons[::-1], lats[::-1]),
        (lons, lats, 0.0, 0.0),
        (0.0, 0.0, 180.0, 0.0),
    ):
        mine, textbook = haversine_m(*args), _textbook_haversine_m(*args)
        assert mine.shape == np.shape(textbook) and np.array_equal(mine, textbook)


def test_travel_times_from_given_distances_are_the_same_seconds() -> None:
    rng = np.random.default_rng(3)
    lons, lats = rng.uniform(120.8, 121.9, 300), rng.uniform(30.9, 31.5, 300)
    factors = tuple(0.6 if 7 <= h <= 9 else 1.0 for h in range(24))
    model = HaversineTravelTime(TravelTimeParams(circuity=1.3, hourly_speed_factor=factors))
    distance_m = haversine_matrix_m(lons, lats)
    for hour in (None, 8):
        given = model.matrix_from_distances_s(distance_m, lons, lats, depart_hour=hour)
        assert np.array_equal(given, model.matrix_s(lons, lats, depart_hour=hour))
    with pytest.raises(InvalidParameter, match="distance_m must be 300 x 300"):
        model.matrix_from_distances_s(distance_m[:, :10], lons, lats)
