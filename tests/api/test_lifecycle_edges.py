"""Lifecycle edges only the pure state-machine test covered, now taken over HTTP.

``dispatched -> cancelled`` by staff and ``on_site -> failed`` (by the technician or staff)
each answer 200, leave a history entry naming the caller's key and the time of the move, and
leave a ticket that refuses every illegal move out of its new status with 409.
"""

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.tables import ApiKeyRow
from api.tickets.rules import TicketStatus

Headers = dict[str, dict[str, str]]
# A history timestamp is the server's clock at the move; allow for clock resolution.
CLOCK_SLACK = timedelta(seconds=1)
# A move to ``confirmed`` needs the customer's signature to pass body validation at all.
SIGNATURE = {
    "signer_name": "王女士",
    "signed_at": "2026-11-23T11:40:00+08:00",
    "image_base64": base64.b64encode(b"\x89PNG fake signature").decode(),
    "image_media_type": "image/png",
}


def create_ticket(client: TestClient, headers: Headers) -> int:
    body = {
        "external_id": "EDGE-1",
        "type": "repair",
        "location": [121.4737, 31.2304],
        "address": "南京东路 100 号",
        "duration_min": 60,
    }
    response = client.post("/v1/tickets", json=body, headers=headers["shop_a"])
    assert response.status_code == 201, response.text
    ticket_id: int = response.json()["id"]
    return ticket_id


def move(client: TestClient, headers: Headers, who: str, ticket_id: int, **body: Any) -> Any:
    return client.post(f"/v1/tickets/{ticket_id}/transitions", json=body, headers=headers[who])


def walk(client: TestClient, headers: Headers, ticket_id: int, steps: list[str]) -> None:
    """Take the ticket through ``steps`` as the dispatcher (T-A is assigned when scheduling)."""
    for target in steps:
        extra = {"technician_id": "T-A"} if target == "scheduled" else {}
        response = move(client, headers, "dispatcher", ticket_id, to=target, **extra)
        assert response.status_code == 200, response.text


def key_id(session: Session, who: str) -> str:
    """The id of the key the ``headers`` fixture made for ``who``."""
    return session.scalars(select(ApiKeyRow.id).where(ApiKeyRow.name == who)).one()


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, f"history time {value!r} has no offset"
    return parsed


def assert_last_entry(
    client: TestClient,
    headers: Headers,
    ticket_id: int,
    *,
    edge: tuple[str, str],
    actor_key_id: str,
    between: tuple[datetime, datetime],
    note: str | None = None,
) -> None:
    history = client.get(f"/v1/tickets/{ticket_id}/history", headers=headers["admin"])
    assert history.status_code == 200, history.text
    last = history.json()[-1]
    assert (last["from_status"], last["to_status"]) == edge
    assert last["actor_key_id"] == actor_key_id
    assert last["note"] == note
    earliest, latest = between
    assert earliest - CLOCK_SLACK <= parse_time(last["at"]) <= latest + CLOCK_SLACK


def assert_every_illegal_move_is_409(
    client: TestClient,
    headers: Headers,
    ticket_id: int,
    current: TicketStatus,
    legal: set[TicketStatus],
) -> None:
    """Every status but the ``legal`` ones is refused 409 from ``current``, naming both ends."""
    illegal = [s for s in TicketStatus if s not in legal]
    for target in illegal:
        signed = {"signature": SIGNATURE} if target is TicketStatus.CONFIRMED else {}
        response = move(client, headers, "admin", ticket_id, to=target.value, **signed)
        assert response.status_code == 409, (target, response.text)
        error = response.json()["error"]
        assert error["code"] == "illegal_transition"
        assert (error["details"]["from_status"], error["details"]["to_status"]) == (
            current.value,
            target.value,
        )
    status = client.get(f"/v1/tickets/{ticket_id}", headers=headers["admin"]).json()["status"]
    assert status == current.value


@pytest.fixture
def technician(client: TestClient, headers: Headers) -> None:
    """Technician T-A (the id the ``tech_a`` key is bound to)."""
    body = {"id": "T-A", "name": "T-A", "home_base": [121.45, 31.22]}
    response = client.post("/v1/technicians", json=body, headers=headers["admin"])
    assert response.status_code == 201, response.text


@pytest.mark.usefixtures("technician")
@pytest.mark.parametrize("who", ["dispatcher", "admin"])
def test_staff_cancel_a_dispatched_ticket(
    client: TestClient, headers: Headers, session: Session, who: str
) -> None:
    ticket_id = create_ticket(client, headers)
    walk(client, headers, ticket_id, ["scheduled", "dispatched"])
    before = datetime.now(UTC)
    response = move(client, headers, who, ticket_id, to="cancelled", note="customer called off")
    after = datetime.now(UTC)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert_last_entry(
        client, headers, ticket_id, edge=("dispatched", "cancelled"),
        actor_key_id=key_id(session, who), between=(before, after), note="customer called off",
    )  # fmt: skip
    # Cancelled is final: nothing leads out of it, not even for staff.
    assert_every_illegal_move_is_409(client, headers, ticket_id, TicketStatus.CANCELLED, set())
    assert move(client, headers, "tech_a", ticket_id, to="en_route").status_code == 409


@pytest.mark.usefixtures("technician")
def test_the_technician_cannot_cancel_a_dispatched_ticket(
    client: TestClient, headers: Headers
) -> None:
    ticket_id = create_ticket(client, headers)
    walk(client, headers, ticket_id, ["scheduled", "dispatched"])
    refused = move(client, headers, "tech_a", ticket_id, to="cancelled")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "transition_not_permitted"
    status = client.get(f"/v1/tickets/{ticket_id}", headers=headers["admin"]).json()["status"]
    assert status == "dispatched"


@pytest.mark.usefixtures("technician")
@pytest.mark.parametrize("who", ["tech_a", "dispatcher"])
def test_an_on_site_visit_fails(
    client: TestClient, headers: Headers, session: Session, who: str
) -> None:
    ticket_id = create_ticket(client, headers)
    walk(client, headers, ticket_id, ["scheduled", "dispatched", "en_route", "on_site"])
    before = datetime.now(UTC)
    response = move(client, headers, who, ticket_id, to="failed", note="part not in stock")
    after = datetime.now(UTC)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "failed"
    assert_last_entry(
        client, headers, ticket_id, edge=("on_site", "failed"),
        actor_key_id=key_id(session, who), between=(before, after), note="part not in stock",
    )  # fmt: skip
    # Failed only re-opens (to new, by staff); the technician cannot finish it after all.
    assert_every_illegal_move_is_409(
        client, headers, ticket_id, TicketStatus.FAILED, {TicketStatus.NEW}
    )
    assert move(client, headers, "tech_a", ticket_id, to="completed").status_code == 409
    reopened = move(client, headers, "tech_a", ticket_id, to="new")
    assert reopened.status_code == 403
