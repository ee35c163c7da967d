"""Longitude/latitude validation and the Chinese map datums GCJ-02 and BD-09.

Chinese map SDKs do not give WGS84: AMap/Gaode and Tencent give GCJ-02 (a published, deliberately
non-linear offset of WGS84, 300-700 m in Shanghai) and Baidu gives BD-09 (a further offset of
GCJ-02). Everything inside geodispatch is WGS84, so positions are converted on entry with
:func:`to_wgs84`. The forward transforms have closed forms; the inverses do not, so they are
solved by fixed-point iteration to well under a millimetre. Outside mainland China GCJ-02 is
defined to equal WGS84.

All functions are vectorised: they take array-likes of longitudes and latitudes (degrees, WGS84
order ``[lon, lat]``) and return float64 arrays.
"""

import math
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, TypeVar, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import InvalidCoordinates, InvalidParameter

Crs = Literal["wgs84", "gcj02", "bd09"]
CRS_NAMES: tuple[str, ...] = get_args(Crs)
FloatArray = NDArray[np.float64]
_Number = Any  # a float64 array, or a float: the GCJ-02 formula serves both
_T = TypeVar("_T", FloatArray, float)

# GCJ-02 works on the Krasovsky 1940 ellipsoid.
_KRASOVSKY_A_M = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
# BD-09 rotates and scales GCJ-02 with these published constants.
_BD_X_PI = np.pi * 3000.0 / 180.0
_BD_DLON, _BD_DLAT = 0.0065, 0.006
# The inverse iterations stop when the forward image is this close to the target (~1 mm).
_INVERSE_TOLERANCE_DEG = 1e-11
_INVERSE_MAX_ITERATIONS = 30


class LonLat(NamedTuple):
    """A WGS84 position, longitude first (GeoJSON order)."""

    lon: float
    lat: float


