"""Who may call which ticket and technician route, and whose objects they may see.

The setting: ticket ``A`` of shop-a is assigned to technician T-A; ticket ``B`` of shop-b is
unassigned. Every caller kind is tried against every route.
"""

import itertools
from typing import Any

import pytest
from fastapi.testclient import TestClient

Headers = dict[str, dict[str, str]]
CALLERS = ["anonymous", "admin", "dispatcher", "tech_a", "tech_b", "shop_a", "shop_b"]


def _ticket(external_id: str) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "type": "maintenance",
        "location": [121.4737, 31.2304],
        "address": "南京东路 100 号",
        "duration_min": 30,
        "time_windows": [["2026-11-23T09:00:00+08:00", "2026-11-23T11:00:00+08:00"]],
    }


@pytest.fixture
def world(client: TestClient, headers: Headers) -> dict[str, int]:
    """Technicians T-A and T-B; ticket A (shop-a, assigned to T-A), ticket B (shop-b)."""
    for technician_id in ("T-A", "T-B"):
        body = {"id": technician_id, "name": technician_id, "home_base": [121.45, 31.22]}
        assert (
            client.post("/v1/technicians", json=body, headers=headers["admin"]).status_code == 201
        )
    a = client.post("/v1/tickets", json=_ticket("A"), headers=headers["shop_a"]).json()["id"]
    b = client.post("/v1/tickets", json=_ticket("B"), headers=headers["shop_b"]).json()["id"]
    move = {"to": "scheduled", "technician_id": "T-A"}
    response = client.post(f"/v1/tickets/{a}/transitions", json=move, headers=headers["admin"])
    assert response.status_code == 200
    return {"A": a, "B": b}


def _call(
    client: TestClient, headers: Headers, who: str, method: str, url: str, body: Any = None
) -> Any:
    sent = {} if who == "anonymous" else headers[who]
    return client.request(method, url, json=body, headers=sent)


CREATE = {
    "anonymous": 401,
    "admin": 201,
    "dispatcher": 201,
    "tech_a": 403,
    "tech_b": 403,
    "shop_a": 201,
    "shop_b": 201,
}


@pytest.mark.parametrize("path", ["/v1/tickets", "/v1/tickets/batch"])
def test_create(client: TestClient, headers: Headers, path: str) -> None:
    for who in CALLERS:
        body = _ticket(f"NEW-{who}")
        sent = body if path == "/v1/tickets" else {"tickets": [body]}
        assert _call(client, headers, who, "POST", path, sent).status_code == CREATE[who], who


LISTED = {
    "admin": {"A", "B"},
    "dispatcher": {"A", "B"},
    "tech_a": {"A"},
    "tech_b": set(),
    "shop_a": {"A"},
    "shop_b": {"B"},
}


def test_list_shows_only_own(client: TestClient, headers: Headers, world: dict[str, int]) -> None:
    assert _call(client, headers, "anonymous", "GET", "/v1/tickets").status_code == 401
    for who, visible in LISTED.items():
        response = _call(client, headers, who, "GET", "/v1/tickets")
        listed = {t["id"] for t in response.json()["items"]}
        assert {name for name, id_ in world.items() if id_ in listed} == visible, who
    # Asking for someone else's technician does not widen a technician's view.
    response = _call(client, headers, "tech_b", "GET", "/v1/tickets?technician_id=T-A")
    assert response.json()["items"] == []


@pytest.mark.parametrize("suffix", ["", "/history"])
def test_read_one(client: TestClient, headers: Headers, world: dict[str, int], suffix: str) -> None:
    for who, (name, ticket_id) in itertools.product(CALLERS, world.items()):
        response = _call(client, headers, who, "GET", f"/v1/tickets/{ticket_id}{suffix}")
        expected = 401 if who == "anonymous" else 200 if name in LISTED[who] else 404
        assert response.status_code == expected, (who, name, response.text)
        if expected == 404:
            assert "external_id" not in response.text


TRANSITION_A = {
    "anonymous": 401,
    "admin": 200,
    "dispatcher": 200,
    "tech_a": 403,  # sees it, but may not cancel
    "tech_b": 404,
    "shop_a": 200,
    "shop_b": 404,
}


