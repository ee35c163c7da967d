"""The map's layers and KPIs for a solved and applied day (the dispatch tests' tiny world)."""

from typing import Any

from fastapi.testclient import TestClient

from tests.api.dispatch.support import DAY, applied_day


def _layer(api: TestClient, auth: dict[str, str], name: str) -> Any:
    response = api.get(f"/v1/map/{name}?day={DAY}", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


def test_an_applied_day_on_the_map(
    api: TestClient, headers: dict[str, dict[str, str]], world: dict[str, Any]
) -> None:
    applied_day(api, headers)
    staff = headers["dispatcher"]
    kpis = _layer(api, staff, "kpis")
    assert (kpis["tickets"], kpis["assigned"], kpis["unassigned"]) == (4, 3, 1)
    assert kpis["unassigned_by_reason"] == {"no_skill": 1} and kpis["unplanned"] == 0
    assert kpis["on_time_rate"] == 1.0 and kpis["travel_km"] > 0
    assert kpis["working_min"]["max"] >= kpis["working_min"]["min"] > 0

    technicians = {f["id"]: f["properties"] for f in _layer(api, staff, "technicians")["features"]}
    assert sum(t["orders"] for t in technicians.values()) == 3
    assert all(t["limit_min"] == 9 * 60 for t in technicians.values())  # 09:00-18:00, no break
    busy = [tech_id for tech_id, t in technicians.items() if t["orders"]]
    assert kpis["technicians_busy"] == len(busy)

    routes = _layer(api, staff, "routes")["features"]
    lines = [f for f in routes if f["geometry"]["type"] == "LineString"]
    stops = [f for f in routes if f["geometry"]["type"] == "Point"]
    assert sorted(f["properties"]["tech"] for f in lines) == sorted(busy)
    assert sorted(f["id"] for f in stops) == sorted(f"s-{t}" for t in world["aircon"])
    for line in lines:  # base, then each stop in order
        assert len(line["geometry"]["coordinates"]) == line["properties"]["stops"] + 1

    (unassigned,) = _layer(api, staff, "unassigned")["features"]
    assert unassigned["id"] == f"u{world['solar']}"
    assert unassigned["properties"]["reason"] == "no_skill"
    assert "solar" in unassigned["properties"]["message"]


def test_a_technician_on_the_way_is_shown_en_route(
    api: TestClient, headers: dict[str, dict[str, str]], world: dict[str, Any]
) -> None:
    applied_day(api, headers)
    staff = headers["dispatcher"]
    ticket = next(
        f for f in _layer(api, staff, "tickets")["features"] if f["properties"].get("tech")
    )
    for status in ("dispatched", "en_route"):
        moved = api.post(
            f"/v1/tickets/{ticket['id']}/transitions", json={"to": status}, headers=staff
        )
        assert moved.status_code == 200, moved.text
    technicians = {f["id"]: f["properties"] for f in _layer(api, staff, "technicians")["features"]}
    assert technicians[ticket["properties"]["tech"]]["state"] == "en_route"
    recoloured = next(
        f for f in _layer(api, staff, "tickets")["features"] if f["id"] == ticket["id"]
    )
    assert recoloured["properties"]["status"] == "en_route"
