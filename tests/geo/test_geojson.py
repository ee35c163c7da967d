import copy
import json
import math
from typing import Any

import pytest

from shapely.geometry import MultiPolygon, Polygon, box

from geo.errors import InvalidGeometry, InvalidParameter, InvalidRegion
from geo.geojson import regions_from_geojson, regions_to_geojson

from .conftest import DEMO_REGIONS, make_region

SQUARE = [[121.0, 31.0], [121.1, 31.0], [121.1, 31.1], [121.0, 31.1], [121.0, 31.0]]


def feature(**overrides: Any) -> dict[str, Any]:
    """A valid zone feature; ``properties``/``geometry`` overrides replace those members."""
    base: dict[str, Any] = {
        "type": "Feature",
        "id": "z1",
        "properties": {"name_zh": "园区", "name_en": "Park", "level": "zone"},
        "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
    }
    base.update(overrides)
    return base


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def with_ring(ring: list[Any]) -> dict[str, Any]:
    return feature(geometry={"type": "Polygon", "coordinates": [ring]})


def test_properties_map_to_region_fields() -> None:
    props = {
        "name_zh": "浦东",
        "level": "district",
        "priority": 3,
        "parent_id": "310000",
        "coefficient": "1.2",
        "team": "east",
    }
    [region] = regions_from_geojson(collection(feature(id=310115, properties=props)))
    assert region.id == "310115"  # the feature id, as a string
    assert region.name_en == "浦东"  # defaults to the Chinese name
    assert (region.level, region.priority, region.parent_id) == ("district", 3, "310000")
    assert dict(region.attributes) == {"coefficient": "1.2", "team": "east"}


def test_id_property_wins_over_feature_id_and_z_is_dropped() -> None:
    ring_3d = [[*p, 4.0] for p in SQUARE]
    props = {"id": "own", "name_zh": "甲", "level": "zone"}
    geometry = {"type": "Polygon", "coordinates": [ring_3d]}
    [region] = regions_from_geojson(collection(feature(properties=props, geometry=geometry)))
    assert region.id == "own"
    assert not region.geometry.has_z


def test_round_trip_through_json_keeps_regions_equal() -> None:
    donut = Polygon(box(0, 0, 4, 4).exterior.coords, [box(1, 1, 2, 2).exterior.coords])
    regions = [
        make_region("a", geometry=donut, attributes={"coefficient": "1.10"}, parent_id="c"),
        make_region("b", level="zone", priority=2, geometry=MultiPolygon([box(5, 5, 6, 6)])),
    ]
    text = json.dumps(regions_to_geojson(regions))
    assert regions_from_geojson(json.loads(text)) == regions


@pytest.mark.skipif(not DEMO_REGIONS.exists(), reason="data/regions.geojson not built yet")
def test_demo_city_round_trips() -> None:
    fc = json.loads(DEMO_REGIONS.read_text(encoding="utf-8"))
    regions = regions_from_geojson(fc)
    assert regions_from_geojson(regions_to_geojson(regions)) == regions


