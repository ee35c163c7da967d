"""Demand and supply per region (or H3 cell) over a time window, the input of surge pay.

The caller decides the window (e.g. the last 30 minutes before ``now``) and passes the events
in it; :func:`window_mask` selects them. Nothing here reads a clock.
"""

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import h3
import numpy as np
from numpy.typing import ArrayLike, NDArray

from .coords import validate_lonlat
from .errors import InvalidParameter


@dataclass(frozen=True, slots=True)
class RegionHeat:
    """Open orders (demand) against available technicians (supply) in one region or cell.

    ``ratio`` is demand / supply; it is ``inf`` when there is demand and no supply (the hottest
    possible state) and 0.0 when there is neither.
    """

    region_id: str
    demand: int
    supply: int
    ratio: float


def window_mask(
    timestamps: Sequence[datetime], *, start: datetime, end: datetime
) -> NDArray[np.bool_]:
    """Return True for timestamps in the half-open window ``[start, end)``.

    Raises
    ------
    InvalidParameter
        If a datetime is naive (no time zone) or the window is empty.
    """
    for name, moment in (("start", start), ("end", end)):
        if moment.utcoffset() is None:
            raise InvalidParameter(f"{name} must be timezone-aware", field=name)
    if start >= end:
        raise InvalidParameter("the window must have start < end", field="start")
    for index, moment in enumerate(timestamps):
        if moment.utcoffset() is None:
            raise InvalidParameter(
                f"timestamp at index {index} is naive", field="timestamps", index=index
            )
    return np.array([start <= moment < end for moment in timestamps], dtype=bool)


def heat_by_region(
    demand_region_ids: Iterable[str | None], supply_region_ids: Iterable[str | None]
) -> dict[str, RegionHeat]:
    """Count demand and supply per region id; ``None`` (outside every region) is not counted.

    Examples
    --------
    >>> heat = heat_by_region(["a", "a", "b", None], ["a"])
    >>> heat["a"]
    RegionHeat(region_id='a', demand=2, supply=1, ratio=2.0)
    >>> heat["b"].ratio
    inf
    """
    demand = Counter(r for r in demand_region_ids if r is not None)
    supply = Counter(r for r in supply_region_ids if r is not None)
    return {
        region_id: RegionHeat(
            region_id,
            demand[region_id],
            supply[region_id],
            _ratio(demand[region_id], supply[region_id]),
        )
        for region_id in sorted(demand.keys() | supply.keys())
    }


def heat_by_h3_cell(
    demand_lons: ArrayLike,
    demand_lats: ArrayLike,
    supply_lons: ArrayLike,
    supply_lats: ArrayLike,
    *,
    resolution: int,
) -> dict[str, RegionHeat]:
    """Count demand and supply per H3 cell of ``resolution`` (0-15; 8 is ~0.7 km2).

    Raises :class:`~geo.errors.InvalidCoordinates` for invalid positions.
    """
    if isinstance(resolution, bool) or resolution not in range(16):
        raise InvalidParameter(
            f"H3 resolution must be 0..15, got {resolution!r}", field="resolution"
        )
    demand_cells = _cells(demand_lons, demand_lats, resolution)
    supply_cells = _cells(supply_lons, supply_lats, resolution)
    return heat_by_region(demand_cells, supply_cells)


def _cells(lons: ArrayLike, lats: ArrayLike, resolution: int) -> list[str | None]:
    lon_arr, lat_arr = validate_lonlat(lons, lats)
    return [
        h3.latlng_to_cell(lat, lon, resolution)
        for lon, lat in zip(lon_arr.tolist(), lat_arr.tolist(), strict=True)
    ]


def _ratio(demand: int, supply: int) -> float:
    if supply:
        return demand / supply
    return math.inf if demand else 0.0
