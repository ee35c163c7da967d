"""``/v1/technicians``: profiles, shifts, GPS pings (late, out of order, repeated), the route."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.db.tables import AssignmentRow

Headers = dict[str, dict[str, str]]


def technician(**overrides: Any) -> dict[str, Any]:
    """Technician T-A with an aircon skill, a territory in Huangpu and one shift."""
    return {
        "id": "T-A",
        "name": "张伟",
        "phone": "+86 139 1234 5678",
        "home_base": [121.4451, 31.2200],
        "skills": {"aircon": 3},
        "territory": ["310101"],
        "max_orders": 8,
        "capacity": 20,
        "shifts": [
            {
                "day": "2026-11-23",
                "start_at": "2026-11-23T08:00:00+08:00",
                "end_at": "2026-11-23T18:00:00+08:00",
                "breaks": [
                    {
                        "earliest_start_at": "2026-11-23T11:30:00+08:00",
                        "latest_start_at": "2026-11-23T13:00:00+08:00",
                        "duration_min": 45,
                    }
                ],
            }
        ],
        **overrides,
    }


def create(client: TestClient, headers: Headers, **overrides: Any) -> Any:
    response = client.post(
        "/v1/technicians", json=technician(**overrides), headers=headers["admin"]
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_create_read_update_deactivate(client: TestClient, headers: Headers) -> None:
    body = create(client, headers)
    assert body["skills"] == {"aircon": 3} and body["territory"] == ["310101"]
    assert body["is_active"] is True and body["current"] is None
    assert client.get("/v1/technicians/T-A", headers=headers["tech_a"]).json() == body
    change = {"skills": {"aircon": 4, "plumbing": 1}, "max_orders": 6, "home_base": [121.5, 31.3]}
    updated = client.patch("/v1/technicians/T-A", json=change, headers=headers["dispatcher"]).json()
    assert updated["skills"] == change["skills"] and updated["max_orders"] == 6
    assert updated["home_base"] == [121.5, 31.3]
    assert updated["name"] == body["name"]  # untouched
    gone = client.delete("/v1/technicians/T-A", headers=headers["admin"])
    assert gone.status_code == 200 and gone.json()["is_active"] is False
    listed = client.get("/v1/technicians?is_active=false", headers=headers["admin"]).json()
    assert [t["id"] for t in listed["items"]] == ["T-A"]


def test_gcj02_home_base_is_converted(client: TestClient, headers: Headers) -> None:
    body = create(client, headers, crs="gcj02")
    assert body["home_base"] != [121.4451, 31.2200]
    assert abs(body["home_base"][0] - 121.4451) < 0.01


def test_duplicate_id_is_409(client: TestClient, headers: Headers) -> None:
    create(client, headers)
    response = client.post("/v1/technicians", json=technician(), headers=headers["admin"])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "technician_exists"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"skills": {"juggling": 1}}, "skills.juggling"),
        ({"skills": {"aircon": 11}}, "skills.aircon"),
        ({"territory": ["nowhere"]}, "territory[0]"),
        ({"home_base": [181, 0]}, "home_base[0]"),
        ({"id": "has space"}, "id"),
        ({"payout_rate": 2}, "payout_rate"),
        ({"max_orders": 0}, "max_orders"),
        (
            {
                "shifts": [
                    {
                        "day": "2026-11-23",
                        "start_at": "2026-11-23T18:00:00+08:00",
                        "end_at": "2026-11-23T08:00:00+08:00",
                    }
                ]
            },
            "shifts[0]",
        ),
        (
            {
                "shifts": [
                    {
                        "day": "2026-11-23",
                        "start_at": "2026-11-23T08:00:00",
                        "end_at": "2026-11-23T18:00:00",
                    }
                ]
            },
            "shifts[0].start_at",
        ),
    ],
)
def test_bad_profiles_are_422(
    client: TestClient, headers: Headers, overrides: Any, field: str
) -> None:
    response = client.post(
        "/v1/technicians", json=technician(**overrides), headers=headers["admin"]
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith(field)


def test_patch_refuses_nulls_and_unknowns(client: TestClient, headers: Headers) -> None:
    create(client, headers)
    for change, field in [
        ({"name": None}, "name"),
        ({"skills": {"x": 1}}, "skills.x"),
        ({"territory": ["?"]}, "territory[0]"),
    ]:
        response = client.patch("/v1/technicians/T-A", json=change, headers=headers["admin"])
        assert response.status_code == 422, change
        assert response.json()["error"]["message"].startswith(field)


def test_shifts_replace_by_day(client: TestClient, headers: Headers) -> None:
    create(client, headers)
    later = {
        "day": "2026-11-23",
        "start_at": "2026-11-23T10:00:00+08:00",
        "end_at": "2026-11-23T20:00:00+08:00",
    }
    response = client.put(
        "/v1/technicians/T-A/shifts", json={"shifts": [later]}, headers=headers["admin"]
    )
    assert response.status_code == 200
    shifts = client.get(
        "/v1/technicians/T-A/shifts?first=2026-11-22&last=2026-11-24", headers=headers["tech_a"]
    ).json()
    assert len(shifts) == 1
    assert shifts[0]["start_at"] == "2026-11-23T02:00:00Z" and shifts[0]["breaks"] == []
    both = {"shifts": [later, later]}
    assert (
        client.put("/v1/technicians/T-A/shifts", json=both, headers=headers["admin"]).status_code
        == 422
    )
    bad_range = "/v1/technicians/T-A/shifts?first=2026-11-24&last=2026-11-22"
    assert client.get(bad_range, headers=headers["admin"]).status_code == 422


def _ping(lon: float, at: datetime, accuracy: float | None = 5.0) -> dict[str, Any]:
    return {"location": [lon, 31.22], "recorded_at": at.isoformat(), "accuracy_m": accuracy}


def test_pings_are_out_of_order_tolerant_and_deduplicated(
    client: TestClient, headers: Headers
) -> None:
    create(client, headers)
    t0 = datetime.now(UTC) - timedelta(hours=1)
    url, auth = "/v1/technicians/T-A/locations", headers["tech_a"]
    first = client.post(
        url,
        json={"pings": [_ping(121.40, t0 + timedelta(minutes=10)), _ping(121.41, t0)]},
        headers=auth,
    )
    assert first.status_code == 200
    assert first.json()["stored"] == 2
    assert first.json()["current"]["location"] == [121.40, 31.22]
    # A late batch: an older fix, a repeat, and one repeated inside the batch.
    late = [
        _ping(121.42, t0 - timedelta(minutes=5)),
        _ping(121.49, t0 + timedelta(minutes=10)),
        _ping(121.43, t0 + timedelta(minutes=1)),
        _ping(121.43, t0 + timedelta(minutes=1)),
    ]
    body = client.post(url, json={"pings": late}, headers=auth).json()
    assert (body["received"], body["stored"], body["duplicates"]) == (4, 2, 2)
    # The current position is still the latest recorded one, not the latest received.
    assert body["current"]["location"] == [121.40, 31.22]
    newest = client.post(
        url, json={"pings": [_ping(121.45, t0 + timedelta(minutes=20))]}, headers=auth
    )
    assert newest.json()["current"]["location"] == [121.45, 31.22]
    profile = client.get("/v1/technicians/T-A", headers=headers["dispatcher"]).json()
    assert profile["current"]["location"] == [121.45, 31.22]


def test_ping_limits(client: TestClient, headers: Headers) -> None:
    create(client, headers)
    url, auth = "/v1/technicians/T-A/locations", headers["tech_a"]
    now = datetime.now(UTC)
    too_many = {"pings": [_ping(121.4, now - timedelta(seconds=i)) for i in range(1001)]}
    assert client.post(url, json=too_many, headers=auth).status_code == 422
    future = {"pings": [_ping(121.4, now), _ping(121.4, now + timedelta(hours=1))]}
    response = client.post(url, json=future, headers=auth)
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("pings[1].recorded_at")
    for bad in (
        {"pings": []},
        {"pings": [_ping(121.4, now, accuracy=-1)]},
        {"pings": [{"location": [121.4, 31.2]}]},
    ):
        assert client.post(url, json=bad, headers=auth).status_code == 422


def _assigned_ticket(
    client: TestClient, headers: Headers, external_id: str, windows: list[list[str]]
) -> int:
    body = {
        "external_id": external_id,
        "type": "repair",
        "location": [121.4737, 31.2304],
        "address": "南京东路 100 号",
        "duration_min": 60,
        "time_windows": windows,
    }
    ticket_id: int = client.post("/v1/tickets", json=body, headers=headers["shop_a"]).json()["id"]
    move = {"to": "scheduled", "technician_id": "T-A"}
    response = client.post(
        f"/v1/tickets/{ticket_id}/transitions", json=move, headers=headers["admin"]
    )
    assert response.status_code == 200, response.text
    return ticket_id


def test_route_lists_the_days_tickets_in_window_order(client: TestClient, headers: Headers) -> None:
    create(client, headers)
    afternoon = _assigned_ticket(
        client, headers, "PM", [["2026-11-23T14:00:00+08:00", "2026-11-23T16:00:00+08:00"]]
    )
    morning = _assigned_ticket(
        client, headers, "AM", [["2026-11-23T09:00:00+08:00", "2026-11-23T11:00:00+08:00"]]
    )
    _assigned_ticket(
        client, headers, "NEXT-DAY", [["2026-11-24T09:00:00+08:00", "2026-11-24T11:00:00+08:00"]]
    )
    cancelled = _assigned_ticket(
        client, headers, "OFF", [["2026-11-23T10:00:00+08:00", "2026-11-23T12:00:00+08:00"]]
    )
    client.post(
        f"/v1/tickets/{cancelled}/transitions", json={"to": "cancelled"}, headers=headers["admin"]
    )
    route = client.get("/v1/technicians/T-A/route?day=2026-11-23", headers=headers["tech_a"]).json()
    assert [s["ticket_id"] for s in route["stops"]] == [morning, afternoon]
    assert route["shift"]["start_at"] == "2026-11-23T00:00:00Z"
    assert route["stops"][0]["time_windows"] == [
        ["2026-11-23T09:00:00+08:00", "2026-11-23T11:00:00+08:00"]
    ]
    # Without a shift the day is local midnight to midnight (Asia/Shanghai).
    other_day = client.get(
        "/v1/technicians/T-A/route?day=2026-11-24", headers=headers["admin"]
    ).json()
    assert other_day["shift"] is None and [s["external_id"] for s in other_day["stops"]] == [
        "NEXT-DAY"
    ]


def test_route_follows_the_applied_plan_with_its_etas(
    client: TestClient, headers: Headers, session: Session
) -> None:
    create(client, headers)
    morning = _assigned_ticket(
        client, headers, "AM", [["2026-11-23T09:00:00+08:00", "2026-11-23T12:00:00+08:00"]]
    )
    later = _assigned_ticket(
        client, headers, "LATE", [["2026-11-23T09:00:00+08:00", "2026-11-23T18:00:00+08:00"]]
    )
    unplanned = _assigned_ticket(
        client, headers, "EXTRA", [["2026-11-23T08:00:00+08:00", "2026-11-23T09:00:00+08:00"]]
    )
    eta = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    for sequence, ticket_id in enumerate([later, morning]):
        session.add(
            AssignmentRow(
                ticket_id=ticket_id, technician_id="T-A", day=date(2026, 11, 23),
                sequence=sequence, eta_at=eta + timedelta(hours=sequence),
                start_at=eta + timedelta(hours=sequence, minutes=5),
                end_at=eta + timedelta(hours=sequence, minutes=65),
                is_pinned=False, source="manual", assigned_at=eta,
            )
        )  # fmt: skip
    session.flush()
    route = client.get("/v1/technicians/T-A/route?day=2026-11-23", headers=headers["tech_a"]).json()
    assert [s["ticket_id"] for s in route["stops"]] == [later, morning, unplanned]
    assert [s["sequence"] for s in route["stops"]] == [0, 1, None]
    assert route["stops"][0]["eta_at"] == "2026-11-23T01:30:00Z"
    assert route["stops"][2]["eta_at"] is None


def test_list_pages_and_skill_filter(client: TestClient, headers: Headers) -> None:
    for i in range(5):
        create(
            client, headers, id=f"T-{i}", skills={"aircon": 1} if i % 2 else {"solar": 2}, shifts=[]
        )
    page = client.get("/v1/technicians?limit=2", headers=headers["admin"]).json()
    assert [t["id"] for t in page["items"]] == ["T-0", "T-1"] and page["next_cursor"] == "T-1"
    rest = client.get(
        f"/v1/technicians?limit=10&cursor={page['next_cursor']}", headers=headers["admin"]
    ).json()
    assert [t["id"] for t in rest["items"]] == ["T-2", "T-3", "T-4"] and rest["next_cursor"] is None
    solar = client.get("/v1/technicians?skill=solar", headers=headers["admin"]).json()
    assert [t["id"] for t in solar["items"]] == ["T-0", "T-2", "T-4"]
    assert client.get("/v1/technicians?limit=501", headers=headers["admin"]).status_code == 422


def test_unknown_technician_is_404(client: TestClient, headers: Headers) -> None:
    assert client.get("/v1/technicians/nobody", headers=headers["admin"]).status_code == 404
