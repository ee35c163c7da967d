"""Webhook delivery against a real HTTP receiver on 127.0.0.1: signatures, retries, backoff,
and the addresses a delivery may reach.

The worker reads a :class:`~api.clock.ManualClock`: a test moves it past a backoff instead of
sleeping through it. Its policy lets it reach the receivers' loopback address, except where a
test checks that the default refuses it; names resolve through a stub, never real DNS.
"""

import hashlib
import hmac
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.clock import ManualClock
from api.config import Settings
from api.db.tables import TicketStatusChangeRow
from api.main import create_app
from api.webhooks.delivery import (
    SIGNATURE_HEADER,
    DeliveryPolicy,
    Resolver,
    WebhookWorker,
    resolve_host,
    sign,
    verify,
)
from api.webhooks.repository import _advance
from api.webhooks.rules import IPAddress

Headers = dict[str, dict[str, str]]
HOLD_MAX_S = 10.0  # a held receiver answers by then at the latest
TICKET = {"type": "repair", "location": [121.544, 31.221], "address": "浦东新区张杨路 500 号",
          "duration_min": 60}  # fmt: skip


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings, letting subscriptions target the receivers on 127.0.0.1."""
    return settings.model_copy(update={"webhook_allow_private_urls": True})


@dataclass
class Receiver:
    """An HTTP endpoint that answers with scripted status codes and records every request.

    ``arrived`` is set at the first request. With ``hold`` given, it answers only once
    ``hold`` is set (or after ``HOLD_MAX_S``); ``was_released`` says whether that was in time.
    With ``location`` given, every answer carries it (a redirect, with a 3xx status).
    """

    statuses: list[int]
    hold: threading.Event | None = None
    location: str | None = None
    requests: list[tuple[float, dict[str, str], bytes]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    url: str = ""
    was_released: bool | None = None

    def status_for(self, n: int) -> int:
        return self.statuses[min(n, len(self.statuses) - 1)]


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    """Start receivers on free ports; each answers ``statuses`` in turn (the last one repeats),
    once ``hold`` (when given) is set, with a ``Location`` header when ``location`` is given."""
    servers: list[ThreadingHTTPServer] = []

    def start(
        statuses: list[int], hold: threading.Event | None = None, location: str | None = None
    ) -> Receiver:
        rec = Receiver(statuses, hold, location)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = rec.status_for(len(rec.requests))
                rec.requests.append((time.monotonic(), dict(self.headers), body))
                rec.arrived.set()
                if rec.hold is not None:
                    rec.was_released = rec.hold.wait(HOLD_MAX_S)
                self.send_response(status)
                if rec.location is not None:
                    self.send_header("Location", rec.location)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"boom")

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        serve = {"poll_interval": 0.02}  # shutdown() waits up to one poll (default 0.5 s)
        threading.Thread(target=server.serve_forever, kwargs=serve, daemon=True).start()
        servers.append(server)
        rec.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        return rec

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def clock() -> ManualClock:
    """The workers' clock: now, standing still until a test advances it."""
    return ManualClock(datetime.now(UTC))


def worker_on(
    session: Session, clock: ManualClock, resolve: Resolver = resolve_host, **policy: Any
) -> WebhookWorker:
    """A worker whose sessions share the test's connection (so the test still rolls back)."""
    connection = session.connection()
    params = {"max_attempts": 3, "backoff_base_s": 0.2, "backoff_max_s": 1.0, "timeout_s": 2.0,
              "allow_private_addresses": True}  # fmt: skip
    return WebhookWorker(
        sessions=lambda: Session(bind=connection, join_transaction_mode="create_savepoint"),
        policy=DeliveryPolicy(**{**params, **policy}),
        rng=random.Random(7),
        clock=clock,
        resolve=resolve,
    )


def resolving_to(*answers: str) -> tuple[Resolver, list[str]]:
    """Return a stub resolver, and the list of the names it is asked.

    Its n-th answer is ``answers[n]`` (the last one once they run out), as a rebinding name's.
    """
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[IPAddress]:
        asked.append(host)
        return [ip_address(answers[min(len(asked), len(answers)) - 1])]

    return resolve, asked


def make_ticket(client: TestClient, headers: Headers, who: str, external_id: str) -> int:
    response = client.post("/v1/tickets", json={**TICKET, "external_id": external_id},
                           headers=headers[who])  # fmt: skip
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def subscribe(client: TestClient, headers: Headers, url: str, who: str = "shop_a") -> Any:
    body = {"url": url, "event_types": ["ticket.*"]}
    response = client.post("/v1/webhooks", json=body, headers=headers[who])
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(client: TestClient, headers: Headers, session: Session, sub_id: int) -> Any:
    session.expire_all()  # the worker wrote through other sessions
    response = client.get(f"/v1/webhooks/{sub_id}/deliveries", headers=headers["shop_a"])
    assert response.status_code == 200
    return response.json()["items"]


