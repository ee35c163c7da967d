import copy
import json
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shapely
from shapely.geometry import Point, box

from geo.errors import (
    InvalidCoordinates,
    InvalidGeometry,
    InvalidParameter,
    InvalidRegion,
    UnknownRegion,
)
from geo.geojson import regions_from_geojson
from geo.regions import Region, RegionIndex
from geo.utm import area_m2

from .conftest import DEMO_REGIONS, brute_force_locate, make_region


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"region_id": ""}, InvalidRegion),
        ({"level": "country"}, InvalidRegion),
        ({"priority": True}, InvalidRegion),
        ({"priority": 1.5}, InvalidRegion),
        ({"attributes": {"level": "city"}}, InvalidRegion),
        ({"geometry": Point(121.0, 31.0)}, InvalidGeometry),
        ({"geometry": box(1, 1, 1, 1).buffer(0)}, InvalidGeometry),  # empty
    ],
)
def test_region_rejects_bad_fields(overrides: dict[str, object], error: type) -> None:
    with pytest.raises(error):
        make_region(**overrides)  # type: ignore[arg-type]


def test_region_area_is_geodesic_square_metres() -> None:
    square = box(121.0, 31.0, 121.01, 31.01)
    assert make_region(geometry=square).area_m2 == pytest.approx(area_m2(square), rel=1e-3)
    assert make_region(geometry=square).area_m2 == pytest.approx(1.0585e6, rel=1e-3)


def test_region_attributes_are_read_only_and_time_zone_defaults() -> None:
    region = make_region(attributes={"coefficient": "1.2"})
    assert region.time_zone == "Asia/Shanghai"
    assert make_region(attributes={"time_zone": "Asia/Urumqi"}).time_zone == "Asia/Urumqi"
    with pytest.raises(TypeError):
        region.attributes["coefficient"] = "9"  # type: ignore[index]


def test_specificity_is_priority_then_area_then_id() -> None:
    big_priority = make_region("a", priority=1, geometry=box(0, 0, 10, 10))
    small = make_region("b", geometry=box(0, 0, 1, 1))
    twin_z, twin_c = (make_region(i, geometry=box(0, 0, 2, 2)) for i in ("z", "c"))
    index = RegionIndex([twin_z, small, twin_c, big_priority])
    assert [r.id for r in index.regions] == ["a", "b", "c", "z"]
    assert index.locate([0.5, 1.5], [0.5, 1.5]) == ["a", "a"]
    assert RegionIndex([twin_z, small, twin_c]).locate([0.5, 1.5], [0.5, 1.5]) == ["b", "c"]


def test_point_on_an_edge_or_vertex_is_inside() -> None:
    west = make_region("west", geometry=box(121.0, 31.0, 121.5, 31.5))
    east = make_region("east", geometry=box(121.5, 31.0, 122.5, 31.5))  # larger
    index = RegionIndex([west, east])
    lons = [121.5, 121.5, 121.0, 122.5, 122.5, 121.25]
    lats = [31.25, 31.5, 31.0, 31.5, 31.25, 31.5]
    assert index.locate(lons, lats) == ["west", "west", "west", "east", "east", "west"]
    assert index.locate([122.5000001, 121.25], [31.25, 31.5000001]) == [None, None]


def test_containing_lists_the_hierarchy_most_specific_first() -> None:
    city = make_region("city", level="city", geometry=box(121.0, 31.0, 122.0, 32.0))
    district = make_region("district", geometry=box(121.0, 31.0, 121.5, 31.5))
    zone = make_region("zone", level="zone", priority=5, geometry=box(121.4, 31.4, 121.9, 31.9))
    index = RegionIndex([city, zone, district])
    assert [r.id for r in index.containing(121.45, 31.45)] == ["zone", "district", "city"]
    assert [r.id for r in index.containing(121.5, 31.5)] == ["zone", "district", "city"]
    assert index.containing(120.0, 31.0) == []


def test_index_lookup_and_errors() -> None:
    index = RegionIndex([make_region("a")])
    assert index.get("a").id == "a"
    assert len(index) == 1
    assert [r.id for r in index] == ["a"]
    with pytest.raises(UnknownRegion) as caught:
        index.get("b")
    assert isinstance(caught.value, KeyError)
    assert caught.value.details == {"region_id": "b"}
    with pytest.raises(InvalidRegion, match="duplicate region id 'a'"):
        RegionIndex([make_region("a"), make_region("a")])
    with pytest.raises(InvalidCoordinates, match="index 1"):
        index.locate([121.5, 121.5], [31.5, np.nan])
    with pytest.raises(InvalidParameter, match="grid_cells"):
        RegionIndex([make_region("a")], grid_cells=0)


def test_empty_index_locates_nothing() -> None:
    index = RegionIndex([])
    assert index.locate([121.0, 0.0], [31.0, 0.0]) == [None, None]
    assert index.locate_indices([], []).tolist() == []


@pytest.mark.parametrize("grid_cells", [None, 1, 64, 4096, 2**16])
def test_locate_equals_brute_force_on_random_points(
    tessellated_city: list[Region], grid_cells: int | None
) -> None:
    index = RegionIndex(tessellated_city, grid_cells=grid_cells)
    rng = np.random.default_rng(grid_cells or 0)
    lons, lats = rng.uniform(121.1, 122.2, 50_000), rng.uniform(30.9, 31.5, 50_000)
    assert index.locate(lons, lats) == brute_force_locate(tessellated_city, lons, lats)


