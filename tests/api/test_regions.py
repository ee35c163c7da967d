"""The regions endpoints on the demo city, on whichever database the run uses."""

import numpy as np
import pytest
from fastapi.testclient import TestClient

from geo.coords import wgs84_to_bd09, wgs84_to_gcj02

PUDONG_OUTSIDE_RING = (121.80, 31.15)
HUANGPU = (121.4903, 31.2331)  # the Bund


def test_health_names_the_database(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] in {"sqlite", "postgresql"}


def test_regions_are_a_geojson_feature_collection(client: TestClient) -> None:
    body = client.get("/v1/regions").json()
    assert body["type"] == "FeatureCollection"
    ids = {feature["id"] for feature in body["features"]}
    assert {"310000", "320500", "310115", "zone-pudong-outer", "zone-sip"} <= ids
    pudong = next(f for f in body["features"] if f["id"] == "310115")
    lon, lat = pudong["geometry"]["coordinates"][0][0][0]
    assert 120 < lon < 123 and 30 < lat < 32  # [lon, lat] order


def test_regions_filter_by_level_and_bbox(client: TestClient) -> None:
    zones = client.get("/v1/regions", params={"level": "zone"}).json()["features"]
    assert {f["id"] for f in zones} == {"zone-pudong-outer", "zone-sip", "zone-hongqiao"}
    in_suzhou_old_town = client.get("/v1/regions", params={"bbox": "120.60,31.30,120.62,31.32"})
    ids = {f["id"] for f in in_suzhou_old_town.json()["features"]}
    assert "320508" in ids and "310115" not in ids


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "122,31,121,32", "0,0,0,95"])
def test_bad_bbox_is_422_naming_bbox(client: TestClient, bbox: str) -> None:
    response = client.get("/v1/regions", params={"bbox": bbox})
    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "bbox"


def test_locate_returns_most_specific_region_and_hierarchy(client: TestClient) -> None:
    lon, lat = PUDONG_OUTSIDE_RING
    body = client.get("/v1/regions/locate", params={"lon": lon, "lat": lat}).json()
    assert body["region"]["id"] == "zone-pudong-outer"
    assert [r["id"] for r in body["hierarchy"]] == ["zone-pudong-outer", "310115", "310000"]


def test_locate_outside_every_region_is_null(client: TestClient) -> None:
    body = client.get("/v1/regions/locate", params={"lon": 116.4, "lat": 39.9}).json()
    assert body["region"] is None and body["hierarchy"] == []


@pytest.mark.parametrize(("crs", "convert"), [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_locate_converts_china_datums_to_wgs84(client: TestClient, crs: str, convert) -> None:  # type: ignore[no-untyped-def]
    lons, lats = convert(np.array([HUANGPU[0]]), np.array([HUANGPU[1]]))
    params = {"lon": float(lons[0]), "lat": float(lats[0]), "crs": crs}
    body = client.get("/v1/regions/locate", params=params).json()
    assert body["region"]["id"] == "310101"
    assert body["lon"] == pytest.approx(HUANGPU[0], abs=1e-5)
    assert body["lat"] == pytest.approx(HUANGPU[1], abs=1e-5)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lon": "nan", "lat": 31}, "lon"),
        ({"lon": "inf", "lat": 31}, "lon"),
        ({"lon": 121, "lat": "-Infinity"}, "lat"),
        ({"lon": 181, "lat": 31}, "lon"),
        ({"lon": 121, "lat": 91}, "lat"),
        ({"lat": 31}, "lon"),
        ({"lon": 121, "lat": 31, "crs": "epsg3857"}, "crs"),
    ],
)
def test_bad_coordinates_are_422_naming_the_field(
    client: TestClient, params: dict[str, object], field: str
) -> None:
    response = client.get("/v1/regions/locate", params=params)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["errors"][0]["field"] == field
