"""Regions to and from GeoJSON FeatureCollections (already-parsed dicts; no file I/O here).

Loading validates every feature and raises a typed error naming the feature (its position and
id) and the reason. Broken geometry is rejected, never repaired with a silent ``make_valid``: a
repaired fence may cover different streets than its author meant, and payouts depend on it.
"""

from collections.abc import Iterable, Mapping
from typing import Final

import numpy as np
from numpy.typing import NDArray

import shapely
from shapely.geometry import MultiPolygon, Polygon

from .errors import InvalidGeometry, InvalidParameter, InvalidRegion
from .regions import LEVELS, REGION_FIELDS, Region

# The largest demo district has 1,887 positions; real city fences stay far below this cap.
DEFAULT_MAX_VERTICES: Final = 50_000


def regions_from_geojson(
    feature_collection: Mapping[str, object], *, max_vertices: int = DEFAULT_MAX_VERTICES
) -> list[Region]:
    """Build regions from a parsed GeoJSON FeatureCollection.

    Each feature's properties map to :class:`~geo.regions.Region` fields: ``id`` (else the
    feature ``id``), ``name_zh`` (required), ``name_en`` (defaults to ``name_zh``), ``level``
    (required), ``priority`` (default 0), ``parent_id``; every other property goes into
    ``attributes``.

    Raises
    ------
    InvalidGeometry
        For a geometry that is missing, of the wrong type, malformed, out of range, not finite,
        with an unclosed or too short ring, with more than ``max_vertices`` positions, or
        invalid (self-intersection, ...). The message names the feature and the reason.
    InvalidRegion
        For a missing id or name, an unknown level, a bad priority or a duplicate id.

    Examples
    --------
    >>> square = [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]
    >>> feature = {"type": "Feature", "id": "a", "properties": {"name_zh": "甲",
    ...     "level": "zone", "coefficient": "1.2"},
    ...     "geometry": {"type": "Polygon", "coordinates": square}}
    >>> [region] = regions_from_geojson({"type": "FeatureCollection", "features": [feature]})
    >>> region.id, region.name_en, dict(region.attributes)
    ('a', '甲', {'coefficient': '1.2'})
    """
    if max_vertices < 4:
        raise InvalidParameter(
            f"max_vertices must be at least 4, got {max_vertices}", field="max_vertices"
        )
    if not isinstance(feature_collection, Mapping) or (
        feature_collection.get("type") != "FeatureCollection"
    ):
        raise InvalidGeometry("expected a GeoJSON object of type FeatureCollection")
    features = feature_collection.get("features")
    if not isinstance(features, list):
        raise InvalidGeometry("a FeatureCollection needs a list of features")
    regions: list[Region] = []
    first_seen: dict[str, int] = {}
    for index, feature in enumerate(features):
        region = _region_from_feature(feature, index, max_vertices)
        if region.id in first_seen:
            raise InvalidRegion(
                f"feature {index}: id {region.id!r} repeats feature {first_seen[region.id]}",
                feature_index=index,
                region_id=region.id,
            )
        first_seen[region.id] = index
        regions.append(region)
    return regions


