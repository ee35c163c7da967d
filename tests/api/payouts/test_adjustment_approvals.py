"""Four eyes: a manual adjustment above the approval amount is booked only by a second admin.

``POST /v1/earnings/{id}/adjustments`` above ``GEODISPATCH_ADJUSTMENT_APPROVAL_AMOUNT`` (1,000
yuan by default) either way stores a pending request (202): no ledger entry, no balance change.
Another admin's key approves it (the entry is booked then) or any admin rejects it. Both
databases; on PostGIS as the service's role (``tests/conftest.py``).
"""

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import exc, select, text, update
from sqlalchemy.orm import Session

from api.adjustments import repository as adjustment_repo
from api.auth import Role, create_key, utc_now
from api.config import Settings
from api.db.tables import AdjustmentRequestRow, ApiKeyRow, LedgerEntryRow
from api.deps import get_session
from api.main import create_app
from settlement import Money

Headers = dict[str, dict[str, str]]
URL = "/v1/earnings/T-A/adjustments"


@pytest.fixture
def admins(session: Session, headers: Headers) -> dict[str, tuple[str, dict[str, str]]]:
    """Three admins by name, each ``(key id, headers)``: ``first`` (the requester in most
    tests; the conftest's ``admin``), ``second`` and ``third``."""
    result = {"first": (_key_id(session, "admin"), headers["admin"])}
    for name in ("second", "third"):
        key, token = create_key(session, role=Role.ADMIN, name=f"admin-{name}")
        result[name] = (key.id, {"Authorization": f"Bearer {token}"})
    return result


def _key_id(session: Session, name: str) -> str:
    key_id = session.scalar(select(ApiKeyRow.id).where(ApiKeyRow.name == name))
    assert key_id is not None
    return key_id


def adjustment(amount: str, memo: str = "November: installations at the old rate") -> Any:
    return {"kind": "adjustment", "amount": {"amount": amount}, "memo": memo}


def ledger(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/v1/earnings/T-A/ledger", headers=headers).json()
    return body


@pytest.mark.parametrize("amount", ["1000.00", "-1000.00", "0.01"])
def test_an_adjustment_up_to_the_approval_amount_is_booked_at_once(
    client: TestClient, headers: Headers, technicians: None, amount: str
) -> None:
    response = client.post(URL, json=adjustment(amount), headers=headers["admin"])
    assert response.status_code == 201, response.text
    assert [e["amount"]["amount"] for e in response.json()["entries"]] == [amount]


def test_a_larger_adjustment_waits_for_a_second_admin(
    client: TestClient, session: Session, technicians: None, admins: Any
) -> None:
    (first, first_h), (second, second_h), (_, third_h) = (
        admins["first"], admins["second"], admins["third"],
    )  # fmt: skip
    asked = client.post(URL, json=adjustment("1000.01"), headers=first_h)
    assert asked.status_code == 202, asked.text
    request = asked.json()
    assert asked.headers["Location"] == f"/v1/adjustments/{request['id']}"
    assert request["status"] == "pending" and request["amount"]["amount"] == "1000.01"
    assert request["requested_by_key_id"] == first and request["decided_by_key_id"] is None
    assert request["ledger_entry_id"] is None
    assert ledger(client, first_h)["entries"] == []  # nothing booked, balance unchanged
    assert ledger(client, first_h)["balance"]["amount"] == "0.00"
    queue = client.get("/v1/adjustments?status=pending", headers=second_h).json()["items"]
    assert [r["id"] for r in queue] == [request["id"]]
    url = f"/v1/adjustments/{request['id']}"
    assert client.get(url, headers=second_h).json() == request

    own = client.post(f"{url}/approve", headers=first_h)
    assert own.status_code == 403 and own.json()["error"]["code"] == "four_eyes_required"
    assert client.get(url, headers=first_h).json()["status"] == "pending"
    assert ledger(client, first_h)["entries"] == []

    approved = client.post(f"{url}/approve", headers=second_h)
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "approved" and body["decided_by_key_id"] == second
    assert body["requested_by_key_id"] == first and body["requested_at"] == request["requested_at"]
    assert body["decided_at"] >= body["requested_at"]
    entries = ledger(client, first_h)["entries"]
    assert [(e["id"], e["kind"], e["amount"]["amount"]) for e in entries] == [
        (body["ledger_entry_id"], "adjustment", "1000.01")
    ]
    assert entries[0]["memo"] == "November: installations at the old rate"
    assert ledger(client, first_h)["balance"]["amount"] == "1000.01"
    row = session.get(LedgerEntryRow, body["ledger_entry_id"])
    assert row is not None and row.actor_key_id == second  # booked by the approver

    again = client.post(f"{url}/approve", headers=second_h)  # a retry: answered, not re-booked
    assert again.status_code == 200 and again.json() == body
    late = client.post(f"{url}/approve", headers=third_h)
    assert late.status_code == 409 and late.json()["error"]["code"] == "adjustment_decided"
    assert late.json()["error"]["details"]["decided_by_key_id"] == second
    refused = client.post(f"{url}/reject", json={"memo": "too late"}, headers=third_h)
    assert refused.status_code == 409
    assert len(ledger(client, first_h)["entries"]) == 1
    assert client.get("/v1/adjustments?status=pending", headers=first_h).json()["items"] == []


def test_a_rejected_adjustment_books_nothing(
    client: TestClient, technicians: None, admins: Any
) -> None:
    (_, first_h), (second, second_h), (_, third_h) = (
        admins["first"], admins["second"], admins["third"],
    )  # fmt: skip
    request = client.post(URL, json=adjustment("-5000.00"), headers=first_h).json()
    url = f"/v1/adjustments/{request['id']}"
    assert client.post(f"{url}/reject", json={"memo": ""}, headers=second_h).status_code == 422
    assert client.post(f"{url}/reject", json={}, headers=second_h).status_code == 422
    rejected = client.post(f"{url}/reject", json={"memo": "paid in cash"}, headers=second_h)
    assert rejected.status_code == 200, rejected.text
    body = rejected.json()
    assert (body["status"], body["decided_by_key_id"]) == ("rejected", second)
    assert body["decision_memo"] == "paid in cash" and body["ledger_entry_id"] is None
    again = client.post(f"{url}/reject", json={"memo": "paid in cash"}, headers=second_h)
    assert again.status_code == 200 and again.json() == body
    approve = client.post(f"{url}/approve", headers=third_h)
    assert approve.status_code == 409 and approve.json()["error"]["code"] == "adjustment_decided"
    assert ledger(client, first_h)["entries"] == []


def test_the_requester_may_withdraw_their_own_request(
    client: TestClient, technicians: None, admins: Any
) -> None:
    first, first_h = admins["first"]
    request = client.post(URL, json=adjustment("2000.00"), headers=first_h).json()
    url = f"/v1/adjustments/{request['id']}/reject"
    withdrawn = client.post(url, json={"memo": "wrong technician"}, headers=first_h)
    assert withdrawn.status_code == 200
    assert (withdrawn.json()["status"], withdrawn.json()["decided_by_key_id"]) == (
        "rejected", first,
    )  # fmt: skip


def test_listing_filters_and_pages(client: TestClient, technicians: None, admins: Any) -> None:
    _, first_h = admins["first"]
    ids = [
        client.post(f"/v1/earnings/{tech}/adjustments", json=adjustment(a), headers=first_h).json()[
            "id"
        ]
        for tech, a in (("T-A", "1500.00"), ("T-B", "1600.00"), ("T-A", "-1700.00"))
    ]
    mine = client.get("/v1/adjustments?technician_id=T-A", headers=first_h).json()["items"]
    assert [r["id"] for r in mine] == [ids[2], ids[0]]  # newest first
    page = client.get(f"/v1/adjustments?limit=1&before_id={ids[2]}", headers=first_h).json()
    assert [r["id"] for r in page["items"]] == [ids[1]]
    assert client.get("/v1/adjustments?status=approved", headers=first_h).json()["items"] == []
    assert client.get("/v1/adjustments?status=done", headers=first_h).status_code == 422


def test_an_unknown_request_is_404(client: TestClient, headers: Headers) -> None:
    for method, suffix, body in (("GET", "", None), ("POST", "/approve", None),
                                 ("POST", "/reject", {"memo": "x"})):  # fmt: skip
        response = client.request(
            method, f"/v1/adjustments/999999{suffix}", json=body, headers=headers["admin"]
        )
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_the_bound_is_checked_before_any_request_is_stored(
    client: TestClient, headers: Headers, technicians: None
) -> None:
    response = client.post(URL, json=adjustment("10000.01"), headers=headers["admin"])
    assert response.status_code == 422
    assert client.get("/v1/adjustments", headers=headers["admin"]).json()["items"] == []


@pytest.fixture
def low_threshold_client(settings: Settings, session: Session) -> Iterator[TestClient]:
    """The app with ``GEODISPATCH_ADJUSTMENT_APPROVAL_AMOUNT=50``, on the test's session."""
    app = create_app(settings.model_copy(update={"adjustment_approval_amount": Decimal("50")}))
    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app) as test_client:
        yield test_client
    app.state.engine.dispose()


