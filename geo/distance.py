"""Great-circle distances and the default travel-time model.

Travel time is what the dispatcher optimises, so it is behind a :class:`TravelTimeProvider`
protocol: the haversine model here is the default, and a road-network table service (OSRM,
Valhalla) can replace it by configuration without touching the solver.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .coords import validate_lonlat
from .errors import InvalidParameter
from .regions import Region, RegionIndex

# IUGG mean Earth radius: one degree of arc is 111,195 m.
EARTH_RADIUS_M: Final = 6_371_008.8
_INT32_MAX: Final = np.iinfo(np.int32).max

FloatArray = NDArray[np.float64]


def haversine_m(lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike) -> FloatArray:
    """Great-circle distance in metres; arguments broadcast like numpy arrays.

    Examples
    --------
    >>> round(float(haversine_m(0.0, 0.0, 1.0, 0.0)))
    111195
    """
    lam1, phi1, lam2, phi2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (
        lon1, lat1, lon2, lat2))  # fmt: skip
    # sin²(Δφ/2) + cos φ1 cos φ2 sin²(Δλ/2), in place: two full-size arrays, not a dozen
    # (a 2,600-point matrix is 54 MB each), the same operations on the same values.
    shape = np.broadcast_shapes(lam1.shape, phi1.shape, lam2.shape, phi2.shape)
    half_chord = np.subtract(phi2, phi1, out=np.empty(shape))
    half_chord /= 2.0
    np.sin(half_chord, out=half_chord)
    np.square(half_chord, out=half_chord)
    across = np.subtract(lam2, lam1, out=np.empty(shape))
    across /= 2.0
    np.sin(across, out=across)
    np.square(across, out=across)
    across *= np.cos(phi1) * np.cos(phi2)
    half_chord += across
    # Clipping guards arcsin against 1 + epsilon for antipodal points.
    np.clip(half_chord, 0.0, 1.0, out=half_chord)
    np.sqrt(half_chord, out=half_chord)
    np.arcsin(half_chord, out=half_chord)
    half_chord *= 2.0 * EARTH_RADIUS_M
    return half_chord


def haversine_matrix_m(
    lons: ArrayLike,
    lats: ArrayLike,
    to_lons: ArrayLike | None = None,
    to_lats: ArrayLike | None = None,
) -> FloatArray:
    """Distance matrix in metres from every point to every target (default: the points).

    Raises :class:`~geo.errors.InvalidCoordinates` for invalid positions.

    Examples
    --------
    >>> haversine_matrix_m([0.0, 1.0], [0.0, 0.0]).round()
    array([[     0., 111195.],
           [111195.,      0.]])
    """
    from_lon, from_lat = validate_lonlat(lons, lats)
    if to_lons is None and to_lats is None:
        to_lon, to_lat = from_lon, from_lat
    elif to_lons is not None and to_lats is not None:
        to_lon, to_lat = validate_lonlat(to_lons, to_lats)
    else:
        raise InvalidParameter("give both to_lons and to_lats, or neither", field="to_lons")
    return haversine_m(from_lon[:, None], from_lat[:, None], to_lon[None, :], to_lat[None, :])


class TravelTimeProvider(Protocol):
    """Anything that can give a square matrix of travel times between points."""

    def matrix_s(
        self, lons: ArrayLike, lats: ArrayLike, *, depart_hour: int | None = None
    ) -> NDArray[np.int32]:
        """Whole seconds from point i to point j, zero diagonal, for a departure at that hour."""
        ...


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:  # also False for NaN
        raise InvalidParameter(
            f"{name} must be within {low:g}..{high:g}, got {value!r}", field=name, value=value
        )


@dataclass(frozen=True)
class TravelTimeParams:
    """Settings of the haversine travel-time model.

    Parameters
    ----------
    circuity
        Road distance over straight-line distance (1.3-1.4 in Chinese cities).
    speed_kmh
        Average speed where no regional speed applies.
    speed_kmh_by_region
        Speed by region id, applied to trips starting in that region.
    hourly_speed_factor
        Optional 24 multipliers of speed by local hour of departure (e.g. 0.6 at rush hour).
    """

    circuity: float = 1.35
    speed_kmh: float = 25.0
    speed_kmh_by_region: Mapping[str, float] = field(default_factory=dict, hash=False)
    hourly_speed_factor: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        _check_range("circuity", self.circuity, 1.0, 10.0)
        _check_range("speed_kmh", self.speed_kmh, 0.1, 1000.0)
        for region_id, speed in self.speed_kmh_by_region.items():
            _check_range(f"speed_kmh_by_region[{region_id!r}]", speed, 0.1, 1000.0)
        object.__setattr__(
            self, "speed_kmh_by_region", MappingProxyType(dict(self.speed_kmh_by_region))
        )
        if self.hourly_speed_factor is not None:
            if len(self.hourly_speed_factor) != 24:
                raise InvalidParameter(
                    f"hourly_speed_factor needs 24 values, got {len(self.hourly_speed_factor)}",
                    field="hourly_speed_factor",
                )
            for hour, factor in enumerate(self.hourly_speed_factor):
                _check_range(f"hourly_speed_factor[{hour}]", factor, 0.01, 10.0)

    def __reduce__(self) -> tuple[type["TravelTimeParams"], tuple[object, ...]]:
        # The read-only speed view cannot be pickled; rebuild from a plain dict.
        return (
            type(self),
            (
                self.circuity,
                self.speed_kmh,
                dict(self.speed_kmh_by_region),
                self.hourly_speed_factor,
            ),
        )


DEFAULT_TRAVEL_TIME: Final = TravelTimeParams()


class HaversineTravelTime:
    """Travel time = great-circle distance x circuity / speed, rounded to whole seconds.

    The speed of a trip is that of the region it starts in: ``params.speed_kmh_by_region``
    first, then the region's ``speed_kmh`` attribute, then ``params.speed_kmh``. Without a
    region index every trip uses ``params.speed_kmh``.

    Examples
    --------
    >>> model = HaversineTravelTime(TravelTimeParams(circuity=1.0, speed_kmh=36.0))
    >>> model.matrix_s([0.0, 0.01], [0.0, 0.0])  # 1,112 m at 10 m/s
    array([[  0, 111],
           [111,   0]], dtype=int32)
    """

    def __init__(
        self,
        params: TravelTimeParams = DEFAULT_TRAVEL_TIME,
        region_index: RegionIndex | None = None,
    ) -> None:
        self._params = params
        self._region_index = region_index
        # Speed (m/s) by position in region_index.regions, with the default at position -1.
        regions = region_index.regions if region_index is not None else ()
        speeds_kmh = [_region_speed_kmh(region, params) for region in regions]
        self._speed_mps = np.array([*speeds_kmh, params.speed_kmh], dtype=np.float64) / 3.6

    def matrix_s(
        self, lons: ArrayLike, lats: ArrayLike, *, depart_hour: int | None = None
    ) -> NDArray[np.int32]:
        """Return whole seconds from each point to each other point (zero diagonal).

        Raises
        ------
        InvalidCoordinates
            For an invalid position.
        InvalidParameter
            For an hour outside 0..23, or a trip too long for int32 seconds.
        """
        lon_arr, lat_arr = validate_lonlat(lons, lats)
        return self.matrix_from_distances_s(
            haversine_matrix_m(lon_arr, lat_arr), lon_arr, lat_arr, depart_hour=depart_hour
        )

    def matrix_from_distances_s(
        self,
        distance_m: FloatArray,
        lons: ArrayLike,
        lats: ArrayLike,
        *,
        depart_hour: int | None = None,
    ) -> NDArray[np.int32]:
        """Return :meth:`matrix_s` from ``distance_m``, the points' :func:`haversine_matrix_m`.

        A caller that needs the distances too (``Problem.with_travel_times``) computes them
        once: at 2,600 points that saves a third of a second, and the seconds are the same.
        """
        lon_arr, lat_arr = validate_lonlat(lons, lats)
        if np.shape(distance_m) != (len(lon_arr), len(lon_arr)):
            raise InvalidParameter(
                f"distance_m must be {len(lon_arr)} x {len(lon_arr)}, got {np.shape(distance_m)}",
                field="distance_m",
            )
        speed_mps = self._origin_speed_mps(lon_arr, lat_arr) * self._hour_factor(depart_hour)
        road_m = distance_m * self._params.circuity
        travel_s = np.rint(road_m / speed_mps[:, None])
        if travel_s.size and travel_s.max() > _INT32_MAX:
            raise InvalidParameter("a travel time exceeds the int32 range of seconds")
        np.fill_diagonal(travel_s, 0.0)
        return travel_s.astype(np.int32)

    def _origin_speed_mps(self, lons: FloatArray, lats: FloatArray) -> FloatArray:
        if self._region_index is None:
            return np.full(len(lons), self._speed_mps[-1])
        speeds: FloatArray = self._speed_mps[self._region_index.locate_indices(lons, lats)]
        return speeds

    def _hour_factor(self, depart_hour: int | None) -> float:
        if depart_hour is None:
            return 1.0
        if not 0 <= depart_hour <= 23:
            raise InvalidParameter(
                f"depart_hour {depart_hour} is not in 0..23", field="depart_hour"
            )
        factors = self._params.hourly_speed_factor
        return 1.0 if factors is None else factors[depart_hour]


def _region_speed_kmh(region: Region, params: TravelTimeParams) -> float:
    """Return the speed of trips starting in ``region`` (see :class:`HaversineTravelTime`)."""
    if region.id in params.speed_kmh_by_region:
        return params.speed_kmh_by_region[region.id]
    raw = region.attributes.get("speed_kmh", params.speed_kmh)
    try:
        speed = float(raw) if isinstance(raw, int | float | str) else math.nan
    except ValueError:
        speed = math.nan
    _check_range(f"speed_kmh of region {region.id!r}", speed, 0.1, 1000.0)
    return speed
