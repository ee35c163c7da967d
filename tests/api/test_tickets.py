"""``/v1/tickets``: creation, validation, batches, reading, listing with filters and pages."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.config import Settings
from api.db.tables import TicketRow, TicketStatusChangeRow
from api.deps import get_session
from api.main import create_app

Headers = dict[str, dict[str, str]]
PEOPLES_SQUARE = [121.4737, 31.2304]  # Huangpu district (310101)
PUDONG = [121.5440, 31.2210]  # Pudong (310115)


def ticket(**overrides: Any) -> dict[str, Any]:
    """A complete repair ticket in Huangpu."""
    return {
        "external_id": "SO-1",
        "type": "repair",
        "location": PEOPLES_SQUARE,
        "address": "南京东路 100 号",
        "duration_min": 90,
        "skills": {"aircon": 2},
        "time_windows": [["2026-11-23T09:00:00+08:00", "2026-11-23T12:00:00+08:00"]],
        "priority": "urgent",
        "customer": {"name": "王女士", "phone": "+86 138 0013 8000"},
        **overrides,
    }


def post(client: TestClient, headers: Headers, who: str = "shop_a", **overrides: Any) -> Any:
    response = client.post("/v1/tickets", json=ticket(**overrides), headers=headers[who])
    assert response.status_code == 201, response.text
    return response.json()


def test_create_returns_id_region_status(client: TestClient, headers: Headers) -> None:
    body = post(client, headers, notes="gate code 1234")
    assert isinstance(body["id"], int)
    assert body["status"] == "new"
    assert body["region_id"] == "310101"
    assert body["source"] == "shop-a"
    assert body["location"] == PEOPLES_SQUARE
    assert body["skills"] == {"aircon": 2}
    assert body["customer"]["name"] == "王女士"
    assert body["time_windows"] == [["2026-11-23T09:00:00+08:00", "2026-11-23T12:00:00+08:00"]]
    assert body["sla"] == {"at_risk": False, "overdue": False}
    read = client.get(f"/v1/tickets/{body['id']}", headers=headers["shop_a"])
    assert read.status_code == 200
    assert read.json() == body


def test_staff_tickets_are_internal(client: TestClient, headers: Headers) -> None:
    assert post(client, headers, who="dispatcher")["source"] == "internal"
    # The same external_id in two sources is two tickets.
    assert post(client, headers, who="shop_a")["source"] == "shop-a"


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_chinese_datums_are_stored_as_wgs84(client: TestClient, headers: Headers, crs: str) -> None:
    body = post(client, headers, crs=crs)
    lon, lat = body["location"]
    # GCJ-02 / BD-09 sit hundreds of metres off WGS84 in Shanghai; conversion moves the point.
    assert 0.001 < abs(lon - PEOPLES_SQUARE[0]) + abs(lat - PEOPLES_SQUARE[1]) < 0.03
    assert body["region_id"] is not None


def test_outside_every_region_has_no_region(client: TestClient, headers: Headers) -> None:
    assert post(client, headers, location=[2.35, 48.86])["region_id"] is None


def test_duplicate_external_id_is_409(client: TestClient, headers: Headers) -> None:
    first = post(client, headers)
    response = client.post("/v1/tickets", json=ticket(), headers=headers["shop_a"])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "ticket_exists"
    assert response.json()["error"]["details"]["existing"] == {"SO-1": first["id"]}


BAD = [
    ("location", {"location": [200, 31]}, "location[0]"),
    ("location", {"location": [121, -91]}, "location[1]"),
    ("nan", {"location": ["NaN", 31]}, "location[0]"),
    ("inf", {"location": [121, "Infinity"]}, "location[1]"),
    ("crs", {"crs": "epsg3857"}, "crs"),
    ("type", {"type": "demolition"}, "type"),
    ("priority", {"priority": "asap"}, "priority"),
    ("skill level", {"skills": {"aircon": 0}}, "skills.aircon"),
    ("unknown skill", {"skills": {"juggling": 1}}, "skills.juggling"),
    ("status", {"status": "settled"}, "status"),
    ("payout", {"payout_fen": 100}, "payout_fen"),
    ("duration", {"duration_min": 0}, "duration_min"),
    ("no external id", {"external_id": ""}, "external_id"),
    (
        "inverted window",
        {"time_windows": [["2026-11-23T12:00:00+08:00", "2026-11-23T09:00:00+08:00"]]},
        "time_windows",
    ),
    (
        "naive window",
        {"time_windows": [["2026-11-23T09:00:00", "2026-11-23T12:00:00"]]},
        "time_windows[0][0]",
    ),
    (
        "long window",
        {"time_windows": [["2026-11-01T00:00:00Z", "2026-12-31T00:00:00Z"]]},
        "time_windows",
    ),
    (
        "overlap",
        {
            "time_windows": [
                ["2026-11-23T09:00:00Z", "2026-11-23T12:00:00Z"],
                ["2026-11-23T11:00:00Z", "2026-11-23T13:00:00Z"],
            ]
        },
        "time_windows",
    ),
    ("naive sla", {"sla_due_at": "2026-11-23T18:00:00"}, "sla_due_at"),
    ("email", {"customer": {"name": "x", "email": "not-an-email"}}, "customer.email"),
]


@pytest.mark.parametrize(("case", "overrides", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_422_naming_the_field(
    client: TestClient, headers: Headers, session: Session, case: str, overrides: Any, field: str
) -> None:
    content = (
        json.dumps(ticket(**overrides)).replace('"NaN"', "NaN").replace('"Infinity"', "Infinity")
    )
    response = client.post(
        "/v1/tickets",
        content=content,
        headers={**headers["shop_a"], "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"].startswith(field), error["message"]
    assert session.scalar(select(func.count(TicketRow.id))) == 0


def test_batch_stores_all(client: TestClient, headers: Headers, session: Session) -> None:
    tickets = [
        ticket(external_id=f"B-{i}", location=PUDONG if i % 2 else PEOPLES_SQUARE)
        for i in range(50)
    ]
    response = client.post(
        "/v1/tickets/batch", json={"tickets": tickets}, headers=headers["shop_a"]
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["count"] == 50
    assert [t["external_id"] for t in body["tickets"]] == [f"B-{i}" for i in range(50)]
    assert {t["region_id"] for t in body["tickets"]} == {"310101", "310115"}
    stored = session.scalars(select(TicketRow).order_by(TicketRow.id)).all()
    assert [row.id for row in stored] == [t["id"] for t in body["tickets"]]
    changes = session.scalar(select(func.count(TicketStatusChangeRow.id)))
    assert changes == 50


def test_batch_is_all_or_nothing_with_item_errors(
    client: TestClient, headers: Headers, session: Session
) -> None:
    post(client, headers, external_id="EXISTS")
    tickets = [ticket(external_id=f"B-{i}") for i in range(6)]
    tickets[1]["skills"] = {"juggling": 1}
    tickets[2]["external_id"] = "B-3"  # repeated within the batch
    tickets[5]["external_id"] = "EXISTS"
    response = client.post(
        "/v1/tickets/batch", json={"tickets": tickets}, headers=headers["shop_a"]
    )
    assert response.status_code == 422
    errors = response.json()["error"]["details"]["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [
        (1, "tickets[1].skills.juggling"),
        (2, "tickets[2].external_id"),
        (3, "tickets[3].external_id"),
        (5, "tickets[5].external_id"),
    ]
    assert all(e["message"] for e in errors)
    assert session.scalar(select(func.count(TicketRow.id))) == 1


def test_batch_schema_errors_name_the_item(client: TestClient, headers: Headers) -> None:
    tickets = [ticket(external_id=f"B-{i}") for i in range(3)]
    tickets[2]["location"] = [500, 0]
    response = client.post(
        "/v1/tickets/batch", json={"tickets": tickets}, headers=headers["shop_a"]
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("tickets[2].location[0]")


def test_batch_limits(client: TestClient, headers: Headers) -> None:
    response = client.post("/v1/tickets/batch", json={"tickets": []}, headers=headers["shop_a"])
    assert response.status_code == 422
    minimal = {
        "external_id": "x",
        "type": "repair",
        "location": [0, 0],
        "address": "a",
        "duration_min": 1,
    }
    response = client.post(
        "/v1/tickets/batch", json={"tickets": [minimal] * 10_001}, headers=headers["shop_a"]
    )
    assert response.status_code == 422
    assert "10000" in response.json()["error"]["message"]


def test_body_size_limit_is_413(settings: Settings, session: Session, headers: Headers) -> None:
    app = create_app(settings.model_copy(update={"max_body_bytes": 2000}))
    app.dependency_overrides[get_session] = lambda: session
    client = TestClient(app)
    tickets = [ticket(external_id=f"B-{i}") for i in range(20)]
    response = client.post(
        "/v1/tickets/batch", json={"tickets": tickets}, headers=headers["shop_a"]
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    app.state.engine.dispose()


@pytest.fixture
def spread(client: TestClient, headers: Headers) -> list[dict[str, Any]]:
    """Six tickets: three in Huangpu, three in Pudong, a day apart, due soon / late / later."""
    now = datetime.now(UTC)
    made = []
    for i in range(6):
        start = datetime(2026, 11, 23 + i, 9, tzinfo=UTC)
        due = [now + timedelta(minutes=30), now - timedelta(hours=1), now + timedelta(days=3)][
            i % 3
        ]
        made.append(
            post(
                client,
                headers,
                external_id=f"S-{i}",
                location=PEOPLES_SQUARE if i < 3 else PUDONG,
                time_windows=[[start.isoformat(), (start + timedelta(hours=3)).isoformat()]],
                sla_due_at=due.isoformat(),
            )
        )
    return made


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["items"]]


def test_list_filters(client: TestClient, headers: Headers, spread: list[dict[str, Any]]) -> None:
    every = [t["id"] for t in spread]
    get = lambda query: ids(client.get(f"/v1/tickets?{query}", headers=headers["dispatcher"]))  # noqa: E731
    assert get("") == every
    assert get("region_id=310115") == every[3:]
    assert get("bbox=121.46,31.22,121.48,31.24") == every[:3]
    assert get("bbox=0,0,1,1") == []
    assert get("window_from=2026-11-24T10:00:00Z&window_to=2026-11-25T10:00:00Z") == every[1:3]
    assert get("sla=at_risk") == [every[0], every[3]]
    assert get("sla=overdue") == [every[1], every[4]]
    assert get("status=new&status=cancelled") == every
    assert get("status=scheduled") == []
    assert get("technician_id=T-A") == []
    flags = {
        t["id"]: t["sla"]
        for t in client.get("/v1/tickets", headers=headers["admin"]).json()["items"]
    }
    assert flags[every[0]] == {"at_risk": True, "overdue": False}
    assert flags[every[1]] == {"at_risk": False, "overdue": True}
    assert flags[every[2]] == {"at_risk": False, "overdue": False}


def test_cancelled_tickets_are_not_overdue(
    client: TestClient, headers: Headers, spread: list[dict[str, Any]]
) -> None:
    late = spread[1]["id"]
    response = client.post(
        f"/v1/tickets/{late}/transitions", json={"to": "cancelled"}, headers=headers["admin"]
    )
    assert response.status_code == 200
    assert response.json()["sla"]["overdue"] is False
    assert late not in ids(client.get("/v1/tickets?sla=overdue", headers=headers["admin"]))


def test_pages_follow_the_cursor(
    client: TestClient, headers: Headers, spread: list[dict[str, Any]]
) -> None:
    seen: list[int] = []
    url = "/v1/tickets?limit=4"
    while True:
        page = client.get(url, headers=headers["admin"]).json()
        seen += [t["id"] for t in page["items"]]
        if page["next_cursor"] is None:
            break
        url = f"/v1/tickets?limit=4&cursor={page['next_cursor']}"
    assert seen == [t["id"] for t in spread]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=501", "limit"),
        ("limit=0", "limit"),
        ("cursor=garbage!", "cursor"),
        ("bbox=1,2,3", "bbox"),
        ("bbox=10,10,0,0", "bbox"),
        ("sla=late", "sla"),
        ("status=lost", "status"),
        ("window_from=2026-11-23T10:00:00", "window_from"),
    ],
)
def test_bad_list_queries_are_422(
    client: TestClient, headers: Headers, query: str, field: str
) -> None:
    response = client.get(f"/v1/tickets?{query}", headers=headers["admin"])
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["message"]


def test_unknown_ticket_is_404(client: TestClient, headers: Headers) -> None:
    assert client.get("/v1/tickets/999999", headers=headers["admin"]).status_code == 404
    assert client.get("/v1/tickets/abc", headers=headers["admin"]).status_code == 422
