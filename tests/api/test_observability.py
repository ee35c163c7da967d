"""Request ids, JSON log lines and ``GET /metrics`` (docs/operations.md)."""

import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from api.config import Settings
from api.db.tables import DispatchRunRow
from api.observability.logs import RequestIdFilter, json_formatter, logging_config
from api.observability.request_ids import current_request_id
from api.webhooks import repository as webhook_repo

Headers = dict[str, dict[str, str]]
TICKET = {"type": "repair", "location": [121.544, 31.221], "address": "浦东新区张杨路 500 号",
          "duration_min": 60}  # fmt: skip
MISSING_TICKET = "/v1/tickets/987654"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings, letting a subscription target an address on 127.0.0.1."""
    return settings.model_copy(update={"webhook_allow_private_urls": True})


@pytest.fixture
def request_records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Captured log records at INFO, each given its ``request_id`` as the service's handler does."""
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(RequestIdFilter())
    return caplog


def _is_generated(request_id: str) -> bool:
    return len(request_id) == 32 and all(c in "0123456789abcdef" for c in request_id)


def test_a_sane_client_request_id_is_echoed(client: TestClient) -> None:
    response = client.get("/health", headers={"X-Request-ID": "checkout-42.retry_1"})
    assert response.headers["X-Request-ID"] == "checkout-42.retry_1"


@pytest.mark.parametrize("sent", [None, "", "two words", "a/b", "x" * 65, "<script>"])
def test_an_absent_or_insane_request_id_is_replaced_by_a_new_one(
    client: TestClient, sent: str | None
) -> None:
    headers = {} if sent is None else {"X-Request-ID": sent}
    first = client.get("/health", headers=headers).headers["X-Request-ID"]
    second = client.get("/health", headers=headers).headers["X-Request-ID"]
    assert _is_generated(first) and _is_generated(second) and first != second


def test_a_404_body_and_its_request_log_line_carry_the_request_id(
    client: TestClient, headers: Headers, request_records: pytest.LogCaptureFixture
) -> None:
    sent = {**headers["admin"], "X-Request-ID": "find-missing-1"}
    response = client.get(MISSING_TICKET, headers=sent)
    assert response.status_code == 404
    assert response.json()["error"]["request_id"] == "find-missing-1"
    [line] = [r for r in request_records.records if r.name == "geodispatch.request"]
    assert line.request_id == "find-missing-1"  # type: ignore[attr-defined]
    assert line.route == "/v1/tickets/{ticket_id}"  # type: ignore[attr-defined]
    assert (line.method, line.path, line.status) == ("GET", MISSING_TICKET, 404)  # type: ignore[attr-defined]
    assert line.duration_ms >= 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("POST", "/v1/tickets", 422), ("GET", "/no/such/page", 404), ("GET", "/v1/tickets", 401)],
)
def test_every_error_body_carries_the_generated_request_id(
    client: TestClient, headers: Headers, method: str, path: str, status: int
) -> None:
    sent = {} if status == 401 else headers["admin"]
    response = client.request(method, path, json={"type": 7}, headers=sent)
    assert response.status_code == status
    assert response.json()["error"]["request_id"] == response.headers["X-Request-ID"]


def test_a_refused_oversized_body_carries_the_request_id(settings: Settings) -> None:
    from api.main import create_app

    app = create_app(settings.model_copy(update={"max_body_bytes": 10}))
    with TestClient(app) as client:
        response = client.post("/v1/tickets", content=b"x" * 100, headers={"X-Request-ID": "big"})
    app.state.engine.dispose()
    assert response.status_code == 413
    assert response.json()["error"]["request_id"] == "big"
    assert response.headers["X-Request-ID"] == "big"


def test_a_sync_endpoint_in_the_thread_pool_logs_with_the_request_id(
    client: TestClient, request_records: pytest.LogCaptureFixture
) -> None:
    def sync_endpoint() -> dict[str, str | None]:
        logging.getLogger("tests.sync_endpoint").info("working in a worker thread")
        return {"request_id": current_request_id()}

    client.app.add_api_route("/test/sync", sync_endpoint)  # type: ignore[attr-defined]
    response = client.get("/test/sync", headers={"X-Request-ID": "in-thread"})
    assert response.json() == {"request_id": "in-thread"}
    [line] = [r for r in request_records.records if r.name == "tests.sync_endpoint"]
    assert line.request_id == "in-thread"  # type: ignore[attr-defined]


def test_a_json_line_is_one_object_with_the_request_id_null_outside_a_request() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("tests.json_line")
    logger.addHandler(handler)
    try:
        logger.warning("ticket %s late", 7, extra={"ticket_id": 7})
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["message"] == "ticket 7 late" and line["level"] == "WARNING"
    assert line["logger"] == "tests.json_line" and line["ticket_id"] == 7
    assert line["request_id"] is None and "time" in line


