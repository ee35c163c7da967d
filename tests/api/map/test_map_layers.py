"""The map's GeoJSON layers over HTTP: access, filters refused by name, gzip, GCJ-02 display."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.config import Settings
from tests.api.dispatch.support import DAY, add_technician, add_ticket

LAYERS = ["regions", "technicians", "tickets", "unassigned", "routes", "kpis"]


@pytest.mark.parametrize("layer", LAYERS)
def test_only_staff_see_the_layers(
    client: TestClient, headers: dict[str, dict[str, str]], layer: str
) -> None:
    assert client.get(f"/v1/map/{layer}").status_code == 401
    assert client.get(f"/v1/map/{layer}", headers=headers["tech_a"]).status_code == 403
    assert client.get(f"/v1/map/{layer}", headers=headers["shop_a"]).status_code == 403
    assert client.get(f"/v1/map/{layer}", headers=headers["dispatcher"]).status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("bbox=1,2,3", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=121,31,NaN,32", "bbox"),
        ("bbox=121,31,inf,32", "bbox"),
        ("bbox=122,31,121,32", "bbox"),
        ("bbox=121,31,200,32", "bbox"),
        ("day=tomorrow", "day"),
        ("day=2026-02-30", "day"),
        ("zoom=40", "zoom"),
        ("colour=red", "colour"),
    ],
)
def test_bad_filters_are_refused_naming_them(
    client: TestClient, headers: dict[str, dict[str, str]], query: str, field: str
) -> None:
    response = client.get(f"/v1/map/tickets?{query}", headers=headers["dispatcher"])
    assert response.status_code == 422
    body = response.json()["error"]
    assert body["code"] == "validation_error"
    assert body["message"].startswith(field)


def test_an_unknown_region_is_refused(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    response = client.get("/v1/map/tickets?region=nowhere", headers=headers["dispatcher"])
    assert response.status_code == 422
    assert "nowhere" in response.json()["error"]["message"]


def test_regions_are_simplified_by_zoom_and_gzipped(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    coarse = client.get("/v1/map/regions?zoom=8", headers=headers["dispatcher"])
    fine = client.get("/v1/map/regions?zoom=16", headers=headers["dispatcher"])
    assert len(coarse.json()["features"]) == len(fine.json()["features"]) == 30
    assert len(coarse.content) < len(fine.content) / 3
    assert coarse.headers["content-encoding"] == "gzip"
    assert coarse.headers["content-type"] == "application/geo+json"
    huangpu = next(f for f in coarse.json()["features"] if f["id"] == "310101")
    assert huangpu["properties"]["coefficient"] == "1.40"


def test_tickets_of_the_day_in_the_box_with_their_flags(
    client: TestClient, headers: dict[str, dict[str, str]], session: Session
) -> None:
    add_technician(session, "T-A", (121.4737, 31.2304))
    inside = add_ticket(session, (121.48, 31.22))
    outside = add_ticket(session, (121.60, 31.10))
    day = DAY  # add_ticket's far-future day
    staff = headers["dispatcher"]
    every = client.get(f"/v1/map/tickets?day={day}", headers=staff).json()
    assert {f["id"] for f in every["features"]} == {str(inside), str(outside)}
    boxed = client.get(f"/v1/map/tickets?day={day}&bbox=121.4,31.15,121.55,31.3", headers=staff)
    assert [f["id"] for f in boxed.json()["features"]] == [str(inside)]
    feature = boxed.json()["features"][0]
    assert feature["geometry"]["coordinates"] == [121.48, 31.22]
    assert feature["properties"]["status"] == "new"
    other_day = client.get("/v1/map/tickets?day=2031-03-05", headers=staff).json()
    assert other_day["features"] == []


def test_gcj02_tiles_shift_the_layers_for_display(
    settings: Settings, session: Session, headers: dict[str, dict[str, str]]
) -> None:
    from api.deps import get_session
    from api.main import create_app

    add_ticket(session, (121.48, 31.22))
    app = create_app(settings.model_copy(update={"map_tiles_crs": "gcj02"}))
    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app) as shifted:
        body = shifted.get("/v1/map/tickets?day=2031-03-04", headers=headers["dispatcher"])
    lon, lat = body.json()["features"][0]["geometry"]["coordinates"]
    assert 0.003 < lon - 121.48 < 0.006 and -0.003 < lat - 31.22 < 0.0  # GCJ-02's offset here
    app.state.engine.dispose()


def test_the_map_page_needs_a_staff_caller(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    assert client.get("/map", follow_redirects=False).headers["location"] == "/login?next=%2Fmap"
    denied = client.get("/map", headers=headers["tech_a"])
    assert denied.status_code == 403 and "text/html" in denied.headers["content-type"]
    page = client.get("/map", headers=headers["dispatcher"])
    assert page.status_code == 200
    assert "https://" not in page.text.split("<body")[0]  # every asset served locally
    bad = client.get("/map?day=tomorrow", headers=headers["dispatcher"])
    assert bad.status_code == 422 and "day" in bad.text and "Traceback" not in bad.text