def test_signed_delivery_retried_after_500_with_backoff(
    client: TestClient, headers: Headers, session: Session, receiver: Any, clock: ManualClock
) -> None:
    rec = receiver([500, 200])
    sub = subscribe(client, headers, rec.url)
    ticket_id = make_ticket(client, headers, "shop_a", "SO-1")
    make_ticket(client, headers, "shop_b", "SO-B")  # another source: never sent to shop-a
    worker = worker_on(session, clock)

    assert worker.run_once() == 1
    [(_, first_headers, first_body)] = rec.requests
    now_s = clock().timestamp()
    assert verify(sub["secret"], first_headers[SIGNATURE_HEADER], first_body, now_s=now_s)
    assert not verify("wrong-secret-123", first_headers[SIGNATURE_HEADER], first_body,
                      now_s=now_s)  # fmt: skip
    event = json.loads(first_body)
    assert event["type"] == "ticket.new" and event["data"]["ticket_id"] == ticket_id
    assert first_headers["X-Geodispatch-Event"] == "ticket.new"
    [pending] = deliveries(client, headers, session, sub["id"])
    assert pending["status"] == "pending" and pending["attempt_count"] == 1
    assert pending["attempts"][0]["status_code"] == 500
    assert "HTTP 500" in pending["attempts"][0]["error"]
    wait = datetime.fromisoformat(pending["next_attempt_at"]) - clock()
    assert timedelta(seconds=0.1) <= wait <= timedelta(seconds=0.2)  # base 0.2 s: [0.1, 0.2]

    clock.advance(0.09)
    assert worker.run_once() == 0  # not due yet: no early retry
    clock.advance(0.16)
    assert worker.run_once() == 1
    assert len(rec.requests) == 2
    assert rec.requests[1][2] == first_body  # the same event, byte for byte
    assert rec.requests[1][1]["X-Geodispatch-Delivery"] == first_headers["X-Geodispatch-Delivery"]
    [done] = deliveries(client, headers, session, sub["id"])
    assert done["status"] == "succeeded" and done["completed_at"] is not None
    assert [a["status_code"] for a in done["attempts"]] == [500, 200]
    assert all(a["latency_ms"] >= 0 for a in done["attempts"])
    first_at, retry_at = (datetime.fromisoformat(a["started_at"]) for a in done["attempts"])
    assert retry_at - first_at == timedelta(seconds=0.25)  # sent at the worker's clock time


def test_a_status_change_is_delivered_to_the_tickets_own_source_only(
    client: TestClient, headers: Headers, session: Session, receiver: Any, clock: ManualClock
) -> None:
    mine, theirs = receiver([200]), receiver([200])
    subscribe(client, headers, mine.url, "shop_a")
    subscribe(client, headers, theirs.url, "shop_b")
    ticket_id = make_ticket(client, headers, "shop_a", "SO-2")
    cancel = client.post(f"/v1/tickets/{ticket_id}/transitions", json={"to": "cancelled"},
                         headers=headers["shop_a"])  # fmt: skip
    assert cancel.status_code == 200, cancel.text
    worker_on(session, clock).run_once()
    assert [json.loads(body)["type"] for _, _, body in mine.requests] == [
        "ticket.new", "ticket.cancelled"
    ]  # fmt: skip
    cancelled = json.loads(mine.requests[1][2])["data"]
    assert (cancelled["from_status"], cancelled["status"]) == ("new", "cancelled")
    assert theirs.requests == []
    assert worker_on(session, clock).run_once() == 0  # the cursor moved on: nothing is sent twice
    assert len(mine.requests) == 2


def test_a_slow_endpoint_does_not_hold_up_the_others(
    client: TestClient, headers: Headers, session: Session, receiver: Any, clock: ManualClock
) -> None:
    fast = receiver([200])
    slow = receiver([200], hold=fast.arrived)  # holds its answer until the fast one arrives
    subscribe(client, headers, slow.url)  # claimed first
    subscribe(client, headers, fast.url)
    make_ticket(client, headers, "shop_a", "SO-6")
    worker = worker_on(session, clock, concurrency=2, timeout_s=HOLD_MAX_S + 5)
    assert worker.run_once() == 2
    assert slow.was_released is True  # the fast one went out while the slow one was answering
    assert len(slow.requests) == len(fast.requests) == 1


def test_gives_up_after_max_attempts_and_logs_connection_errors(
    client: TestClient, headers: Headers, session: Session, receiver: Any, clock: ManualClock
) -> None:
    rec = receiver([503])
    sub = subscribe(client, headers, rec.url)
    make_ticket(client, headers, "shop_a", "SO-3")
    worker = worker_on(session, clock, max_attempts=2, backoff_base_s=0.05, backoff_max_s=0.05)
    worker.run_once()
    clock.advance(0.06)
    worker.run_once()
    [failed] = deliveries(client, headers, session, sub["id"])
    assert failed["status"] == "failed" and failed["next_attempt_at"] is None
    assert [a["status_code"] for a in failed["attempts"]] == [503, 503]
    assert worker.run_once() == 0

    closed = subscribe(client, headers, "http://127.0.0.1:9/nothing-listens-here")
    make_ticket(client, headers, "shop_a", "SO-4")
    worker.run_once()
    [attempted] = deliveries(client, headers, session, closed["id"])
    assert attempted["attempts"][0]["status_code"] is None
    assert "ConnectError" in attempted["attempts"][0]["error"]


