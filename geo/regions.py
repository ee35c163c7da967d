"""Regions (geofences) and the index that says which region a point is in.

Regions may overlap: a city contains its districts, and a zone (say "Pudong outside the outer
ring") overlaps a district. A point belongs to the *most specific* region containing it: the
highest ``priority`` first, then the smallest area, then the smallest id, so the answer never
depends on input order. A point exactly on an edge is inside.
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from numpy.typing import ArrayLike, NDArray

import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.polygon import orient

from .coords import validate_lonlat
from .errors import InvalidGeometry, InvalidParameter, InvalidRegion, UnknownRegion
from .grid import CellGrid

LEVELS: Final = ("province", "city", "district", "zone")
DEFAULT_TIME_ZONE: Final = "Asia/Shanghai"
# GeoJSON property names that hold Region fields, so no attribute may use them.
REGION_FIELDS: Final = frozenset({"id", "name_zh", "name_en", "level", "priority", "parent_id"})
# Boundary cells grow with the regions' vertex count, so the default grid does too: 16 cells per
# vertex, capped at 2**16 cells (~6 % boundary cells on the demo city, built in about 0.4 s).
GRID_CELLS_PER_VERTEX: Final = 16
MIN_GRID_CELLS: Final = 256
MAX_DEFAULT_GRID_CELLS: Final = 2**16
_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class Region:
    """A named geofence in WGS84 with the attributes payout and dispatch rules read.

    Parameters
    ----------
    id
        Stable caller-supplied id (e.g. the adcode ``"310115"``).
    name_zh, name_en
        Display names.
    level
        One of ``province``, ``city``, ``district``, ``zone``.
    geometry
        A valid shapely Polygon or MultiPolygon, lon/lat degrees.
    priority
        Higher wins when regions overlap, before area is considered.
    attributes
        Everything else: ``coefficient`` (decimal string), ``time_zone`` (IANA), ``team``,
        ``speed_kmh``... Stored read-only.
    parent_id
        Id of the enclosing region, if any.
    """

    id: str
    name_zh: str
    name_en: str
    level: str
    geometry: Polygon | MultiPolygon
    priority: int = 0
    attributes: Mapping[str, object] = field(default_factory=dict, hash=False)
    parent_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise InvalidRegion(f"region id must be a non-empty string, got {self.id!r}")
        if self.level not in LEVELS:
            raise InvalidRegion(
                f"region {self.id!r}: level {self.level!r} is not one of {', '.join(LEVELS)}",
                region_id=self.id,
                field="level",
            )
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise InvalidRegion(
                f"region {self.id!r}: priority must be an integer, got {self.priority!r}",
                region_id=self.id,
                field="priority",
            )
        if not isinstance(self.geometry, Polygon | MultiPolygon) or self.geometry.is_empty:
            raise InvalidGeometry(
                f"region {self.id!r}: geometry must be a non-empty Polygon or MultiPolygon",
                region_id=self.id,
            )
        if shadowing := sorted(REGION_FIELDS.intersection(self.attributes)):
            raise InvalidRegion(
                f"region {self.id!r}: attributes {shadowing} would shadow region fields",
                region_id=self.id,
                field="attributes",
            )
        _check_time_zone(self.id, self.attributes.get("time_zone", DEFAULT_TIME_ZONE))
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))

    def __reduce__(self) -> tuple[type["Region"], tuple[object, ...]]:
        # The read-only attributes view cannot be pickled; rebuild from a plain dict, so regions
        # travel to worker processes (partitioned solves) and deep-copy.
        return (
            type(self),
            (
                self.id,
                self.name_zh,
                self.name_en,
                self.level,
                self.geometry,
                self.priority,
                dict(self.attributes),
                self.parent_id,
            ),
        )

    @cached_property
    def area_m2(self) -> float:
        """Geodesic area on the WGS84 ellipsoid, in square metres (computed once)."""
        parts = self.geometry.geoms if isinstance(self.geometry, MultiPolygon) else [self.geometry]
        return sum(abs(_GEOD.geometry_area_perimeter(orient(part))[0]) for part in parts)

    @property
    def time_zone(self) -> str:
        """IANA time zone for local-time rules: the ``time_zone`` attribute or Asia/Shanghai."""
        return str(self.attributes.get("time_zone", DEFAULT_TIME_ZONE))


def _check_time_zone(region_id: str, name: object) -> None:
    """Refuse a ``time_zone`` attribute that is not an IANA zone name, naming the region."""
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise InvalidRegion(
            f"region {region_id!r}: time_zone {name!r} is not an IANA time zone",
            region_id=region_id,
            field="time_zone",
        ) from err


def specificity_key(region: Region) -> tuple[int, float, str]:
    """Sort key putting the region that wins an overlap first."""
    return (-region.priority, region.area_m2, region.id)


class RegionIndex:
    """Point-in-region index over a fixed set of regions.

    Parameters
    ----------
    regions
        The regions; ids must be unique.
    grid_cells
        Resolution of the lookup grid that makes :meth:`locate_indices` fast (see ``geo.grid``);
        it changes speed, memory and build time, never answers. By default 16 cells per vertex,
        between 256 and 65,536.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> city = Region("sh", "上海", "Shanghai", "city", box(121.0, 31.0, 122.0, 32.0))
    >>> zone = Region("z1", "园区", "Park", "zone", box(121.0, 31.0, 121.5, 31.5), priority=1)
    >>> index = RegionIndex([city, zone])
    >>> index.locate([121.2, 121.7, 120.0], [31.2, 31.7, 31.0])
    ['z1', 'sh', None]
    >>> [r.id for r in index.containing(121.5, 31.5)]  # on the zone's corner: inside both
    ['z1', 'sh']
    """

    def __init__(self, regions: Iterable[Region], *, grid_cells: int | None = None) -> None:
        self._regions = tuple(sorted(regions, key=specificity_key))
        self._by_id: dict[str, int] = {}
        for position, region in enumerate(self._regions):
            if region.id in self._by_id:
                raise InvalidRegion(f"duplicate region id {region.id!r}", region_id=region.id)
            self._by_id[region.id] = position
        geometries = np.array([r.geometry for r in self._regions], dtype=object)
        self._tree = shapely.STRtree(geometries)
        if grid_cells is None:
            n_vertices = int(shapely.get_num_coordinates(geometries).sum())
            grid_cells = min(
                max(GRID_CELLS_PER_VERTEX * n_vertices, MIN_GRID_CELLS), MAX_DEFAULT_GRID_CELLS
            )
        elif grid_cells < 1:
            raise InvalidParameter(f"grid_cells must be positive, got {grid_cells}")
        self._grid = CellGrid(geometries, grid_cells)
        # Position -1 (outside) indexes the trailing None.
        self._ids = np.array([r.id for r in self._regions] + [None], dtype=object)

    @property
    def regions(self) -> tuple[Region, ...]:
        """The regions, most specific first; :meth:`locate_indices` returns positions here."""
        return self._regions

    @property
    def grid(self) -> CellGrid:
        """The lookup grid (exposed for diagnostics and benchmarks)."""
        return self._grid

    def __len__(self) -> int:
        return len(self._regions)

    def __iter__(self) -> Iterator[Region]:
        return iter(self._regions)

    def __contains__(self, region_id: object) -> bool:
        return region_id in self._by_id

    def get(self, region_id: str) -> Region:
        """Return the region with this id.

        Raises
        ------
        UnknownRegion
            If no region has this id.
        """
        try:
            return self._regions[self._by_id[region_id]]
        except KeyError:
            raise UnknownRegion(f"no region {region_id!r}", region_id=region_id) from None

    def locate_indices(self, lons: ArrayLike, lats: ArrayLike) -> NDArray[np.int64]:
        """Return the position in :attr:`regions` of each point's region, -1 when outside all.

        This is the fast path for millions of points. Raises
        :class:`~geo.errors.InvalidCoordinates` for NaN, infinite or out-of-range input.
        """
        lon_arr, lat_arr = validate_lonlat(lons, lats)
        return self._grid.locate(lon_arr, lat_arr)

    def locate(self, lons: ArrayLike, lats: ArrayLike) -> list[str | None]:
        """Return the id of each point's most specific region, None when outside all."""
        ids: list[str | None] = self._ids[self.locate_indices(lons, lats)].tolist()
        return ids

    def containing(self, lon: float, lat: float) -> list[Region]:
        """Return every region containing the point (edge included), most specific first."""
        lon_arr, lat_arr = validate_lonlat(lon, lat)
        hits = self._tree.query(shapely.points(lon_arr[0], lat_arr[0]), predicate="intersects")
        return [self._regions[i] for i in sorted(int(i) for i in hits)]

    def ancestors(self, region_id: str) -> list[str]:
        """Return ``region_id`` and the ids above it by ``parent_id``, nearest first.

        A parent that is not in the index ends the chain (a district loaded without its city).
        Raises :class:`~geo.errors.UnknownRegion` if ``region_id`` itself is not.

        >>> from shapely.geometry import box
        >>> city = Region("sh", "上海", "Shanghai", "city", box(121.0, 31.0, 122.0, 32.0))
        >>> district = Region("d1", "区", "District", "district", box(121.0, 31.0, 121.5, 31.5),
        ...                   parent_id="sh")
        >>> RegionIndex([city, district]).ancestors("d1")
        ['d1', 'sh']
        """
        chain = [self.get(region_id).id]
        parent = self._regions[self._by_id[region_id]].parent_id
        while parent is not None and parent in self._by_id and parent not in chain:
            chain.append(parent)
            parent = self._regions[self._by_id[parent]].parent_id
        return chain

    def descendants(self, region_id: str) -> frozenset[str]:
        """Return ``region_id`` and the ids of every region below it by ``parent_id``.

        An id the index does not hold has nothing below it (a territory naming a region not
        loaded yet still names itself).
        """
        children: dict[str, list[str]] = {}
        for region in self._regions:
            if region.parent_id is not None:
                children.setdefault(region.parent_id, []).append(region.id)
        found, todo = {region_id}, [region_id]
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return frozenset(found)