@pytest.fixture
def service_log() -> Iterator[io.StringIO]:
    """What the root logger writes through the service's JSON formatter and filter (at INFO).

    Built from :func:`logging_config`'s own entries; applying the whole configuration with
    ``dictConfig`` would close pytest's capturing handlers.
    """
    config = logging_config("json", "info")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(config["formatters"]["service"]["()"]())
    handler.addFilter(config["filters"]["request_id"]["()"]())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def test_with_the_service_configuration_every_line_of_a_request_is_json(
    client: TestClient, headers: Headers, service_log: io.StringIO
) -> None:
    client.get(MISSING_TICKET, headers={**headers["admin"], "X-Request-ID": "json-404"})
    lines = [json.loads(line) for line in service_log.getvalue().splitlines()]
    [request_line] = [line for line in lines if line["logger"] == "geodispatch.request"]
    assert request_line["request_id"] == "json-404" and request_line["status"] == 404
    assert request_line["route"] == "/v1/tickets/{ticket_id}" and request_line["level"] == "INFO"


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(client: TestClient, headers: Headers) -> Samples:
    """Return every sample of ``/metrics``, keyed by name and sorted label values."""
    response = client.get("/metrics", headers=headers["admin"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_count_requests_by_route_template_and_status(
    client: TestClient, headers: Headers
) -> None:
    client.get(MISSING_TICKET, headers=headers["admin"])
    client.get("/no/such/page/12345")
    samples = _scrape(client, headers)
    by_template = (("method", "GET"), ("route", "/v1/tickets/{ticket_id}"), ("status", "404"))
    assert samples[("geodispatch_http_requests_total", by_template)] == 1
    assert samples[("geodispatch_http_request_duration_seconds_count", by_template)] == 1
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert samples[("geodispatch_http_requests_total", unmatched)] == 1
    assert not any("987654" in str(labels) or "12345" in str(labels) for _, labels in samples)
    for gauge in ("size", "checked_out", "overflow"):
        assert samples[(f"geodispatch_db_pool_{gauge}", ())] >= 0


def test_metrics_read_the_run_queue_and_the_webhook_backlog(
    client: TestClient, headers: Headers, session: Session
) -> None:
    before = _scrape(client, headers)
    now = datetime.now(UTC)
    session.add(
        DispatchRunRow(
            scope={"ticket_ids": []}, region_id=None, day=date(2026, 3, 2), params={},
            status="queued", phase="queued", progress=0.0, n_orders=0, n_technicians=0,
            ticket_versions={}, created_by="test", created_at=now,
        )
    )  # fmt: skip
    body = {"url": "http://127.0.0.1:9/hook", "event_types": ["ticket.*"]}
    assert client.post("/v1/webhooks", json=body, headers=headers["shop_a"]).status_code == 201
    ticket = {**TICKET, "external_id": "SO-metrics"}
    assert client.post("/v1/tickets", json=ticket, headers=headers["shop_a"]).status_code == 201
    assert webhook_repo.enqueue_changes(session, now=now) == 1
    after = _scrape(client, headers)

    def grew(name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
        return after[(name, labels)] - before[(name, labels)]

    assert grew("geodispatch_dispatch_runs", (("status", "queued"),)) == 1
    assert grew("geodispatch_dispatch_runs", (("status", "running"),)) == 0
    assert grew("geodispatch_webhook_deliveries_pending") == 1
    assert after[("geodispatch_webhook_oldest_pending_age_seconds", ())] >= 0


@pytest.mark.parametrize("caller", ["dispatcher", "shop_a", None])
def test_metrics_need_an_admin_key(
    client: TestClient, headers: Headers, caller: str | None
) -> None:
    response = client.get("/metrics", headers=headers[caller] if caller else {})
    assert response.status_code == (403 if caller else 401)
    assert response.json()["error"]["request_id"] == response.headers["X-Request-ID"]


def test_metrics_stay_out_of_the_openapi_document(client: TestClient) -> None:
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_log_lines_go_to_stderr_as_it_is_when_written() -> None:
    # A CLI runner or a test may swap sys.stderr and close it; later lines must not fail.
    handler_config = logging_config("json", "info")["handlers"]["stderr"]
    handler = handler_config["()"]()
    record = logging.LogRecord("geodispatch.test", logging.INFO, __file__, 1, "hello", None, None)
    handler.setFormatter(json_formatter())
    handler.addFilter(RequestIdFilter())
    written = []
    for _ in range(2):
        swapped = io.StringIO()
        previous, sys.stderr = sys.stderr, swapped
        try:
            handler.handle(record)
        finally:
            sys.stderr = previous
        written.append(swapped.getvalue())
        swapped.close()  # as a runner closes its capture
    assert [json.loads(line)["message"] for line in written] == ["hello", "hello"]
