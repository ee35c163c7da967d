"""Regions from an operator's boundary table: rows of cells plus a lon/lat geometry each.

The reader (``api.datafiles.read_region_table``) has already unprojected the file to lon/lat
degrees; this module shifts GCJ-02/BD-09 coordinates to WGS84, maps the columns
(:class:`~geo.import_mapping.RegionMapping`) and checks every feature. A feature is refused,
with its reason, for an empty or non-polygonal geometry, a non-finite or out-of-range
position, more than ``max_vertices`` positions, a geometry that ``make_valid`` cannot turn into
a polygon with area, a geometry the reader could not build (an unclosed ring, a ring of
fewer than four positions), a missing id/name/level, a bad priority or time zone, or an id
seen before. A geometry that is invalid but repairable (a self-intersection, say) is repaired with
``shapely.make_valid`` and the repair is reported: unlike ``regions_from_geojson``, which
refuses it, an import reads files drawn in desktop GIS tools, where such slips are common, and
the operator sees each one.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from .coords import Crs, to_wgs84
from .errors import GeoError
from .geojson import DEFAULT_MAX_VERTICES
from .import_mapping import RegionMapping
from .regions import LEVELS, REGION_FIELDS, Region


@dataclass(frozen=True)
class FeatureTable:
    """A boundary file as plain data: column names, one dict of cells and one geometry per row.

    Cells are Python values (str, int, float, bool, None); geometries are shapely geometries
    in lon/lat degrees, or None. ``unreadable`` maps the position of a geometry the reader
    could not build (an unclosed ring, a ring of three positions) to the reader's reason.
    """

    columns: tuple[str, ...]
    rows: Sequence[Mapping[str, object]]
    geometries: Sequence[BaseGeometry | None]
    unreadable: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FeatureNote:
    """Why a feature was refused, or what was repaired in it."""

    index: int
    region_id: str | None
    reason: str

    def __str__(self) -> str:
        named = f" (id {self.region_id!r})" if self.region_id else ""
        return f"feature {self.index}{named}: {self.reason}"


@dataclass(frozen=True)
class TableImport:
    """The regions built from a table, the features refused and the repairs made."""

    regions: tuple[Region, ...]
    refused: tuple[FeatureNote, ...] = ()
    repaired: tuple[FeatureNote, ...] = field(default=())


class _Refused(Exception):
    """One feature's refusal (internal: collected into :attr:`TableImport.refused`)."""


def regions_from_table(
    table: FeatureTable,
    mapping: RegionMapping,
    *,
    crs: Crs = "wgs84",
    max_vertices: int = DEFAULT_MAX_VERTICES,
) -> TableImport:
    """Build a region per row, collecting every refusal and repair instead of stopping.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> table = FeatureTable(("code", "name"), [{"code": 7, "name": "甲"}, {"code": 8,
    ...     "name": "乙"}], [box(121.0, 31.0, 121.1, 31.1), None])
    >>> mapping = RegionMapping(fields={"id": "code", "name_zh": "name"},
    ...     defaults={"level": "zone"})
    >>> result = regions_from_table(table, mapping)
    >>> [r.id for r in result.regions], [str(n) for n in result.refused]
    (['7'], ["feature 1 (id '8'): empty geometry"])
    """
    regions: list[Region] = []
    refused: list[FeatureNote] = []
    repaired: list[FeatureNote] = []
    first_seen: dict[str, int] = {}
    for index, (row, geometry) in enumerate(zip(table.rows, table.geometries, strict=True)):
        region_id = _text(_cell(row, mapping, "id"))
        try:
            if region_id is None:
                raise _Refused("missing id")
            if region_id in first_seen:
                raise _Refused(f"id repeats feature {first_seen[region_id]}")
            if index in table.unreadable:
                raise _Refused(f"unreadable geometry: {table.unreadable[index]}")
            shape, repair = _polygonal(geometry, crs, max_vertices)
            regions.append(_region(region_id, row, mapping, shape))
        except (_Refused, GeoError) as err:
            refused.append(FeatureNote(index, region_id, str(err)))
            continue
        first_seen[region_id] = index
        if repair is not None:
            repaired.append(FeatureNote(index, region_id, repair))
    return TableImport(tuple(regions), tuple(refused), tuple(repaired))