def validate_lonlat(lons: ArrayLike, lats: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Return ``lons`` and ``lats`` as 1-D float64 arrays after checking every value.

    Raises
    ------
    InvalidCoordinates
        If the inputs are not numeric, differ in length, or any value is NaN, infinite or out of
        range (longitude -180..180, latitude -90..90); the first bad index is named.

    Examples
    --------
    >>> validate_lonlat([121.47], [31.23])
    (array([121.47]), array([31.23]))
    >>> validate_lonlat([121.47, 200.0], [31.23, 31.0])
    Traceback (most recent call last):
    ...
    geo.errors.InvalidCoordinates: longitude at index 1 is out of range -180..180: 200.0
    """
    try:
        lon_arr = np.atleast_1d(np.asarray(lons, dtype=np.float64))
        lat_arr = np.atleast_1d(np.asarray(lats, dtype=np.float64))
    except (TypeError, ValueError) as err:
        raise InvalidCoordinates(f"coordinates are not numeric: {err}") from err
    if lon_arr.ndim != 1 or lon_arr.shape != lat_arr.shape:
        raise InvalidCoordinates(
            "longitudes and latitudes must be 1-D and of equal length",
            lon_shape=list(lon_arr.shape),
            lat_shape=list(lat_arr.shape),
        )
    _check_axis(lon_arr, "longitude", 180.0)
    _check_axis(lat_arr, "latitude", 90.0)
    return lon_arr, lat_arr


def _check_axis(values: FloatArray, axis: str, limit: float) -> None:
    # One vectorised pass; only on failure do we look for the first offending index.
    is_bad = ~(np.abs(values) <= limit)  # NaN compares False, so it is caught here too
    if not is_bad.any():
        return
    index = int(np.argmax(is_bad))
    value = float(values[index])
    reason = "is not finite" if not np.isfinite(value) else f"is out of range -{limit:g}..{limit:g}"
    raise InvalidCoordinates(
        f"{axis} at index {index} {reason}: {value}",
        index=index,
        field=axis,
        value=repr(value),
    )


def is_outside_china(lons: ArrayLike, lats: ArrayLike) -> NDArray[np.bool_]:
    """Return True where GCJ-02 leaves a position unchanged (outside mainland China's box).

    Examples
    --------
    >>> is_outside_china([121.47, 2.35], [31.23, 48.86])
    array([False,  True])
    """
    lon_arr, lat_arr = np.asarray(lons, dtype=np.float64), np.asarray(lats, dtype=np.float64)
    return np.asarray(_outside_china(lon_arr, lat_arr))


def _outside_china(lons: _Number, lats: _Number) -> _Number:
    return (lons < 72.004) | (lons > 137.8347) | (lats < 0.8293) | (lats > 55.8271)


def _gcj02_shift_deg(lons: _Number, lats: _Number, m: Any) -> tuple[_Number, _Number]:
    """Return GCJ-02's shift (degrees) at WGS84 positions, as if everywhere were in China.

    ``m`` is ``numpy`` for arrays or ``math`` for one position: the same formula, and on a
    single number ``math`` is about twenty times faster than numpy's size-1 arrays.
    """
    pi = math.pi
    x, y = lons - 105.0, lats - 35.0
    wave_x = (20.0 * m.sin(6.0 * x * pi) + 20.0 * m.sin(2.0 * x * pi)) * 2.0 / 3.0
    shift_lat_m = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * m.sqrt(abs(x))
        + wave_x
        + (20.0 * m.sin(y * pi) + 40.0 * m.sin(y / 3.0 * pi)) * 2.0 / 3.0
        + (160.0 * m.sin(y / 12.0 * pi) + 320.0 * m.sin(y * pi / 30.0)) * 2.0 / 3.0
    )  # fmt: skip
    shift_lon_m = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * m.sqrt(abs(x))
        + wave_x
        + (20.0 * m.sin(x * pi) + 40.0 * m.sin(x / 3.0 * pi)) * 2.0 / 3.0
        + (150.0 * m.sin(x / 12.0 * pi) + 300.0 * m.sin(x / 30.0 * pi)) * 2.0 / 3.0
    )  # fmt: skip
    lat_rad = m.radians(lats)
    magic = 1.0 - _KRASOVSKY_EE * m.sin(lat_rad) ** 2
    meridian_m = _KRASOVSKY_A_M * (1.0 - _KRASOVSKY_EE) / (magic * m.sqrt(magic))
    parallel_m = _KRASOVSKY_A_M / m.sqrt(magic) * m.cos(lat_rad)
    return m.degrees(shift_lon_m / parallel_m), m.degrees(shift_lat_m / meridian_m)


def _gcj02_offset_deg(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return the GCJ-02 shift (degrees) at WGS84 positions, zero outside China."""
    dlon, dlat = _gcj02_shift_deg(lons, lats, np)
    is_inside = ~is_outside_china(lons, lats)
    return np.where(is_inside, dlon, 0.0), np.where(is_inside, dlat, 0.0)


def wgs84_to_gcj02(lons: ArrayLike, lats: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert WGS84 to GCJ-02 (identity outside China).

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02([116.404], [39.915])
    >>> print(f"{lon[0]:.8f} {lat[0]:.8f}")
    116.41024450 39.91640428
    """
    lon_arr, lat_arr = validate_lonlat(lons, lats)
    dlon, dlat = _gcj02_offset_deg(lon_arr, lat_arr)
    return lon_arr + dlon, lat_arr + dlat


def gcj02_to_wgs84(lons: ArrayLike, lats: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 to WGS84 by iterating the forward transform (exact to ~1 mm).

    GCJ-02 itself jumps by a few hundred metres at the edge of its China box (it is the identity
    outside), so within about a metre of that edge, far from any Chinese city, a position can
    have no exact inverse; there the result is the last iterate.
    """
    lon_arr, lat_arr = validate_lonlat(lons, lats)
    if lon_arr.size == 1:  # one position, as an API request sends: plain floats are faster
        lon, lat = float(lon_arr[0]), float(lat_arr[0])
        one_lon, one_lat = _invert(_forward_gcj02_one, lon, lat, lon, lat)
        return np.array([one_lon]), np.array([one_lat])
    return _invert(_forward_gcj02, lon_arr, lat_arr, lon_arr, lat_arr)


def gcj02_to_bd09(lons: ArrayLike, lats: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 to BD-09 (Baidu).

    Examples
    --------
    >>> lon, lat = gcj02_to_bd09([116.404], [39.915])
    >>> print(f"{lon[0]:.8f} {lat[0]:.8f}")
    116.41036949 39.92133699
    """
    lon_arr, lat_arr = validate_lonlat(lons, lats)
    return _forward_bd09(lon_arr, lat_arr)


def bd09_to_gcj02(lons: ArrayLike, lats: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert BD-09 to GCJ-02, refining the usual closed-form approximation by iteration."""
    lon_arr, lat_arr = validate_lonlat(lons, lats)
    x, y = lon_arr - _BD_DLON, lat_arr - _BD_DLAT
    radius = np.hypot(x, y) - 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
    start_lon, start_lat = radius * np.cos(theta), radius * np.sin(theta)
    return _invert(_forward_bd09, lon_arr, lat_arr, start_lon, start_lat)


def wgs84_to_bd09(lons: ArrayLike, lats: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert WGS84 to BD-09 (through GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lons, lats))


def bd09_to_wgs84(lons: ArrayLike, lats: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert BD-09 to WGS84 (through GCJ-02)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lons, lats))


def to_wgs84(lons: ArrayLike, lats: ArrayLike, crs: Crs) -> tuple[FloatArray, FloatArray]:
    """Validate positions given in ``crs`` and return them in WGS84.

    Raises
    ------
    InvalidParameter
        If ``crs`` is not one of ``wgs84``, ``gcj02``, ``bd09``.
    InvalidCoordinates
        If a position is not a valid longitude/latitude.
    """
    if crs == "wgs84":
        return validate_lonlat(lons, lats)
    if crs == "gcj02":
        return gcj02_to_wgs84(lons, lats)
    if crs == "bd09":
        return bd09_to_wgs84(lons, lats)
    raise InvalidParameter(
        f"unknown crs {crs!r}; expected one of {', '.join(CRS_NAMES)}", field="crs", value=crs
    )


def _forward_gcj02(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    dlon, dlat = _gcj02_offset_deg(lons, lats)
    return lons + dlon, lats + dlat


def _forward_gcj02_one(lon: float, lat: float) -> tuple[float, float]:
    if _outside_china(lon, lat):
        return lon, lat
    dlon, dlat = _gcj02_shift_deg(lon, lat, math)
    return lon + dlon, lat + dlat


def _forward_bd09(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    radius = np.hypot(lons, lats) + 0.00002 * np.sin(lats * _BD_X_PI)
    theta = np.arctan2(lats, lons) + 0.000003 * np.cos(lons * _BD_X_PI)
    return radius * np.cos(theta) + _BD_DLON, radius * np.sin(theta) + _BD_DLAT


def _invert(
    forward: Callable[[_T, _T], tuple[_T, _T]], target_lons: _T, target_lats: _T, lons: _T, lats: _T
) -> tuple[_T, _T]:
    """Solve ``forward(p) == target`` by fixed-point iteration from the start ``(lons, lats)``.

    Both offsets change by less than 1e-4 of a degree per degree, so each step shrinks the
    error by about four orders of magnitude; three or four steps reach the tolerance.
    """
    for _ in range(_INVERSE_MAX_ITERATIONS):
        image_lons, image_lats = forward(lons, lats)
        error_lons, error_lats = image_lons - target_lons, image_lats - target_lats
        lons, lats = lons - error_lons, lats - error_lats
        if np.max(np.abs(error_lons), initial=0.0) < _INVERSE_TOLERANCE_DEG and (
            np.max(np.abs(error_lats), initial=0.0) < _INVERSE_TOLERANCE_DEG
        ):
            break
    return lons, lats