def test_the_approval_amount_is_a_setting(
    low_threshold_client: TestClient, headers: Headers, technicians: None
) -> None:
    client = low_threshold_client
    assert client.post(URL, json=adjustment("50.00"), headers=headers["admin"]).status_code == 201
    assert client.post(URL, json=adjustment("-50.01"), headers=headers["admin"]).status_code == 202


def test_the_database_refuses_a_self_approval_and_any_change_once_decided(
    session: Session, technicians: None, admins: Any
) -> None:
    (first, _), (second, _) = admins["first"], admins["second"]
    row = adjustment_repo.insert(
        session, technician_id="T-A", amount=Money(Decimal("3000")), memo="check",
        requested_by_key_id=first, now=utc_now(),
    )  # fmt: skip
    entry = LedgerEntryRow(
        technician_id="T-A", kind="adjustment", amount_fen=300_000, currency="CNY",
        created_at=row.requested_at, actor_key_id=first, memo="check",
    )  # fmt: skip
    session.add(entry)
    session.flush()
    approve_as = update(AdjustmentRequestRow).where(AdjustmentRequestRow.id == row.id)
    decision = {"status": "approved", "decided_at": row.requested_at, "ledger_entry_id": entry.id}
    with pytest.raises(exc.IntegrityError), session.begin_nested():  # CHECK four_eyes
        session.execute(approve_as.values(decided_by_key_id=first, **decision))
    session.execute(approve_as.values(decided_by_key_id=second, **decision))
    for statement in (
        approve_as.values(status="rejected", ledger_entry_id=None),  # a trigger refuses
        text(f"DELETE FROM adjustment_request WHERE id = {row.id}"),  # a trigger (or no grant)
    ):
        with pytest.raises(exc.DBAPIError), session.begin_nested():
            session.execute(statement)
    session.expire_all()
    assert session.get(AdjustmentRequestRow, row.id).status == "approved"  # type: ignore[union-attr]
