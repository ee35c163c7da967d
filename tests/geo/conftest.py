"""Shared fixtures: hand-built regions and a brute-force reference for point-in-region."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from geo.regions import Region, specificity_key

DEMO_REGIONS = Path(__file__).resolve().parents[2] / "data" / "regions.geojson"


def make_region(region_id: str = "r1", **overrides: Any) -> Region:
    """A district-level unit square near Shanghai unless overridden."""
    fields: dict[str, Any] = {
        "name_zh": f"区{region_id}",
        "name_en": f"Region {region_id}",
        "level": "district",
        "geometry": box(121.0, 31.0, 122.0, 32.0),
    }
    fields.update(overrides)
    return Region(id=region_id, **fields)


def brute_force_locate(regions: Sequence[Region], lons: np.ndarray, lats: np.ndarray) -> list:
    """The rule itself, with no index: first region (by specificity) intersecting the point."""
    ranked = sorted(regions, key=specificity_key)
    ids = np.array([r.id for r in ranked] + [None], dtype=object)  # -1 picks None
    best = np.full(len(lons), -1)
    for position in reversed(range(len(ranked))):  # most specific last, so it overwrites
        best[shapely.intersects_xy(ranked[position].geometry, lons, lats)] = position
    answer: list[str | None] = ids[best].tolist()
    return answer


@pytest.fixture(scope="session")
def tessellated_city() -> list[Region]:
    """Forty Voronoi districts covering a 0.6 x 0.4 degree box near Shanghai (shared edges and
    vertices, like real districts), a lower-priority city over all of them, a donut district whose
    hole is another district, and two priority zones that overlap several districts."""
    rng = np.random.default_rng(7)
    frame = box(121.2, 31.0, 121.8, 31.4)
    seeds = shapely.multipoints(
        np.column_stack((rng.uniform(121.2, 121.8, 40), rng.uniform(31.0, 31.4, 40)))
    )
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame))
    districts = [
        make_region(f"d{i:02d}", geometry=shapely.intersection(cell, frame))
        for i, cell in enumerate(cells)
    ]
    outside = box(121.9, 31.0, 122.1, 31.2)
    donut = Polygon(outside.exterior.coords, [box(121.95, 31.05, 122.05, 31.15).exterior.coords])
    return [
        *districts,
        make_region("city", level="city", geometry=frame.union(outside)),
        make_region("donut", geometry=donut),
        make_region("hole", geometry=box(121.95, 31.05, 122.05, 31.15)),
        make_region(
            "zone-ring",
            level="zone",
            priority=2,
            geometry=shapely.Point(121.5, 31.2)
            .buffer(0.08)
            .difference(shapely.Point(121.5, 31.2).buffer(0.03)),
        ),
        make_region(
            "zone-park",
            level="zone",
            priority=1,
            geometry=MultiPolygon([box(121.3, 31.1, 121.45, 31.25), box(121.6, 31.3, 121.7, 31.4)]),
        ),
    ]