def test_transition(client: TestClient, headers: Headers, world: dict[str, int]) -> None:
    for who in CALLERS:
        # A fresh copy of ticket A for every caller, since a cancellation is final.
        ticket_id = _call(
            client, headers, "shop_a", "POST", "/v1/tickets", _ticket(f"A-{who}")
        ).json()["id"]
        move = {"to": "scheduled", "technician_id": "T-A"}
        assert (
            _call(
                client, headers, "admin", "POST", f"/v1/tickets/{ticket_id}/transitions", move
            ).status_code
            == 200
        )
        url = f"/v1/tickets/{ticket_id}/transitions"
        response = _call(client, headers, who, "POST", url, {"to": "cancelled"})
        assert response.status_code == TRANSITION_A[who], (who, response.text)


STAFF_ONLY = {
    "anonymous": 401,
    "admin": 200,
    "dispatcher": 200,
    "tech_a": 403,
    "tech_b": 403,
    "shop_a": 403,
    "shop_b": 403,
}
OWN_TECHNICIAN = {
    "anonymous": 401,
    "admin": 200,
    "dispatcher": 200,
    "tech_a": 200,
    "tech_b": 404,
    "shop_a": 403,
    "shop_b": 403,
}
PING = {"pings": [{"location": [121.45, 31.22], "recorded_at": "2026-11-22T08:00:00+08:00"}]}
SHIFT = {
    "shifts": [
        {
            "day": "2026-11-23",
            "start_at": "2026-11-23T08:00:00+08:00",
            "end_at": "2026-11-23T17:00:00+08:00",
        }
    ]
}
TECHNICIAN_ROUTES = [
    ("GET", "/v1/technicians/T-A", None, OWN_TECHNICIAN),
    ("GET", "/v1/technicians/T-A/route?day=2026-11-23", None, OWN_TECHNICIAN),
    ("GET", "/v1/technicians/T-A/shifts?first=2026-11-23&last=2026-11-24", None, OWN_TECHNICIAN),
    ("POST", "/v1/technicians/T-A/locations", PING, OWN_TECHNICIAN),
    ("PATCH", "/v1/technicians/T-A", {"name": "New name"}, STAFF_ONLY),
    ("PUT", "/v1/technicians/T-A/shifts", SHIFT, STAFF_ONLY),
    ("DELETE", "/v1/technicians/T-A", None, STAFF_ONLY),
]


@pytest.mark.usefixtures("world")
@pytest.mark.parametrize(("method", "url", "body", "expected"), TECHNICIAN_ROUTES)
def test_technician_routes(
    client: TestClient,
    headers: Headers,
    method: str,
    url: str,
    body: Any,
    expected: dict[str, int],
) -> None:
    # Callers that may not go first, so that DELETE by staff comes last.
    for who in sorted(CALLERS, key=lambda w: expected[w] == 200):
        response = _call(client, headers, who, method, url, body)
        assert response.status_code == expected[who], (who, response.text)
        if response.status_code in {403, 404}:
            assert "home_base" not in response.text


@pytest.mark.usefixtures("world")
def test_technician_create_and_list(client: TestClient, headers: Headers) -> None:
    expected_create = {**STAFF_ONLY, "admin": 201, "dispatcher": 201}
    for who in CALLERS:
        body = {"id": f"T-{who}", "name": who, "home_base": [121.45, 31.22]}
        response = _call(client, headers, who, "POST", "/v1/technicians", body)
        assert response.status_code == expected_create[who], who
    staff = {"T-A", "T-B", "T-admin", "T-dispatcher"}
    lists = {"admin": staff, "dispatcher": staff, "tech_a": {"T-A"}, "tech_b": {"T-B"}}
    for who in CALLERS:
        response = _call(client, headers, who, "GET", "/v1/technicians")
        expected = {**OWN_TECHNICIAN, "tech_b": 200}[who]
        assert response.status_code == expected, who
        if expected == 200:
            assert {t["id"] for t in response.json()["items"]} == lists[who]