def regions_to_geojson(regions: Iterable[Region]) -> dict[str, object]:
    """Return a FeatureCollection (plain lists and dicts) that loads back to equal regions."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": region.id,
                "properties": {
                    "id": region.id,
                    "name_zh": region.name_zh,
                    "name_en": region.name_en,
                    "level": region.level,
                    "priority": region.priority,
                    "parent_id": region.parent_id,
                    **region.attributes,
                },
                "geometry": _geometry_to_geojson(region.geometry),
            }
            for region in regions
        ],
    }


def _geometry_to_geojson(geometry: Polygon | MultiPolygon) -> dict[str, object]:
    polygons = geometry.geoms if isinstance(geometry, MultiPolygon) else [geometry]
    coordinates = [
        [np.asarray(ring.coords).tolist() for ring in (p.exterior, *p.interiors)] for p in polygons
    ]
    if isinstance(geometry, Polygon):
        return {"type": "Polygon", "coordinates": coordinates[0]}
    return {"type": "MultiPolygon", "coordinates": coordinates}


def _region_from_feature(feature: object, index: int, max_vertices: int) -> Region:
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        raise InvalidGeometry(f"feature {index}: not a GeoJSON Feature", feature_index=index)
    properties = feature.get("properties") or {}
    if not isinstance(properties, Mapping):
        raise InvalidRegion(f"feature {index}: properties must be an object", feature_index=index)
    raw_id = properties.get("id", feature.get("id"))
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == "":
        raise InvalidRegion(f"feature {index}: missing id", feature_index=index, field="id")
    region_id = str(raw_id)
    where = f"feature {index} (id {region_id!r})"
    context: dict[str, object] = {"feature_index": index, "region_id": region_id}
    name_zh = properties.get("name_zh")
    if not isinstance(name_zh, str) or not name_zh:
        raise InvalidRegion(f"{where}: missing name_zh", field="name_zh", **context)
    name_en = properties.get("name_en") or name_zh
    if not isinstance(name_en, str):
        raise InvalidRegion(f"{where}: name_en must be a string", field="name_en", **context)
    if properties.get("level") not in LEVELS:
        raise InvalidRegion(
            f"{where}: level must be one of {', '.join(LEVELS)}", field="level", **context
        )
    priority = properties.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidRegion(f"{where}: priority must be an integer", field="priority", **context)
    parent_id = properties.get("parent_id")
    if parent_id is not None and not isinstance(parent_id, str):
        raise InvalidRegion(f"{where}: parent_id must be a string", field="parent_id", **context)
    return Region(
        id=region_id,
        name_zh=name_zh,
        name_en=name_en,
        level=str(properties["level"]),
        geometry=_geometry_from_geojson(feature.get("geometry"), where, context, max_vertices),
        priority=priority,
        attributes={k: v for k, v in properties.items() if k not in REGION_FIELDS},
        parent_id=parent_id,
    )


def _geometry_from_geojson(
    geometry: object, where: str, context: dict[str, object], max_vertices: int
) -> Polygon | MultiPolygon:
    kind = geometry.get("type") if isinstance(geometry, Mapping) else None
    if kind not in ("Polygon", "MultiPolygon") or not isinstance(geometry, Mapping):
        raise InvalidGeometry(
            f"{where}: geometry type {kind!r} is not Polygon or MultiPolygon",
            reason="wrong_type",
            **context,
        )
    coordinates = geometry.get("coordinates")
    parts = [coordinates] if kind == "Polygon" else coordinates
    if not isinstance(parts, list) or not parts:
        raise InvalidGeometry(f"{where}: {kind} has no coordinates", reason="malformed", **context)
    polygons = [_polygon(part, f"{where} polygon {i}", context) for i, part in enumerate(parts)]
    n_vertices = sum(len(ring) for rings in polygons for ring in rings)
    if n_vertices > max_vertices:
        raise InvalidGeometry(
            f"{where}: {n_vertices} vertices exceed the cap of {max_vertices}",
            reason="too_many_vertices",
            vertices=n_vertices,
            max_vertices=max_vertices,
            **context,
        )
    shapes = [Polygon(rings[0], rings[1:]) for rings in polygons]
    result = shapes[0] if kind == "Polygon" else MultiPolygon(shapes)
    reason = shapely.is_valid_reason(result)
    if reason != "Valid Geometry":
        raise InvalidGeometry(
            f"{where}: invalid geometry: {reason}", reason="invalid", detail=reason, **context
        )
    return result


def _polygon(rings: object, where: str, context: dict[str, object]) -> list[NDArray[np.float64]]:
    """Check one polygon's rings (exterior first) and return them as (n, 2) arrays."""
    if not isinstance(rings, list) or not rings:
        raise InvalidGeometry(f"{where}: a polygon needs rings", reason="malformed", **context)
    return [_ring(ring, f"{where} ring {i}", context) for i, ring in enumerate(rings)]


def _ring(ring: object, where: str, context: dict[str, object]) -> NDArray[np.float64]:
    positions = _positions(ring, where, context)
    if len(positions) < 4:
        raise InvalidGeometry(
            f"{where}: {len(positions)} positions, a ring needs at least 4",
            reason="too_few_positions",
            **context,
        )
    bad = np.flatnonzero(~np.isfinite(positions).all(axis=1))
    if len(bad):
        raise InvalidGeometry(
            f"{where}: position {bad[0]} is not finite", reason="not_finite", **context
        )
    bad = np.flatnonzero((np.abs(positions[:, 0]) > 180) | (np.abs(positions[:, 1]) > 90))
    if len(bad):
        lon, lat = positions[bad[0]]
        raise InvalidGeometry(
            f"{where}: position {bad[0]} ({lon}, {lat}) is out of range",
            reason="out_of_range",
            **context,
        )
    if not np.array_equal(positions[0], positions[-1]):
        raise InvalidGeometry(
            f"{where}: ring is not closed (first and last positions differ)",
            reason="unclosed_ring",
            **context,
        )
    return positions


def _positions(ring: object, where: str, context: dict[str, object]) -> NDArray[np.float64]:
    if not isinstance(ring, list) or not all(_is_position(p) for p in ring):
        raise InvalidGeometry(
            f"{where}: positions must be [lon, lat] number pairs", reason="malformed", **context
        )
    return np.array([p[:2] for p in ring], dtype=np.float64).reshape(-1, 2)


def _is_position(position: object) -> bool:
    return (
        isinstance(position, list | tuple)
        and len(position) in (2, 3)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in position)
    )
