"""The money flow end to end as the service's role: settle, withdraw, adjust, four eyes.

On PostGIS the whole suite connects as the app role (``tests/conftest.py``), so every payouts
test already runs under least privilege; this one says so explicitly and walks the flow that
touches the append-only ledger most. On SpatiaLite it runs too (there are no roles there).
"""

from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.auth import Role, create_key
from tests.api.payouts.support import MONDAY_10H, TANGZHEN, FinishJob, card, upload

Headers = dict[str, dict[str, str]]


def test_settle_withdraw_adjust_and_approve_work_as_the_app_role(
    client: TestClient,
    headers: Headers,
    session: Session,
    finish_job: FinishJob,
) -> None:
    """The money flow end to end as the app role: settle, withdraw, adjust, four eyes."""
    if session.get_bind().dialect.name == "postgresql":
        assert session.scalar(text("SELECT current_user")) == "geodispatch_app"
    admin = headers["admin"]
    assert upload(client, admin, card()).status_code == 201
    ticket_id = finish_job(place=TANGZHEN, on_site_at=MONDAY_10H)
    settled = client.post(f"/v1/tickets/{ticket_id}/settle", headers=admin)
    assert settled.status_code == 200, settled.text
    total = Decimal(settled.json()["total"]["amount"])
    money = {"amount": {"amount": "10.00"}, "memo": "WX-1"}
    withdrawn = client.post("/v1/earnings/T-A/withdrawals", json=money, headers=admin)
    assert withdrawn.status_code == 201, withdrawn.text
    small = {"kind": "adjustment", "amount": {"amount": "5.00"}, "memo": "parking"}
    assert client.post("/v1/earnings/T-A/adjustments", json=small, headers=admin).status_code == 201
    large = {"kind": "adjustment", "amount": {"amount": "1200.00"}, "memo": "back pay"}
    asked = client.post("/v1/earnings/T-A/adjustments", json=large, headers=admin)
    assert asked.status_code == 202, asked.text
    _, token = create_key(session, role=Role.ADMIN, name="second admin")
    second = {"Authorization": f"Bearer {token}"}
    approved = client.post(f"/v1/adjustments/{asked.json()['id']}/approve", headers=second)
    assert approved.status_code == 200, approved.text
    ledger = client.get("/v1/earnings/T-A/ledger", headers=admin).json()
    assert Decimal(ledger["balance"]["amount"]) == total - 10 + 5 + 1200
    assert [e["kind"] for e in ledger["entries"]] == [
        "adjustment", "adjustment", "withdrawal", "earning",
    ]  # fmt: skip