def test_a_public_name_resolving_to_loopback_is_refused_and_never_contacted(
    client: TestClient, headers: Headers, session: Session, receiver: Any, clock: ManualClock
) -> None:
    rec = receiver([200])
    port = urlsplit(rec.url).port
    sub = subscribe(client, headers, f"http://hooks.example.com:{port}/hook")
    make_ticket(client, headers, "shop_a", "SO-7")
    resolve, asked = resolving_to("127.0.0.1")
    worker = worker_on(session, clock, resolve, allow_private_addresses=False)  # the default
    assert worker.run_once() == 1
    assert asked == ["hooks.example.com"] and rec.requests == []
    [refused] = deliveries(client, headers, session, sub["id"])
    [attempt] = refused["attempts"]
    assert attempt["status_code"] is None
    assert attempt["error"] == (
        "refused, not a public address: hooks.example.com: 127.0.0.1 is loopback"
    )
    assert refused["status"] == "pending"  # retried later: the name may point outward again


def test_the_connection_goes_to_the_address_resolved_once_not_to_a_rebound_one(
    client: TestClient, headers: Headers, session: Session, receiver: Any, clock: ManualClock
) -> None:
    rec = receiver([200])
    port = urlsplit(rec.url).port
    subscribe(client, headers, f"http://hooks.example.com:{port}/hook")
    make_ticket(client, headers, "shop_a", "SO-8")
    resolve, asked = resolving_to("127.0.0.1", "10.255.255.1")  # rebinds after one answer
    assert worker_on(session, clock, resolve).run_once() == 1
    assert asked == ["hooks.example.com"]  # judged and connected from one answer
    [(_, sent_headers, _)] = rec.requests
    assert sent_headers["Host"] == f"hooks.example.com:{port}"


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(
    client: TestClient, headers: Headers, session: Session, receiver: Any, clock: ManualClock
) -> None:
    inside = receiver([200])
    redirecting = receiver([302], location=inside.url)
    sub = subscribe(client, headers, redirecting.url)
    make_ticket(client, headers, "shop_a", "SO-9")
    worker_on(session, clock).run_once()
    assert len(redirecting.requests) == 1 and inside.requests == []
    [attempt] = deliveries(client, headers, session, sub["id"])[0]["attempts"]
    assert attempt["status_code"] == 302
    assert attempt["error"] == f"HTTP 302: redirects are not followed (Location: {inside.url})"


def test_the_api_only_writes_rows_and_never_calls_out(
    client: TestClient, headers: Headers, session: Session
) -> None:
    sub = subscribe(client, headers, "http://10.255.255.1:81/blackhole")  # would time out
    make_ticket(client, headers, "shop_a", "SO-5")
    assert deliveries(client, headers, session, sub["id"]) == []  # until a worker runs


def test_the_app_runs_the_worker_thread_only_when_enabled(settings: Settings) -> None:
    def running() -> bool:
        return any(thread.name == "webhooks" for thread in threading.enumerate())

    for enabled in (False, True):
        app = create_app(settings.model_copy(update={"webhook_worker_enabled": enabled}))
        with TestClient(app):
            assert running() is enabled
        assert not running()
        app.state.engine.dispose()


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    policy = DeliveryPolicy(backoff_base_s=10, backoff_max_s=300)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 10), (2, 20), (3, 40), (5, 160), (6, 300), (40, 300)]:
        delays = [policy.retry_delay_s(attempt, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered


def test_signature_rejects_tampering_and_replays() -> None:
    body = b'{"id":"evt_1"}'
    header = sign("whsec_abc", 1_000_000, body)
    assert verify("whsec_abc", header, body, now_s=1_000_100)
    assert not verify("whsec_abc", header, body + b" ", now_s=1_000_100)
    assert not verify("whsec_abc", header, body, now_s=1_000_400)  # older than 5 minutes
    assert not verify("whsec_abc", "v1=deadbeef", body, now_s=1_000_000)


def test_the_documented_receiver_snippet_verifies_a_real_signature() -> None:
    secret, raw_body = "whsec_abc", b'{"id":"evt_7","type":"ticket.completed"}'
    header = sign(secret, int(time.time()), raw_body)
    t, v1 = (part.split("=", 1)[1] for part in header.split(","))
    expected = hmac.new(secret.encode(), f"{t}.".encode() + raw_body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, v1) and abs(time.time() - int(t)) <= 300


def test_cursor_waits_at_a_fresh_gap_and_passes_an_old_one() -> None:
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)

    def change(id_: int, age_s: int) -> TicketStatusChangeRow:
        return TicketStatusChangeRow(id=id_, at=now - timedelta(seconds=age_s))

    fresh = [change(5, 1), change(7, 1), change(8, 1)]
    assert _advance(4, fresh, now - timedelta(seconds=30)) == 5  # 6 may still commit
    old = [change(5, 60), change(7, 60), change(8, 1)]
    assert _advance(4, old, now - timedelta(seconds=30)) == 8  # 6 was rolled back long ago
