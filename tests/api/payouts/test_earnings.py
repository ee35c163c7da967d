"""``/v1/earnings``: breakdowns, statements, ledger, withdrawals, corrections, who sees what."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.tickets.rules import TicketStatus
from tests.api.payouts.support import MONDAY_10H, NANJING_ROAD, TANGZHEN, FinishJob, card, upload

Headers = dict[str, dict[str, str]]


@pytest.fixture
def settled(client: TestClient, headers: Headers, finish_job: FinishJob) -> list[dict[str, Any]]:
    """Two settled jobs of T-A on Monday 2026-11-16 (Tangzhen 10:00, Nanjing Road 13:00)."""
    assert upload(client, headers["admin"], card()).status_code == 201
    results = []
    for place, hour in ((TANGZHEN, 0), (NANJING_ROAD, 3)):
        ticket_id = finish_job(place=place, on_site_at=MONDAY_10H + timedelta(hours=hour))
        response = client.post(f"/v1/tickets/{ticket_id}/settle", headers=headers["admin"])
        assert response.status_code == 200, response.text
        results.append(response.json())
    return results


def amount(money: dict[str, str]) -> Decimal:
    assert set(money) == {"amount", "currency"} and isinstance(money["amount"], str)
    return Decimal(money["amount"])


def total_of(settled: list[dict[str, Any]]) -> Decimal:
    return sum((amount(s["total"]) for s in settled), Decimal(0))


def test_earnings_list_every_line_and_the_balance(
    client: TestClient, headers: Headers, settled: list[dict[str, Any]]
) -> None:
    response = client.get(
        "/v1/earnings/T-A?first=2026-11-01&last=2026-11-30", headers=headers["tech_a"]
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [o["ticket_id"] for o in body["orders"]] == [s["ticket_id"] for s in settled]
    line = body["orders"][0]["lines"][1]
    assert set(line) == {
        "code", "label_zh", "label_en", "basis", "rate", "amount", "rule_id", "rate_card_version",
    }  # fmt: skip
    assert line["rate_card_version"] == "test-sh@v1"
    assert line["code"] == "region_coefficient" and "1.2" in line["label_en"]
    assert amount(body["balance"]) == total_of(settled)
    empty = client.get(
        "/v1/earnings/T-A?first=2026-10-01&last=2026-10-31", headers=headers["admin"]
    )
    assert empty.json()["orders"] == []


def test_statements_for_a_period_and_a_range(
    client: TestClient, headers: Headers, settled: list[dict[str, Any]]
) -> None:
    week = client.get(
        "/v1/earnings/T-A/statement?period=week&date=2026-11-18", headers=headers["tech_a"]
    )
    assert week.status_code == 200, week.text
    body = week.json()
    assert (body["period_key"], body["first"], body["last"]) == (
        "2026-W47",
        "2026-11-16",
        "2026-11-22",
    )
    assert body["order_count"] == 2
    assert amount(body["earnings"]) == amount(body["payable"]) == total_of(settled)
    components = {c["code"]: amount(c["amount"]) for c in body["by_component"]}
    assert components["base_fee"] == Decimal("160.00")
    assert sum(components.values()) == total_of(settled)
    assert body["tier_reached"] is not None
    day = client.get(
        "/v1/earnings/T-A/statement?first=2026-11-17&last=2026-11-30", headers=headers["admin"]
    ).json()
    assert (day["period"], day["order_count"], amount(day["earnings"])) == ("range", 0, 0)
    for bad in ("period=week", "first=2026-11-01", "period=year&date=2026-11-01"):
        response = client.get(f"/v1/earnings/T-A/statement?{bad}", headers=headers["admin"])
        assert response.status_code == 422, bad


def test_withdrawals_stop_at_the_balance(
    client: TestClient, headers: Headers, settled: list[dict[str, Any]]
) -> None:
    balance = total_of(settled)
    url = "/v1/earnings/T-A/withdrawals"
    too_much = {"amount": {"amount": str(balance + Decimal("0.01")), "currency": "CNY"}}
    refused = client.post(url, json=too_much, headers=headers["tech_a"])
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "insufficient_balance"
    assert Decimal(error["details"]["available"]) == balance
    assert Decimal(error["details"]["requested"]) == balance + Decimal("0.01")
    part = {"amount": {"amount": "100.00", "currency": "CNY"}, "memo": "WX-1"}
    done = client.post(url, json=part, headers=headers["tech_a"])
    assert done.status_code == 201, done.text
    assert [(e["kind"], e["amount"]["amount"]) for e in done.json()["entries"]] == [
        ("withdrawal", "-100.00")
    ]
    assert amount(done.json()["balance"]) == balance - 100
    rest = {"amount": {"amount": str(balance - 100), "currency": "CNY"}}
    assert client.post(url, json=rest, headers=headers["admin"]).status_code == 201
    one_fen = {"amount": {"amount": "0.01"}}
    assert client.post(url, json=one_fen, headers=headers["tech_a"]).status_code == 409
    ledger = client.get("/v1/earnings/T-A/ledger", headers=headers["tech_a"]).json()
    assert amount(ledger["balance"]) == 0
    assert [e["kind"] for e in ledger["entries"]] == [
        "withdrawal",
        "withdrawal",
        "earning",
        "earning",
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"amount": {"amount": 10.5, "currency": "CNY"}},  # a float
        {"amount": {"amount": "-5.00"}},
        {"amount": {"amount": "0"}},
        {"amount": {"amount": "1.001"}},
        {"amount": {"amount": "NaN"}},
        {"amount": {"amount": "5.00", "currency": "RMB"}},
        {"amount": {"amount": "5.00"}, "status": "paid"},
    ],
)
def test_bad_withdrawals_are_422(
    client: TestClient, headers: Headers, settled: list[dict[str, Any]], body: dict[str, Any]
) -> None:
    response = client.post("/v1/earnings/T-A/withdrawals", json=body, headers=headers["tech_a"])
    assert response.status_code == 422, response.text
    ledger = client.get("/v1/earnings/T-A/ledger", headers=headers["tech_a"]).json()
    assert [e["kind"] for e in ledger["entries"]] == ["earning", "earning"]


def test_adjustment_and_resettlement_under_a_new_version(
    client: TestClient, headers: Headers, settled: list[dict[str, Any]]
) -> None:
    url = "/v1/earnings/T-A/adjustments"
    bonus = {"kind": "adjustment", "amount": {"amount": "-12.50"}, "memo": "filter"}
    adjusted = client.post(url, json=bonus, headers=headers["admin"])
    assert adjusted.status_code == 201, adjusted.text
    assert amount(adjusted.json()["balance"]) == total_of(settled) - Decimal("12.50")
    first = settled[0]
    same = {"kind": "resettle", "ticket_id": first["ticket_id"], "memo": "check"}
    unchanged = client.post(url, json=same, headers=headers["admin"])
    assert unchanged.status_code == 201 and unchanged.json()["entries"] == []
    # v2 raises the repair fee from 16 November, the day of the jobs: it supersedes v1.
    raised = card(version=2, effective_from="2026-11-16")
    raised["rules"][0]["fees"]["repair"]["fee"] = "90.00"
    assert upload(client, headers["admin"], raised).status_code == 201
    corrected = client.post(url, json=same, headers=headers["admin"])
    assert corrected.status_code == 201, corrected.text
    entries = corrected.json()["entries"]
    assert [e["kind"] for e in entries] == ["reversal", "earning"]
    assert amount(entries[0]["amount"]) == -amount(first["total"])
    assert entries[0]["reverses_entry_id"] is not None
    assert amount(entries[1]["amount"]) > amount(first["total"])  # 90 instead of 80, x1.2
    earnings = client.get(
        "/v1/earnings/T-A?first=2026-11-16&last=2026-11-16", headers=headers["admin"]
    ).json()
    versions = {o["ticket_id"]: o["rate_card_version"] for o in earnings["orders"]}
    assert versions[first["ticket_id"]] == "test-sh@v2"
    assert len(earnings["orders"]) == 2  # the reversed settlement no longer shows
    again = client.post(url, json=same, headers=headers["admin"])
    assert again.json()["entries"] == []  # settling twice under v2 adds nothing


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "adjustment", "memo": "no amount"},
        {"kind": "adjustment", "amount": {"amount": "5.00"}, "memo": ""},
        {"kind": "resettle", "memo": "no ticket"},
        {"kind": "refund", "amount": {"amount": "5.00"}, "memo": "x"},
        {"kind": "adjustment", "amount": {"amount": "10000.01"}, "memo": "a slipped digit"},
        {"kind": "adjustment", "amount": {"amount": "-999999999999"}, "memo": "far too much"},
        {"kind": "adjustment", "amount": {"amount": "0.00"}, "memo": "nothing"},
    ],
)
def test_bad_adjustments_are_422(
    client: TestClient, headers: Headers, technicians: None, body: Any
) -> None:
    response = client.post("/v1/earnings/T-A/adjustments", json=body, headers=headers["admin"])
    assert response.status_code == 422
    ledger = client.get("/v1/earnings/T-A/ledger", headers=headers["admin"]).json()
    assert not [e for e in ledger["entries"] if e["kind"] == "adjustment"]  # nothing written


def test_an_adjustment_at_the_bound_is_accepted_for_approval(
    client: TestClient, headers: Headers, technicians: None
) -> None:
    body = {"kind": "adjustment", "amount": {"amount": "-10000.00"}, "memo": "at the bound"}
    response = client.post("/v1/earnings/T-A/adjustments", json=body, headers=headers["admin"])
    assert response.status_code == 202, response.text  # above the approval amount: four eyes
    assert (response.json()["status"], response.json()["amount"]["amount"]) == (
        "pending", "-10000.00",
    )  # fmt: skip


def test_resettling_someone_elses_ticket_is_404(
    client: TestClient, headers: Headers, settled: list[dict[str, Any]]
) -> None:
    body = {"kind": "resettle", "ticket_id": settled[0]["ticket_id"], "memo": "x"}
    response = client.post("/v1/earnings/T-B/adjustments", json=body, headers=headers["admin"])
    assert response.status_code == 404


READS = ["", "/statement?period=month&date=2026-11-16", "/ledger"]


@pytest.mark.parametrize(
    ("who", "own", "other"),
    [
        ("admin", 200, 200),
        ("dispatcher", 200, 200),
        ("tech_a", 200, 403),
        ("tech_b", 403, 200),
        ("shop_a", 403, 403),
    ],
)
def test_who_sees_whose_earnings(
    client: TestClient,
    headers: Headers,
    settled: list[dict[str, Any]],
    who: str,
    own: int,
    other: int,
) -> None:
    for suffix in READS:
        assert client.get(f"/v1/earnings/T-A{suffix}", headers=headers[who]).status_code == own
        assert client.get(f"/v1/earnings/T-B{suffix}", headers=headers[who]).status_code == other
        assert client.get(f"/v1/earnings/T-A{suffix}").status_code == 401


@pytest.mark.parametrize(
    ("who", "withdraw", "adjust"),
    [
        ("admin", 201, 201),
        ("dispatcher", 403, 403),
        ("tech_a", 201, 403),
        ("tech_b", 403, 403),
        ("shop_a", 403, 403),
    ],
)
def test_who_moves_money(
    client: TestClient,
    headers: Headers,
    settled: list[dict[str, Any]],
    who: str,
    withdraw: int,
    adjust: int,
) -> None:
    url = "/v1/earnings/T-A"
    money = {"amount": {"amount": "1.00"}}
    assert client.post(f"{url}/withdrawals", json=money, headers=headers[who]).status_code == (
        withdraw
    )
    adjustment = {"kind": "adjustment", "memo": "x", **money}
    assert client.post(f"{url}/adjustments", json=adjustment, headers=headers[who]).status_code == (
        adjust
    )


def test_unknown_technician_is_404(client: TestClient, headers: Headers, technicians: None) -> None:
    assert client.get("/v1/earnings/T-Z", headers=headers["admin"]).status_code == 404


def test_completed_but_unconfirmed_jobs_earn_nothing_yet(
    client: TestClient, headers: Headers, finish_job: FinishJob
) -> None:
    upload(client, headers["admin"], card())
    finish_job(to=TicketStatus.COMPLETED)
    body = client.get("/v1/earnings/T-A?first=2026-11-01&last=2026-11-30", headers=headers["admin"])
    assert body.json()["orders"] == [] and amount(body.json()["balance"]) == 0


def test_one_order_breakdown(
    client: TestClient, headers: Headers, settled: list[dict[str, Any]]
) -> None:
    ticket_id = settled[0]["ticket_id"]
    one = client.get(f"/v1/earnings/T-A/orders/{ticket_id}", headers=headers["tech_a"])
    assert one.status_code == 200, one.text
    assert one.json()["lines"] == settled[0]["lines"]
    assert (
        client.get(f"/v1/earnings/T-B/orders/{ticket_id}", headers=headers["tech_b"]).status_code
        == 404
    )
    assert (
        client.get(f"/v1/earnings/T-A/orders/{ticket_id}", headers=headers["tech_b"]).status_code
        == 403
    )
    assert client.get("/v1/earnings/T-A/orders/999999", headers=headers["admin"]).status_code == 404
