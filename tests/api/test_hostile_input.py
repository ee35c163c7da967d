"""Hostile input: every malformed request is a 4xx in the one error body, nothing is half-written
and the service goes on serving (issue 13, part 2).

Each case is sent through the app on the test database (SpatiaLite, or PostGIS with
``TEST_POSTGIS_ADMIN_URL``), in the test's session: a request that broke the session's
transaction (PostgreSQL refuses NUL in text, a 64-bit column refuses a larger id) would make the
next request fail, so every case ends with a read that must still succeed. The last test sends
a run of them to a real server on one keep-alive connection.
"""

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.config import Settings
from api.db.tables import LeadRow, TechnicianRow, TicketRow, WebhookSubscriptionRow
from api.demo.service import free_port

Headers = dict[str, dict[str, str]]
JSON = {"content-type": "application/json"}
BIG = 2**64  # outside 64 bits
DEEP = 10_000


def ticket(**overrides: Any) -> dict[str, Any]:
    """A valid repair ticket in Huangpu."""
    return {
        "external_id": "SO-HOSTILE",
        "type": "repair",
        "location": [121.4737, 31.2304],
        "address": "南京东路 100 号",
        "duration_min": 90,
        "time_windows": [["2026-11-23T09:00:00+08:00", "2026-11-23T12:00:00+08:00"]],
        "customer": {"name": "王女士", "phone": "+86 138 0013 8000"},
        **overrides,
    }


def raw(body: dict[str, Any], **fragments: str) -> bytes:
    """``body`` as JSON text with each ``"@name@"`` placeholder replaced by raw JSON text."""
    text = json.dumps(body, ensure_ascii=False)
    for name, fragment in fragments.items():
        text = text.replace(f'"@{name}@"', fragment)
    return text.encode()