def _region(
    region_id: str, row: Mapping[str, object], mapping: RegionMapping, shape: BaseGeometry
) -> Region:
    name_zh = _text(_cell(row, mapping, "name_zh"))
    if name_zh is None:
        raise _Refused("missing name_zh")
    level = _text(_cell(row, mapping, "level"))
    level = mapping.levels.get(level, level) if level is not None else None
    if level not in LEVELS:
        raise _Refused(f"level {level!r} is not one of {', '.join(LEVELS)} (see [levels])")
    assert isinstance(shape, Polygon | MultiPolygon)
    return Region(
        id=region_id,
        name_zh=name_zh,
        name_en=_text(_cell(row, mapping, "name_en")) or name_zh,
        level=level,
        geometry=shape,
        priority=_priority(_cell(row, mapping, "priority")),
        attributes=_attributes(row, mapping),
        parent_id=_text(_cell(row, mapping, "parent_id")),
    )


def _cell(row: Mapping[str, object], mapping: RegionMapping, name: str) -> object:
    """Return a field's or attribute's value: its column's cell, else its default."""
    column = mapping.fields.get(name) or mapping.attributes.get(name)
    value = _plain(row.get(column)) if column is not None else None
    return mapping.defaults.get(name) if value is None else value


def _attributes(row: Mapping[str, object], mapping: RegionMapping) -> dict[str, object]:
    """Collect mapped attributes, constants from [defaults] and (if kept) other columns."""
    constants = [k for k in mapping.defaults if k not in REGION_FIELDS]
    values = {name: _cell(row, mapping, name) for name in [*mapping.attributes, *constants]}
    if mapping.keep_other_columns:
        used = mapping.columns() | REGION_FIELDS
        values |= {c: row[c] for c in row if c not in used and c not in values}
    cleaned = {name: _attribute_value(value) for name, value in values.items()}
    return {name: value for name, value in cleaned.items() if value is not None}


def _plain(value: object) -> object:
    """None for an empty cell (None, NaN, blank text); numpy scalars as Python values."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, str | bytes):
        value = item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _text(value: object) -> str | None:
    """Return a cell as text; an integral float loses its fraction (310115.0 -> '310115')."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _attribute_value(value: object) -> object:
    """Keep str, int and bool; turn a float into its shortest decimal string.

    Coefficients are exact decimals, never floats.
    """
    value = _plain(value)
    if value is None or isinstance(value, str | bool | int):
        return value.strip() if isinstance(value, str) else value
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    return str(value)


def _priority(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        raise _Refused(f"priority must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise _Refused(f"priority must be an integer, got {value!r}")


def _polygonal(
    geometry: BaseGeometry | None, crs: Crs, max_vertices: int
) -> tuple[BaseGeometry, str | None]:
    """Check (and shift, and repair) one geometry; return it with the repair made, if any."""
    if geometry is None or geometry.is_empty:
        raise _Refused("empty geometry")
    if not isinstance(geometry, Polygon | MultiPolygon):
        raise _Refused(f"geometry type {geometry.geom_type} is not Polygon or MultiPolygon")
    positions = shapely.get_coordinates(geometry)
    if not np.isfinite(positions).all():
        raise _Refused("a position is not finite")
    outside = (np.abs(positions[:, 0]) > 180) | (np.abs(positions[:, 1]) > 90)
    if outside.any():
        lon, lat = positions[np.flatnonzero(outside)[0]]
        raise _Refused(
            f"position ({lon:g}, {lat:g}) is not lon/lat: does the file say its CRS (.prj)?"
        )
    if crs != "wgs84":
        geometry = shapely.transform(geometry, lambda xy: _to_wgs84(xy, crs))
    repair = None
    if not shapely.is_valid(geometry):
        reason = shapely.is_valid_reason(geometry)
        geometry = _polygons_of(shapely.make_valid(geometry))
        if geometry.is_empty or geometry.area == 0:
            raise _Refused(f"invalid ({reason}), with no area left after make_valid")
        repair = f"invalid ({reason}), repaired by make_valid"
    if (n := int(shapely.get_num_coordinates(geometry))) > max_vertices:
        raise _Refused(f"{n} vertices exceed the cap of {max_vertices}")
    return geometry, repair


def _to_wgs84(xy: NDArray[np.float64], crs: Crs) -> NDArray[np.float64]:
    lons, lats = to_wgs84(xy[:, 0], xy[:, 1], crs)
    return np.column_stack([lons, lats])


def _polygons_of(geometry: BaseGeometry) -> BaseGeometry:
    """Return the polygonal part of ``make_valid``'s result (it may add lines or points)."""
    parts = [p for p in shapely.get_parts(geometry) if isinstance(p, Polygon | MultiPolygon)]
    polygons = [q for p in parts for q in (p.geoms if isinstance(p, MultiPolygon) else [p])]
    if not polygons:
        return Polygon()
    return polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)
