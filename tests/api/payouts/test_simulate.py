"""``POST /v1/settlement/simulate``: a candidate card against the current one."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.payouts.support import (
    CENTURY_AVENUE,
    MONDAY_10H,
    NANJING_ROAD,
    TANGZHEN,
    FinishJob,
    card,
    upload,
)

Headers = dict[str, dict[str, str]]
URL = "/v1/settlement/simulate"


def richer_repairs() -> dict[str, Any]:
    """The test card with the repair fee raised from 80.00 to 100.00 (version 2)."""
    table = card(version=2)
    table["rules"][0]["fees"]["repair"]["fee"] = "100.00"
    return table


@pytest.fixture
def history(client: TestClient, headers: Headers, finish_job: FinishJob) -> None:
    """Three settled jobs: T-A in Tangzhen and Century Avenue, T-B on Nanjing Road."""
    assert upload(client, headers["admin"], card()).status_code == 201
    jobs = [("T-A", TANGZHEN, 0), ("T-A", CENTURY_AVENUE, 3), ("T-B", NANJING_ROAD, 1)]
    for technician, place, hour in jobs:
        ticket_id = finish_job(
            technician=technician, place=place, on_site_at=MONDAY_10H + timedelta(hours=hour)
        )
        assert client.post(f"/v1/tickets/{ticket_id}/settle", headers=headers["admin"]).is_success


def money(value: dict[str, str]) -> Decimal:
    return Decimal(value["amount"])


def test_candidate_document_over_past_settled_orders(
    client: TestClient, headers: Headers, history: None
) -> None:
    body = {
        "candidate": richer_repairs(),
        "current_version": {"card_id": "test-sh", "version": 1},
        "first": "2026-11-16",
        "last": "2026-11-16",
    }
    response = client.post(URL, json=body, headers=headers["dispatcher"])
    assert response.status_code == 200, response.text
    what_if = response.json()
    assert (what_if["current_version"], what_if["candidate_version"]) == (
        "test-sh@v1",
        "test-sh@v2",
    )
    assert what_if["total"]["order_count"] == 3
    earned = client.get(
        "/v1/earnings/T-A?first=2026-11-16&last=2026-11-16", headers=headers["admin"]
    )
    t_a = sum(money(o["total"]) for o in earned.json()["orders"])
    by_tech = {c["key"]: c for c in what_if["by_technician"]}
    assert money(by_tech["T-A"]["current"]) == t_a  # the current card reproduces the payouts
    regions = {c["key"]: c["order_count"] for c in what_if["by_region"]}
    assert regions == {"zone-pudong-outer": 1, "310115": 1, "310101": 1}
    # +20.00 base in Huangpu (x1.00) with T-B's first-of-month tier: exactly +20.00.
    by_region = {c["key"]: c for c in what_if["by_region"]}
    assert money(by_region["310101"]["delta"]) == Decimal("20.00")
    assert what_if["paid_more"] == 2 and what_if["paid_less"] == 0
    assert money(what_if["total"]["delta"]) == money(what_if["gained"])


def test_filters_and_stored_candidate(client: TestClient, headers: Headers, history: None) -> None:
    assert upload(client, headers["admin"], richer_repairs()).status_code == 201
    body = {
        "candidate_version": {"card_id": "test-sh", "version": 2},
        "current_version": {"card_id": "test-sh", "version": 1},
        "first": "2026-11-01",
        "last": "2026-11-30",
        "technician_id": "T-B",
    }
    what_if = client.post(URL, json=body, headers=headers["admin"]).json()
    assert [c["key"] for c in what_if["by_technician"]] == ["T-B"]
    body = {**body, "technician_id": None, "region_id": "zone-pudong-outer"}
    what_if = client.post(URL, json=body, headers=headers["admin"]).json()
    assert what_if["total"]["order_count"] == 1


def test_orders_in_the_body(client: TestClient, headers: Headers, technicians: None) -> None:
    upload(client, headers["admin"], card())
    order = {
        "order_id": "sim-1",
        "technician_id": "X-1",
        "service_type": "repair",
        "service_at": "2026-11-20T10:00:00+08:00",
        "location": list(NANJING_ROAD),
    }
    body = {
        "candidate": richer_repairs(),
        "current_version": {"card_id": "test-sh", "version": 1},
        "orders": [order, {**order, "order_id": "sim-2", "is_urgent": True}],
    }
    response = client.post(URL, json=body, headers=headers["admin"])
    assert response.status_code == 200, response.text
    total = response.json()["total"]
    # Current: 80 + 80 + 15 (urgent); the second order is the 2nd of the month: +10 % volume.
    assert money(total["delta"]) == Decimal("20.00") + Decimal("22.00")


@pytest.mark.parametrize(
    "change",
    [
        {"candidate_version": {"card_id": "test-sh", "version": 1}},  # both candidates
        {"first": None},  # neither range nor orders
        {"last": "2026-11-01"},  # first after last
        {"orders": []},  # both sources
        {"current_version": {"card_id": "nope", "version": 1}},
        {"candidate": {"id": "broken"}},
        {"first": "2026-12-01", "last": "2026-12-31"},  # no settled orders in range
        {"limit": 3},
    ],
)
def test_bad_simulations_are_422(
    client: TestClient, headers: Headers, history: None, change: dict[str, Any]
) -> None:
    body: dict[str, Any] = {
        "candidate": richer_repairs(),
        "current_version": {"card_id": "test-sh", "version": 1},
        "first": "2026-11-16",
        "last": "2026-11-30",
    }
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    response = client.post(URL, json=body, headers=headers["admin"])
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(("who", "status"), [("tech_a", 403), ("shop_a", 403)])
def test_only_staff_simulate(client: TestClient, headers: Headers, who: str, status: int) -> None:
    body = {"candidate": card(), "first": "2026-11-01", "last": "2026-11-30"}
    assert client.post(URL, json=body, headers=headers[who]).status_code == status
    assert client.post(URL, json=body).status_code == 401