def refused(response: Any, field: str | None = None, status: int | None = None) -> None:
    """Check a 4xx in the one error body, naming ``field`` when given."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    if status is not None:
        assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    if field is not None:
        named = [error["details"].get("field")]
        named += [e.get("field") for e in error["details"].get("errors", [])]
        assert field in named, (field, error)


@pytest.fixture
def rows(session: Session) -> Iterator[Any]:
    """Count the stored tickets, leads, technicians and subscriptions before and after."""

    def count() -> tuple[int, ...]:
        tables = (TicketRow, LeadRow, TechnicianRow, WebhookSubscriptionRow)
        return tuple(session.scalar(select(func.count()).select_from(t)) or 0 for t in tables)

    before = count()
    yield count
    assert count() == before, "a refused request wrote something"


@pytest.fixture
def serving(client: TestClient, headers: Headers) -> Iterator[None]:
    """After the case, the service (and the session it shares) still answers a plain read."""
    yield
    response = client.get("/v1/tickets", headers=headers["admin"])
    assert response.status_code == 200, response.text
    assert client.get("/health").status_code == 200


@pytest.fixture
def technician(client: TestClient, headers: Headers) -> str:
    """Technician ``T-A`` (the ``tech_a`` key's), so its routes reach their parameters."""
    body = {"id": "T-A", "name": "张伟", "home_base": [121.4451, 31.22]}
    response = client.post("/v1/technicians", json=body, headers=headers["admin"])
    assert response.status_code == 201, response.text
    return "T-A"


# Extreme dates: year 1 and 9999 overflow when moved to another zone; before 1970; no offset.
DATES = [
    ("year 1", "0001-01-01T00:00:00+08:00"),
    ("year 9999", "9999-12-31T23:00:00-12:00"),
    ("before the epoch", "1969-12-31T23:59:59Z"),
    ("no offset", "2026-11-23T09:00:00"),
    ("a number as text", "1700000000"),
    ("a date, not a time", "2026-11-23"),
]


@pytest.mark.parametrize(("why", "when"), DATES, ids=[d[0] for d in DATES])
def test_an_extreme_or_offsetless_time_is_422(
    client: TestClient, headers: Headers, rows: Any, serving: None, why: str, when: str
) -> None:
    windows = [[when, "2026-11-23T12:00:00+08:00"]]
    response = client.post(
        "/v1/tickets", json=ticket(time_windows=windows), headers=headers["shop_a"]
    )
    refused(response, "time_windows[0][0]", 422)
    response = client.post("/v1/tickets", json=ticket(sla_due_at=when), headers=headers["shop_a"])
    refused(response, "sla_due_at", 422)
    lead = {"phone": "13912345678", "captured_at": when}
    refused(client.post("/v1/leads", json=lead, headers=headers["shop_a"]), "captured_at", 422)
    refused(client.get("/v1/tickets", params={"window_from": when}, headers=headers["admin"]))


@pytest.mark.parametrize("when", [0, 1700000000, 1.5e9, True], ids=str)
def test_a_number_is_not_a_time(client: TestClient, headers: Headers, rows: Any, when: Any) -> None:
    response = client.post("/v1/tickets", json=ticket(sla_due_at=when), headers=headers["shop_a"])
    refused(response, "sla_due_at", 422)


@pytest.mark.parametrize(
    "url",
    [
        "/v1/earnings/T-A?first=0001-01-01&last=0001-01-02",
        "/v1/earnings/T-A/statement?period=day&date=9999-12-31",
        "/v1/map/kpis?day=9999-12-31",
        "/v1/map/tickets?day=0",
        "/v1/leads?created_to=1e10",
        "/v1/rate-cards/in-force?date=0001-01-01",
        "/v1/technicians/T-A/route?day=1969-12-31",
        "/v1/dispatch/availability?lon=121.47&lat=31.23&duration_min=60"
        "&window_start=0001-01-01T00:00:00Z&window_end=0001-01-01T08:00:00Z",
    ],
)
def test_extreme_dates_in_a_query_are_422(
    client: TestClient, headers: Headers, technician: str, serving: None, url: str
) -> None:
    refused(client.get(url, headers=headers["admin"]), status=422)


# Ids outside 64 bits, negative, or not numbers, in paths and bodies.
ID_PATHS = [
    ("get", f"/v1/tickets/{BIG}", "ticket_id"),
    ("get", "/v1/tickets/-1", "ticket_id"),
    ("get", f"/v1/tickets/{BIG}/history", "ticket_id"),
    ("post", f"/v1/tickets/{BIG}/settle", "ticket_id"),
    ("get", f"/v1/leads/{10**30}", "lead_id"),
    ("get", f"/v1/dispatch/runs/{BIG}", "run_id"),
    ("post", f"/v1/dispatch/runs/{BIG}/apply", "run_id"),
    ("get", f"/v1/webhooks/{BIG}/deliveries", "subscription_id"),
    ("get", f"/v1/rate-cards/shanghai-2026/versions/{2**40}", "version"),
    ("get", f"/v1/earnings/T-A/orders/{BIG}", "ticket_id"),
]


@pytest.mark.parametrize(("method", "url", "field"), ID_PATHS, ids=[p[1] for p in ID_PATHS])
def test_an_id_outside_64_bits_in_a_path_is_422_naming_it(
    client: TestClient,
    headers: Headers,
    technician: str,
    serving: None,
    method: str,
    url: str,
    field: str,
) -> None:
    who = "shop_a" if "/webhooks" in url else "admin"
    refused(client.request(method, url, headers=headers[who]), field, 422)


ID_BODIES = [
    ("/v1/dispatch/insert", {"ticket_id": BIG}, "ticket_id"),
    ("/v1/dispatch/assignments", {"ticket_id": -(2**70), "action": "unpin"}, "ticket_id"),
    ("/v1/dispatch/runs", {"scope": {"ticket_ids": [BIG]}}, "scope.TicketScope.ticket_ids[0]"),
    (
        "/v1/earnings/T-A/adjustments",
        {"kind": "resettle", "ticket_id": BIG, "memo": "x"},
        "ticket_id",
    ),
    ("/v1/dispatch/insert", {"ticket_id": "12"}, "ticket_id"),
    ("/v1/dispatch/insert", {"ticket_id": True}, "ticket_id"),
]


@pytest.mark.parametrize(("url", "body", "field"), ID_BODIES, ids=[str(b[1]) for b in ID_BODIES])
def test_an_id_outside_64_bits_in_a_body_is_422_naming_it(
    client: TestClient,
    headers: Headers,
    technician: str,
    rows: Any,
    serving: None,
    url: str,
    body: Any,
    field: str,
) -> None:
    refused(client.post(url, json=body, headers=headers["admin"]), field, 422)


# Unicode: a lone surrogate cannot be stored; right-to-left overrides, zero-width characters and
# 4-byte emoji are text like any other, stored and read back exactly.
def test_a_lone_surrogate_is_422_naming_the_field(
    client: TestClient, headers: Headers, rows: Any, serving: None
) -> None:
    body = raw(ticket(address="@a@"), a='"\\ud800 lone"')
    response = client.post("/v1/tickets", content=body, headers=headers["shop_a"] | JSON)
    refused(response, "address", 422)
    body = raw(ticket(customer={"name": "@n@"}), n='"\\udfff"')
    response = client.post("/v1/tickets", content=body, headers=headers["shop_a"] | JSON)
    refused(response, "customer.name", 422)
    body = raw({"leads": [{"phone": "13912345678", "notes": "@n@"}]}, n='"ok \\udc80"')
    response = client.post("/v1/leads/batch", content=body, headers=headers["shop_a"] | JSON)
    refused(response, "leads[0].notes", 422)


def test_bidi_zero_width_and_emoji_are_stored_exactly(client: TestClient, headers: Headers) -> None:
    tricky = "南京东路\u202e001\u202c 号\u200b\u200d 🛠️😀 \U0001f9d1\u200d\U0001f527"
    created = client.post(
        "/v1/tickets", json=ticket(address=tricky, notes=tricky), headers=headers["shop_a"]
    )
    assert created.status_code == 201, created.text
    read = client.get(f"/v1/tickets/{created.json()['id']}", headers=headers["shop_a"]).json()
    assert read["address"] == tricky and read["notes"] == tricky


# NUL: PostgreSQL refuses it in text; refused up front everywhere, naming where it was.
NUL_BODIES = [
    ("/v1/tickets", "shop_a", ticket(address="a\x00b"), "address"),
    ("/v1/tickets", "shop_a", ticket(customer={"name": "\x00"}), "customer.name"),
    ("/v1/tickets", "shop_a", ticket(external_id="SO-\x00"), "external_id"),
    ("/v1/tickets/batch", "shop_a", {"tickets": [ticket(notes="x\x00")]}, "tickets[0].notes"),
    ("/v1/leads", "shop_a", {"phone": "139\x00", "name": "王芳"}, "phone"),
    ("/v1/technicians", "admin", {"id": "T-N", "name": "a\x00",
                                  "home_base": [121.4, 31.2]}, "name"),
    ("/v1/webhooks", "shop_a", {"url": "https://a.example.cn/h", "event_types": ["ticket.*"],
                                "description": "\x00"}, "description"),
    ("/v1/settlement/simulate", "admin", {"candidate": {"id": "c\x00"}}, "candidate"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("url", "who", "body", "field"), NUL_BODIES, ids=[f"{b[0]} {b[3]}" for b in NUL_BODIES]
)
def test_a_nul_in_a_body_is_422_naming_the_field(
    client: TestClient,
    headers: Headers,
    rows: Any,
    serving: None,
    url: str,
    who: str,
    body: Any,
    field: str,
) -> None:
    refused(client.post(url, json=body, headers=headers[who]), field, 422)


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/v1/rate-cards?card_id=a%00b", "card_id"),
        ("/v1/regions?level=%00", "level"),
        ("/v1/tickets?region_id=310%00101", "region_id"),
        ("/v1/leads/funnel?campaign=x%00", "campaign"),
        ("/v1/technicians/T%00A", "path"),
        ("/v1/earnings/T%00A/ledger", "path"),
    ],
)
def test_a_nul_in_a_query_or_path_is_422_naming_it(
    client: TestClient, headers: Headers, serving: None, url: str, field: str
) -> None:
    refused(client.get(url, headers=headers["admin"]), field, 422)


