"""Every size limit of the API is refused over HTTP, naming the limit, and stores nothing.

Page sizes (``limit``, ``n_offers``) are 422 above their maximum and at 0, and accepted at the
maximum itself; a lead batch over 1,000 items, a CSV import over 10,000 rows or over the body
size limit, and a dispatch run over ``dispatch_max_technicians`` are refused before anything is
written. Every refusal carries the one error body
``{"error": {"code", "message", "details", "request_id"}}``.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.config import Settings
from api.db.tables import DispatchRunRow, LeadRow
from api.deps import get_session
from api.main import create_app
from tests.api.dispatch.support import add_technician, add_ticket, at, submit

Headers = dict[str, dict[str, str]]
CSV_ROW_CAP = 10_000  # api.leads.router.MAX_CSV_ROWS, restated so a change shows here
LEAD_BATCH_CAP = 1_000  # api.leads.schemas.MAX_LEAD_BATCH


def refusal(response: Any, status: int) -> dict[str, Any]:
    """Check the status and the one error body shape; return the ``error`` object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "request_id"}
    assert body["error"]["request_id"] == response.headers["X-Request-ID"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


def count(session: Session, column: Any) -> int:
    return int(session.scalar(select(func.count(column))) or 0)


@contextmanager
def client_with(settings: Settings, session: Session, **overrides: Any) -> Iterator[TestClient]:
    """A client on an app built with ``overrides`` to its settings, on the test's session."""
    app = create_app(settings.model_copy(update=overrides))
    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app) as test_client:
        yield test_client
    app.state.engine.dispose()


@pytest.fixture
def subscription(client: TestClient, headers: Headers) -> int:
    """A webhook subscription of shop-a, whose delivery log the tests page through."""
    body = {"url": "https://shop-a.example.cn/hooks", "event_types": ["ticket.completed"]}
    response = client.post("/v1/webhooks", json=body, headers=headers["shop_a"])
    assert response.status_code == 201, response.text
    subscription_id: int = response.json()["id"]
    return subscription_id


PAGE_LIMITS = [
    # (caller, method, path, parameter, maximum), the maxima as the routes declare them
    ("dispatcher", "GET", "/v1/leads/nurture/due", "limit", 200),
    ("admin", "POST", "/v1/settlement/pending", "limit", 1000),
    ("tech_a", "GET", "/v1/earnings/{technician}/ledger", "limit", 500),
    ("shop_a", "GET", "/v1/webhooks/{subscription}/deliveries", "limit", 200),
]


@pytest.mark.parametrize(("who", "method", "path", "name", "maximum"), PAGE_LIMITS)
def test_page_limits_are_422_above_the_maximum_and_at_zero(
    client: TestClient,
    headers: Headers,
    technician: str,
    subscription: int,
    who: str,
    method: str,
    path: str,
    name: str,
    maximum: int,
) -> None:
    path = path.format(technician=technician, subscription=subscription)

    def ask(value: int) -> Any:
        return client.request(method, path, params={name: value}, headers=headers[who])

    assert ask(maximum).status_code == 200, ask(maximum).text
    for value, bound in ((maximum + 1, f"less than or equal to {maximum}"), (0, "greater than")):
        error = refusal(ask(value), 422)
        assert error["code"] == "validation_error"
        assert error["message"].startswith(f"{name}: ") and bound in error["message"]
        [problem] = error["details"]["errors"]
        assert (problem["field"], problem["in"], problem["input"]) == (name, "query", str(value))


def test_n_offers_is_422_above_twenty_and_at_zero(client: TestClient, headers: Headers) -> None:
    def ask(n_offers: int) -> Any:
        params = {
            "lon": 121.476, "lat": 31.228, "duration_min": 60, "n_offers": n_offers,
            "window_start": at(10).isoformat(), "window_end": at(14).isoformat(),
        }  # fmt: skip
        return client.get("/v1/dispatch/availability", params=params, headers=headers["admin"])

    assert ask(20).status_code == 200, ask(20).text
    for value, bound in ((21, "less than or equal to 20"), (0, "greater than or equal to 1")):
        error = refusal(ask(value), 422)
        assert error["message"].startswith("n_offers: ") and bound in error["message"]
        assert error["details"]["errors"][0]["field"] == "n_offers"


def test_lead_batch_over_the_cap_is_422_and_stores_nothing(
    client: TestClient, headers: Headers, session: Session
) -> None:
    leads = [{"name": "王芳", "phone": f"1391234{i:04d}"} for i in range(LEAD_BATCH_CAP + 1)]
    response = client.post("/v1/leads/batch", json={"leads": leads}, headers=headers["shop_a"])
    error = refusal(response, 422)
    assert error["code"] == "validation_error"
    assert error["message"].startswith("leads: ") and str(LEAD_BATCH_CAP) in error["message"]
    assert error["details"]["errors"][0]["field"] == "leads"
    assert count(session, LeadRow.id) == 0


def test_csv_import_over_the_row_cap_is_422_and_stores_nothing(
    client: TestClient, headers: Headers, session: Session
) -> None:
    # The cap is a module constant, not a setting: the real cap plus one row is ~150 kB.
    rows = "".join(f"王芳,1391{i:07d}\n" for i in range(CSV_ROW_CAP + 1))
    response = client.post(
        "/v1/leads/import",
        content=f"name,phone\n{rows}".encode(),
        headers={**headers["shop_a"], "Content-Type": "text/csv"},
    )
    error = refusal(response, 422)
    assert error["code"] == "validation_error"
    assert error["message"] == f"file: more than {CSV_ROW_CAP} rows; split the file"
    assert error["details"]["field"] == "file"
    assert count(session, LeadRow.id) == 0


def test_csv_import_over_the_body_size_limit_is_413_and_stores_nothing(
    settings: Settings, session: Session, headers: Headers
) -> None:
    rows = "".join(f"王芳,1391{i:07d}\n" for i in range(200))  # ~4 kB, over the 1 kB cap
    with client_with(settings, session, max_body_bytes=1024) as small:
        response = small.post(
            "/v1/leads/import",
            content=f"name,phone\n{rows}".encode(),
            headers={**headers["shop_a"], "Content-Type": "text/csv"},
        )
    error = refusal(response, 413)
    assert error["code"] == "payload_too_large"
    assert "1024 bytes" in error["message"] and error["details"] == {"max_bytes": 1024}
    assert count(session, LeadRow.id) == 0


def test_dispatch_run_over_the_technician_cap_is_422_and_stores_no_run(
    settings: Settings, session: Session, headers: Headers
) -> None:
    add_technician(session, "T-A", (121.4737, 31.2304))
    add_technician(session, "T-B", (121.485, 31.235))
    add_ticket(session, (121.48, 31.22))
    runs_before = count(session, DispatchRunRow.id)
    with client_with(settings, session, dispatch_max_technicians=1) as capped:
        response = submit(capped, headers["dispatcher"], time_limit_s=1)
    error = refusal(response, 422)
    assert error["code"] == "problem_too_large"
    assert "2 technicians" in error["message"] and "1 technicians per run" in error["message"]
    assert error["details"]["n_technicians"] == 2 and error["details"]["max_technicians"] == 1
    # One ticket is far under the default ticket cap: the technicians alone are over.
    assert error["details"]["n_tickets"] == 1 and error["details"]["field"] == "scope"
    assert count(session, DispatchRunRow.id) == runs_before