def test_locate_equals_brute_force_on_vertices_and_edges(tessellated_city: list[Region]) -> None:
    index = RegionIndex(tessellated_city, grid_cells=4096)
    rings = shapely.get_rings(shapely.get_parts([r.geometry for r in tessellated_city]))
    vertices = shapely.get_coordinates(rings)
    midpoints = (vertices[:-1] + vertices[1:]) / 2  # on edges (up to rounding)
    points = np.vstack((vertices, midpoints))
    expected = brute_force_locate(tessellated_city, points[:, 0], points[:, 1])
    assert index.locate(points[:, 0], points[:, 1]) == expected
    assert None not in expected[: len(vertices)]  # vertices are inside their own region


def test_locate_on_grid_lines_equals_brute_force(tessellated_city: list[Region]) -> None:
    index = RegionIndex(tessellated_city, grid_cells=256)
    xmin, ymin, xmax, ymax = shapely.total_bounds([r.geometry for r in tessellated_city])
    lons, lats = np.meshgrid(np.linspace(xmin, xmax, 301), np.linspace(ymin, ymax, 201))
    lons, lats = lons.ravel(), lats.ravel()
    assert index.locate(lons, lats) == brute_force_locate(tessellated_city, lons, lats)


def _lattice(origin: float) -> st.SearchStrategy[float]:
    return st.integers(min_value=0, max_value=16).map(lambda k: origin + k / 8)


boxes = st.tuples(_lattice(121.0), _lattice(31.0), _lattice(121.0), _lattice(31.0)).filter(
    lambda b: b[0] != b[2] and b[1] != b[3]
)


@settings(max_examples=60, deadline=None)
@given(
    extents=st.lists(boxes, min_size=1, max_size=6),
    priorities=st.lists(st.integers(0, 2), min_size=6, max_size=6),
    grid_cells=st.sampled_from([1, 9, 100, 1000]),
)
def test_overlapping_boxes_with_lattice_points_equal_brute_force(
    extents: list[tuple[float, float, float, float]], priorities: list[int], grid_cells: int
) -> None:
    # Lattice points fall exactly on box edges and corners, the hardest case for the grid.
    regions = [
        make_region(
            f"b{i}",
            priority=priorities[i],
            geometry=box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)),
        )
        for i, (x0, y0, x1, y1) in enumerate(extents)
    ]
    index = RegionIndex(regions, grid_cells=grid_cells)
    ticks = np.arange(-1, 18) / 8
    lons, lats = np.meshgrid(121.0 + ticks, 31.0 + ticks)
    lons, lats = lons.ravel(), lats.ravel()
    assert index.locate(lons, lats) == brute_force_locate(regions, lons, lats)


@pytest.mark.skipif(not DEMO_REGIONS.exists(), reason="data/regions.geojson not built yet")
def test_demo_city_locate_equals_brute_force() -> None:
    regions = regions_from_geojson(json.loads(DEMO_REGIONS.read_text(encoding="utf-8")))
    index = RegionIndex(regions)
    xmin, ymin, xmax, ymax = shapely.total_bounds([r.geometry for r in regions])
    rng = np.random.default_rng(2)
    random_points = np.column_stack(
        (rng.uniform(xmin, xmax, 100_000), rng.uniform(ymin, ymax, 100_000))
    )
    # Every vertex of every district and zone: shared by neighbours, on cell-crossing edges.
    vertices = shapely.get_coordinates([r.geometry for r in regions])
    for points in (random_points, vertices):
        lons, lats = points[:, 0], points[:, 1]
        assert index.locate(lons, lats) == brute_force_locate(regions, lons, lats)


def test_regions_and_index_survive_pickling(tessellated_city: list[Region]) -> None:
    # Partitioned solves ship regions to worker processes.
    region = make_region("p", attributes={"coefficient": "1.3"}, parent_id="c", priority=4)
    clone = pickle.loads(pickle.dumps(region))
    assert clone == region
    assert clone.attributes["coefficient"] == "1.3"
    assert copy.deepcopy(region) == region
    index = RegionIndex(tessellated_city)
    lons, lats = np.linspace(121.2, 122.1, 500), np.linspace(31.0, 31.4, 500)
    clone_index = pickle.loads(pickle.dumps(index))
    assert clone_index.locate(lons, lats) == index.locate(lons, lats)
    assert all(shapely.is_prepared([r.geometry for r in clone_index.regions]))


@pytest.mark.parametrize("time_zone", ["Mars/Olympus", "", "../etc/passwd", 8])
def test_region_refuses_a_time_zone_that_is_not_iana(time_zone: object) -> None:
    with pytest.raises(InvalidRegion, match="time_zone") as caught:
        Region("r1", "区", "R", "zone", box(0, 0, 1, 1), attributes={"time_zone": time_zone})
    assert caught.value.details == {"region_id": "r1", "field": "time_zone"}


def test_region_accepts_iana_time_zones() -> None:
    region = Region(
        "r1", "区", "R", "zone", box(0, 0, 1, 1), attributes={"time_zone": "Europe/Berlin"}
    )
    assert region.time_zone == "Europe/Berlin"


def test_hierarchy_walks_up_and_down_by_parent_id() -> None:
    index = RegionIndex(regions_from_geojson(json.loads(DEMO_REGIONS.read_text())))
    assert index.ancestors("zone-pudong-outer") == ["zone-pudong-outer", "310115", "310000"]
    assert index.ancestors("310000") == ["310000"]
    pudong = index.descendants("310115")
    assert pudong == {"310115", "zone-pudong-outer"}
    shanghai = index.descendants("310000")
    assert {"310101", "310115", "zone-pudong-outer", "zone-hongqiao"} <= shanghai
    assert not shanghai & {"320500", "320508", "zone-sip"}
    assert index.descendants("not-loaded") == {"not-loaded"}  # a territory naming itself
    assert "310101" in index and "not-loaded" not in index
    with pytest.raises(UnknownRegion):
        index.ancestors("not-loaded")