@pytest.mark.parametrize(
    ("bad_feature", "reason", "fragment"),
    [
        (feature(geometry=None), "wrong_type", "geometry type None"),
        (
            feature(geometry={"type": "Point", "coordinates": [121.0, 31.0]}),
            "wrong_type",
            "'Point' is not Polygon or MultiPolygon",
        ),
        (feature(geometry={"type": "Polygon", "coordinates": []}), "malformed", "needs rings"),
        (
            feature(geometry={"type": "MultiPolygon", "coordinates": []}),
            "malformed",
            "MultiPolygon has no coordinates",
        ),
        (with_ring([[121.0, 31.0], "x", [121.0, 31.1], [121.0, 31.0]]), "malformed", "pairs"),
        (with_ring([[121.0], [121.1, 31.0], [121.0, 31.1], [121.0]]), "malformed", "pairs"),
        (with_ring([[121.0, True], *SQUARE[1:]]), "malformed", "pairs"),
        (with_ring([SQUARE[0], SQUARE[1], SQUARE[0]]), "too_few_positions", "3 positions"),
        (with_ring([*SQUARE[:-1], [121.0, 31.05]]), "unclosed_ring", "not closed"),
        (with_ring([SQUARE[0], [math.nan, 31.0], *SQUARE[2:]]), "not_finite", "position 1"),
        (with_ring([SQUARE[0], [121.1, math.inf], *SQUARE[2:]]), "not_finite", "position 1"),
        (with_ring([SQUARE[0], SQUARE[1], [181.0, 31.1], *SQUARE[3:]]), "out_of_range", "2"),
        (with_ring([SQUARE[0], [121.1, -90.5], *SQUARE[2:]]), "out_of_range", "position 1"),
        (
            with_ring([[121.0, 31.0], [121.1, 31.1], [121.1, 31.0], [121.0, 31.1], [121.0, 31.0]]),
            "invalid",
            "Self-intersection",
        ),
        (
            feature(
                geometry={
                    "type": "Polygon",
                    "coordinates": [SQUARE, [[122, 32], [122.1, 32], [122.1, 32.1], [122, 32]]],
                }
            ),
            "invalid",
            "Hole lies outside shell",
        ),
        (
            feature(geometry={"type": "MultiPolygon", "coordinates": [[SQUARE], [SQUARE]]}),
            "invalid",
            "Self-intersection",
        ),
    ],
)
def test_bad_geometry_is_rejected_naming_feature_and_reason(
    bad_feature: dict[str, Any], reason: str, fragment: str
) -> None:
    good = feature(id="ok")
    with pytest.raises(InvalidGeometry) as caught:
        regions_from_geojson(collection(good, bad_feature))
    message = str(caught.value)
    assert message.startswith("feature 1 (id 'z1')")
    assert fragment in message
    assert caught.value.details["reason"] == reason
    assert caught.value.details["feature_index"] == 1
    assert caught.value.details["region_id"] == "z1"


def test_vertex_cap_is_configurable() -> None:
    fc = collection(feature())
    assert len(regions_from_geojson(fc, max_vertices=5)) == 1
    with pytest.raises(InvalidGeometry, match="5 vertices exceed the cap of 4") as caught:
        regions_from_geojson(fc, max_vertices=4)
    assert caught.value.details["reason"] == "too_many_vertices"
    with pytest.raises(InvalidParameter):
        regions_from_geojson(fc, max_vertices=3)


def props_without(key: str, **extra: object) -> dict[str, object]:
    props: dict[str, object] = {"name_zh": "园区", "level": "zone", **extra}
    props.pop(key, None)
    return props


@pytest.mark.parametrize(
    ("bad_feature", "field"),
    [
        (feature(id=None), "id"),
        (feature(id=True), "id"),
        (feature(id=""), "id"),
        (feature(properties=props_without("name_zh")), "name_zh"),
        (feature(properties=props_without("", name_en=7)), "name_en"),
        (feature(properties=props_without("level")), "level"),
        (feature(properties=props_without("", level="country")), "level"),
        (feature(properties=props_without("", priority="high")), "priority"),
        (feature(properties=props_without("", priority=1.0)), "priority"),
        (feature(properties=props_without("", parent_id=310000)), "parent_id"),
    ],
)
def test_bad_properties_are_rejected_naming_the_field(
    bad_feature: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRegion) as caught:
        regions_from_geojson(collection(bad_feature))
    assert caught.value.details["field"] == field
    assert str(caught.value).startswith("feature 0")


def test_duplicate_ids_name_both_features() -> None:
    with pytest.raises(InvalidRegion, match="feature 1: id 'z1' repeats feature 0"):
        regions_from_geojson(collection(feature(), copy.deepcopy(feature())))


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"type": "Feature"},
        {"type": "FeatureCollection"},
        {"type": "FeatureCollection", "features": [{"type": "Polygon"}]},
        {"type": "FeatureCollection", "features": [feature(properties=["name_zh"])]},
    ],
)
def test_documents_that_are_not_feature_collections_are_rejected(document: object) -> None:
    with pytest.raises((InvalidGeometry, InvalidRegion)):
        regions_from_geojson(document)  # type: ignore[arg-type]