def test_a_nul_in_a_csv_cell_or_a_rate_card_is_refused(
    client: TestClient, headers: Headers, rows: Any, serving: None
) -> None:
    csv_text = "name,phone,notes\n王芳,13912345678,a\x00b\n"
    response = client.post(
        "/v1/leads/import",
        content=csv_text.encode(),
        headers=headers["shop_a"] | {"content-type": "text/csv"},
    )
    refused(response, status=422)
    response = client.post(
        "/v1/leads/import",
        files={"file": ("leads.csv", csv_text.encode(), "text/csv")},
        headers=headers["shop_a"],
    )
    refused(response, status=422)
    card = 'id = "c\x00"\nversion = 1\ncurrency = "CNY"\n'
    response = client.post(
        "/v1/rate-cards",
        content=card.encode(),
        headers=headers["admin"] | {"content-type": "application/toml"},
    )
    refused(response, status=422)


# Deep nesting, 10,000 levels, in every body format the API reads.
def nested(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def nested_object(depth: int = DEEP) -> str:
    return '{"a":' * depth + "1" + "}" * depth


JSON_ROUTES = [
    ("/v1/tickets", "shop_a"),
    ("/v1/tickets/batch", "shop_a"),
    ("/v1/leads", "shop_a"),
    ("/v1/leads/batch", "shop_a"),
    ("/v1/technicians", "admin"),
    ("/v1/dispatch/runs", "admin"),
    ("/v1/dispatch/assignments", "admin"),
    ("/v1/settlement/simulate", "admin"),
    ("/v1/webhooks", "shop_a"),
    ("/v1/rate-cards", "admin"),
]


@pytest.mark.parametrize(("url", "who"), JSON_ROUTES, ids=[r[0] for r in JSON_ROUTES])
def test_json_nested_10000_deep_is_a_4xx(
    client: TestClient, headers: Headers, rows: Any, serving: None, url: str, who: str
) -> None:
    for text in (nested(), nested_object()):
        refused(client.post(url, content=text.encode(), headers=headers[who] | JSON))
    # ... and as the value of a field the model takes as free JSON or text
    for body in (
        raw(ticket(notes="@d@"), d=nested()),
        raw({"candidate": "@d@"}, d=nested_object()),
    ):
        refused(client.post(url, content=body, headers=headers[who] | JSON))


def test_a_deep_document_in_the_other_formats_is_a_4xx(
    client: TestClient, headers: Headers, rows: Any, serving: None
) -> None:
    toml = "id = " + nested() + "\n"
    response = client.post(
        "/v1/rate-cards",
        content=toml.encode(),
        headers=headers["admin"] | {"content-type": "application/toml"},
    )
    refused(response, status=422)
    csv_text = f'name,phone,notes\n王芳,13912345678,"{nested()}"\n'
    for kwargs in (
        {"content": csv_text.encode(), "headers": headers["shop_a"] | {"content-type": "text/csv"}},
        {"files": {"file": ("x.csv", csv_text.encode(), "text/csv")}, "headers": headers["shop_a"]},
    ):
        refused(client.post("/v1/leads/import", **kwargs), status=422)  # notes over 2,000
    form = {"token": nested(), "csrf_token": nested_object(50), "next": nested()}
    response = client.post("/login", data=form, follow_redirects=False)
    assert 400 <= response.status_code < 500


# Huge numbers: 1e309 is infinity to a JSON parser; 10**400 and a 5,000-digit integer.
HUGE = [
    ("duration_min", "1e309"),
    ("duration_min", str(10**400)),
    ("duration_min", "9" * 5000),
    ("location", "[1e309, 31.2]"),
    ("location", f"[{10**400}, 31.2]"),
    ("demand", "-1e309"),
]


@pytest.mark.parametrize(("field", "number"), HUGE, ids=[f"{h[0]}={h[1][:12]}" for h in HUGE])
def test_a_huge_number_is_a_4xx(
    client: TestClient, headers: Headers, rows: Any, serving: None, field: str, number: str
) -> None:
    body = raw(ticket(**{field: "@n@"}), n=number)
    response = client.post("/v1/tickets", content=body, headers=headers["shop_a"] | JSON)
    refused(response)
    if response.status_code == 422:
        refused(response, field if field != "location" else "location[0]")


@pytest.mark.parametrize(
    "url", ["/v1/regions/locate?lon=1e309&lat=31", f"/v1/tickets?limit={10**400}"]
)
def test_a_huge_number_in_a_query_is_422(client: TestClient, headers: Headers, url: str) -> None:
    refused(client.get(url, headers=headers["admin"]), status=422)


# What a lax coercion would have guessed.
COERCIONS = [
    ("location", [True, False], "location[0]"),
    ("location", ["121.47", "31.23"], "location[0]"),
    ("duration_min", "90", "duration_min"),
    ("duration_min", 90.5, "duration_min"),
    ("duration_min", True, "duration_min"),
    ("demand", False, "demand"),
    ("units", "2", "units"),
    ("skills", {"aircon": "2"}, "skills.aircon"),
]


@pytest.mark.parametrize(
    ("field", "value", "named"), COERCIONS, ids=[f"{c[0]}={c[1]!r}" for c in COERCIONS]
)
def test_a_coercion_that_would_guess_is_refused(
    client: TestClient, headers: Headers, rows: Any, field: str, value: Any, named: str
) -> None:
    response = client.post("/v1/tickets", json=ticket(**{field: value}), headers=headers["shop_a"])
    refused(response, named, 422)


def test_flags_and_counts_elsewhere_refuse_guesses(
    client: TestClient, headers: Headers, technician: str, rows: Any, serving: None
) -> None:
    hook = {"url": "https://a.example.cn/h", "event_types": ["ticket.*"], "is_active": 0}
    refused(client.post("/v1/webhooks", json=hook, headers=headers["shop_a"]), "is_active", 422)
    pings = {"pings": [{"location": [121.4, 31.2], "recorded_at": 0, "accuracy_m": False}]}
    response = client.post("/v1/technicians/T-A/locations", json=pings, headers=headers["tech_a"])
    refused(response, "pings[0].recorded_at", 422)
    body = {"leads": [{"phone": "13912345678", "location": ["121.5", 31.2]}]}
    refused(client.post("/v1/leads/batch", json=body, headers=headers["shop_a"]), status=422)


# Empty bodies and wrong content types.
@pytest.mark.parametrize(
    ("url", "who", "content_type", "status"),
    [
        ("/v1/tickets", "shop_a", "application/json", 422),
        ("/v1/tickets/batch", "shop_a", "application/json", 422),
        ("/v1/leads/batch", "shop_a", "application/json", 422),
        ("/v1/dispatch/runs", "admin", "application/json", 422),
        ("/v1/rate-cards", "admin", "application/toml", 422),
        ("/v1/leads/import", "shop_a", "text/csv", 422),
    ],
)
def test_an_empty_body_is_a_4xx(
    client: TestClient,
    headers: Headers,
    rows: Any,
    serving: None,
    url: str,
    who: str,
    content_type: str,
    status: int,
) -> None:
    response = client.post(url, content=b"", headers=headers[who] | {"content-type": content_type})
    refused(response, status=status)


@pytest.mark.parametrize(
    ("url", "who", "content_type", "body"),
    [
        ("/v1/tickets", "shop_a", "text/plain", json.dumps(ticket()).encode()),
        ("/v1/tickets", "shop_a", "application/x-www-form-urlencoded", b"external_id=SO-9"),
        ("/v1/tickets", "shop_a", "application/xml", b"<ticket/>"),
        ("/v1/tickets", "shop_a", "application/json", '{"address": "\xe9"}'.encode("latin-1")),
        ("/v1/tickets", "shop_a", "application/json", b'{"external_id": "SO-9",'),
        ("/v1/rate-cards", "admin", "text/csv", b"id,version\nx,1\n"),
        ("/v1/leads/import", "shop_a", "application/json", b'{"name": "x"}'),
        ("/v1/leads/import", "shop_a", "multipart/form-data; boundary=x", b"--x\r\nbroken"),
    ],
)
def test_a_wrong_or_broken_content_type_is_a_4xx(
    client: TestClient,
    headers: Headers,
    rows: Any,
    serving: None,
    url: str,
    who: str,
    content_type: str,
    body: bytes,
) -> None:
    refused(client.post(url, content=body, headers=headers[who] | {"content-type": content_type}))


def test_a_keep_alive_connection_survives_a_run_of_hostile_requests(
    engine: Any, settings: Settings, live: Any
) -> None:
    # The real app on the test database, served by uvicorn: hostile requests one after the
    # other on one socket, each answered 4xx in the error body, then a valid one still served.
    app, auth, _source = live
    token = auth["Authorization"]
    requests = [
        ("POST", "/v1/tickets", raw(ticket(address="@a@"), a='"\\ud800"')),
        ("POST", "/v1/tickets", json.dumps(ticket(address="a\x00b")).encode()),
        ("POST", "/v1/tickets", nested().encode()),
        ("POST", "/v1/tickets", raw(ticket(duration_min="@n@"), n="9" * 5000)),
        ("GET", f"/v1/tickets/{BIG}", b""),
        ("GET", "/v1/tickets?region_id=%00", b""),
        ("POST", "/v1/tickets", b""),
    ]
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    answers = []
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            stream = sock.makefile("rb")
            for method, path, body in requests:
                answers.append(_exchange(sock, stream, method, path, body, token))
            answers.append(_exchange(sock, stream, "GET", "/v1/tickets", b"", token))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    for status, headers, body in answers[:-1]:
        assert 400 <= status < 500 and headers.get("connection") != "close", (status, body)
        assert set(json.loads(body)["error"]) == {"code", "message", "details", "request_id"}
    assert answers[-1][0] == 200, answers[-1]


def _exchange(
    sock: socket.socket, stream: Any, method: str, path: str, body: bytes, token: str
) -> tuple[int, dict[str, str], bytes]:
    """Send one keep-alive request on ``sock``; read its status, headers and body."""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: test\r\nAuthorization: {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    status = int(stream.readline().split()[1])
    headers = {}
    while (line := stream.readline().decode().strip()) != "":
        name, _, value = line.partition(":")
        headers[name.lower()] = value.strip()
    return status, headers, stream.read(int(headers["content-length"]))


@pytest.mark.parametrize("crs", ["wgs84", "gcj02", "bd09"])
def test_subnormal_coordinates_are_stored_or_refused_never_a_500(
    client: TestClient, headers: Headers, serving: None, crs: str
) -> None:
    # Found by the fuzzer on PostGIS: [-1.98e-243, 2.2e-311] in BD-09 answered 500.
    lead = {"phone": "\U000c160aBCH", "location": [-1.9779755579312954e-243, 2.225073858507e-311]}
    body = {"leads": [lead | {"crs": crs}]}
    response = client.post("/v1/leads/batch", json=body, headers=headers["shop_a"])
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        refused(response)
