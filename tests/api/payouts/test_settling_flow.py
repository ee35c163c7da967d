"""The whole path over HTTP: ticket -> ... -> confirmed -> settled -> the technician's earnings."""

from decimal import Decimal

from fastapi.testclient import TestClient

from tests.api.payouts.support import CENTURY_AVENUE, TANGZHEN, card, upload

Headers = dict[str, dict[str, str]]


def test_from_ticket_to_earnings(client: TestClient, headers: Headers) -> None:
    admin, tech_a, shop_a = headers["admin"], headers["tech_a"], headers["shop_a"]
    assert upload(client, admin, card()).status_code == 201
    technician = {"id": "T-A", "name": "Li Wei", "home_base": list(CENTURY_AVENUE)}
    assert client.post("/v1/technicians", json=technician, headers=admin).status_code == 201
    ticket = {
        "external_id": "SO-flow-1",
        "type": "repair",
        "location": list(TANGZHEN),
        "address": "唐镇 1 号",
        "duration_min": 60,
        "skills": {},
        "time_windows": [["2026-11-23T09:00:00+08:00", "2026-11-23T12:00:00+08:00"]],
        "priority": "urgent",
    }
    created = client.post("/v1/tickets", json=ticket, headers=shop_a)
    assert created.status_code == 201, created.text
    ticket_id = created.json()["id"]

    def move(who: dict[str, str], body: dict[str, object]) -> None:
        response = client.post(f"/v1/tickets/{ticket_id}/transitions", json=body, headers=who)
        assert response.status_code == 200, response.text

    move(admin, {"to": "scheduled", "technician_id": "T-A"})
    move(admin, {"to": "dispatched"})
    for status in ("en_route", "on_site", "completed"):
        move(tech_a, {"to": status})
    signature = {"signer_name": "王女士", "signed_at": "2026-11-23T11:40:00+08:00"}
    move(shop_a, {"to": "confirmed", "signature": signature})
    # Confirmation settles the ticket; settling it again (as a retry would) adds nothing.
    settled = client.post(f"/v1/tickets/{ticket_id}/settle", headers=admin)
    assert settled.status_code == 200, settled.text
    assert client.get(f"/v1/tickets/{ticket_id}", headers=admin).json()["status"] == "settled"

    earnings = client.get("/v1/earnings/T-A", headers=tech_a)
    assert earnings.status_code == 200, earnings.text
    (order,) = earnings.json()["orders"]
    assert order["ticket_id"] == ticket_id
    lines = {line["code"]: line for line in order["lines"]}
    assert lines["base_fee"]["amount"] == {"amount": "80.00", "currency": "CNY"}
    assert lines["region_coefficient"]["rule_id"] == "region"
    assert lines["urgency_bonus"]["amount"]["amount"] == "15.00"
    assert all(line["rate_card_version"] == "test-sh@v1" for line in order["lines"])
    total = sum(Decimal(line["amount"]["amount"]) for line in order["lines"])
    assert Decimal(order["total"]["amount"]) == total
    assert Decimal(earnings.json()["balance"]["amount"]) == total
    assert client.get("/v1/earnings/T-A", headers=headers["tech_b"]).status_code == 403
    assert client.get("/v1/earnings/T-A", headers=shop_a).status_code == 403
