"""The ticket state machine: every (from, to, actor) triple, and a full walk over HTTP."""

import base64
import itertools
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.auth import utc_now
from api.tickets import repository as ticket_repo
from api.tickets.rules import (
    TRANSITIONS,
    Actor,
    IllegalTransition,
    TicketStatus,
    TransitionNotPermitted,
    check_transition,
)

Headers = dict[str, dict[str, str]]
S = TicketStatus

# The documented graph, written out independently of TRANSITIONS.
LEGAL = {
    (S.NEW, S.SCHEDULED): {Actor.STAFF},
    (S.NEW, S.CANCELLED): {Actor.STAFF, Actor.INTEGRATOR},
    (S.SCHEDULED, S.DISPATCHED): {Actor.STAFF},
    (S.SCHEDULED, S.NEW): {Actor.STAFF},
    (S.SCHEDULED, S.CANCELLED): {Actor.STAFF, Actor.INTEGRATOR},
    (S.DISPATCHED, S.EN_ROUTE): {Actor.STAFF, Actor.TECHNICIAN},
    (S.DISPATCHED, S.SCHEDULED): {Actor.STAFF},
    (S.DISPATCHED, S.CANCELLED): {Actor.STAFF},
    (S.EN_ROUTE, S.ON_SITE): {Actor.STAFF, Actor.TECHNICIAN},
    (S.EN_ROUTE, S.FAILED): {Actor.STAFF, Actor.TECHNICIAN},
    (S.ON_SITE, S.COMPLETED): {Actor.STAFF, Actor.TECHNICIAN},
    (S.ON_SITE, S.FAILED): {Actor.STAFF, Actor.TECHNICIAN},
    (S.COMPLETED, S.CONFIRMED): {Actor.STAFF, Actor.TECHNICIAN, Actor.INTEGRATOR},
    (S.CONFIRMED, S.SETTLED): {Actor.SETTLEMENT},
    (S.FAILED, S.NEW): {Actor.STAFF},
}


def test_graph_is_the_documented_one() -> None:
    table = {
        (a, b): set(actors) for a, targets in TRANSITIONS.items() for b, actors in targets.items()
    }
    assert table == LEGAL
    assert set(TRANSITIONS) == set(TicketStatus)


@pytest.mark.parametrize(
    ("current", "target", "actor"), list(itertools.product(TicketStatus, TicketStatus, Actor))
)
def test_every_triple(current: TicketStatus, target: TicketStatus, actor: Actor) -> None:
    allowed = LEGAL.get((current, target))
    if allowed is None:
        with pytest.raises(IllegalTransition) as err:
            check_transition(current, target, actor)
        assert err.value.details["from_status"] == current.value
        assert err.value.details["to_status"] == target.value
        assert f"from {current} to {target}" in str(err.value)
    elif actor not in allowed:
        with pytest.raises(TransitionNotPermitted):
            check_transition(current, target, actor)
    else:
        check_transition(current, target, actor)


def _ticket(client: TestClient, headers: Headers, who: str = "shop_a", **extra: Any) -> int:
    body = {
        "external_id": f"LC-{who}-{len(extra)}",
        "type": "repair",
        "location": [121.4737, 31.2304],
        "address": "南京东路 100 号",
        "duration_min": 60,
        **extra,
    }
    response = client.post("/v1/tickets", json=body, headers=headers[who])
    assert response.status_code == 201, response.text
    ticket_id: int = response.json()["id"]
    return ticket_id


def _move(client: TestClient, headers: Headers, who: str, ticket_id: int, **body: Any) -> Any:
    return client.post(f"/v1/tickets/{ticket_id}/transitions", json=body, headers=headers[who])


@pytest.fixture
def technicians(client: TestClient, headers: Headers) -> None:
    """Technicians T-A and T-B (the ids the ``tech_a``/``tech_b`` keys are bound to)."""
    for technician_id in ("T-A", "T-B"):
        body = {"id": technician_id, "name": technician_id, "home_base": [121.45, 31.22]}
        response = client.post("/v1/technicians", json=body, headers=headers["admin"])
        assert response.status_code == 201, response.text


@pytest.mark.usefixtures("technicians")
def test_walk_from_new_to_settled(client: TestClient, headers: Headers, session: Session) -> None:
    ticket_id = _ticket(client, headers)
    steps = [
        ("dispatcher", {"to": "scheduled", "technician_id": "T-A"}),
        ("dispatcher", {"to": "dispatched"}),
        ("tech_a", {"to": "en_route", "note": "leaving depot"}),
        ("tech_a", {"to": "on_site"}),
        ("tech_a", {"to": "completed"}),
    ]
    for who, body in steps:
        response = _move(client, headers, who, ticket_id, **body)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == body["to"]
    image = base64.b64encode(b"\x89PNG fake signature").decode()
    signature = {
        "signer_name": "王女士",
        "signed_at": "2026-11-23T11:40:00+08:00",
        "image_base64": image,
        "image_media_type": "image/png",
    }
    response = _move(client, headers, "shop_a", ticket_id, to="confirmed", signature=signature)
    assert response.status_code == 200, response.text
    # Nobody may settle over HTTP; settlement does it through the repository.
    assert _move(client, headers, "admin", ticket_id, to="settled").status_code == 403
    ticket_repo.mark_settled(session, ticket_id=ticket_id, at=utc_now(), note="statement 42")
    session.commit()
    history = client.get(f"/v1/tickets/{ticket_id}/history", headers=headers["shop_a"]).json()
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        (None, "new"),
        ("new", "scheduled"),
        ("scheduled", "dispatched"),
        ("dispatched", "en_route"),
        ("en_route", "on_site"),
        ("on_site", "completed"),
        ("completed", "confirmed"),
        ("confirmed", "settled"),
    ]
    assert all(h["at"] for h in history)
    assert history[3]["note"] == "leaving depot"
    assert history[-1]["actor_key_id"] is None and history[1]["actor_key_id"] is not None
    assert [h["id"] for h in history] == sorted(h["id"] for h in history)
    with pytest.raises(IllegalTransition):
        ticket_repo.mark_settled(session, ticket_id=ticket_id, at=utc_now())


@pytest.mark.usefixtures("technicians")
def test_illegal_moves_are_409_naming_both_ends(client: TestClient, headers: Headers) -> None:
    ticket_id = _ticket(client, headers)
    response = _move(client, headers, "admin", ticket_id, to="on_site")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "illegal_transition"
    assert error["details"]["from_status"] == "new" and error["details"]["to_status"] == "on_site"
    assert "new" in error["message"] and "on_site" in error["message"]
    # Scheduling needs a technician.
    response = _move(client, headers, "admin", ticket_id, to="scheduled")
    assert response.status_code == 409
    assert "technician" in response.json()["error"]["message"]


@pytest.mark.usefixtures("technicians")
def test_who_may_move_what(client: TestClient, headers: Headers) -> None:
    ticket_id = _ticket(client, headers)
    # An integrator cannot schedule; a technician does not even see an unassigned ticket.
    assert _move(client, headers, "shop_a", ticket_id, to="scheduled").status_code == 403
    assert _move(client, headers, "tech_a", ticket_id, to="scheduled").status_code == 404
    # Another integrator's ticket is invisible.
    assert _move(client, headers, "shop_b", ticket_id, to="cancelled").status_code == 404
    body = {"to": "scheduled", "technician_id": "T-A"}
    assert _move(client, headers, "dispatcher", ticket_id, **body).status_code == 200
    assert _move(client, headers, "dispatcher", ticket_id, to="dispatched").status_code == 200
    # T-B cannot touch T-A's ticket; T-A cannot recall it to scheduled.
    assert _move(client, headers, "tech_b", ticket_id, to="en_route").status_code == 404
    assert _move(client, headers, "tech_a", ticket_id, to="scheduled").status_code == 403
    # Only staff assign.
    response = _move(client, headers, "tech_a", ticket_id, to="scheduled", technician_id="T-B")
    assert response.status_code == 403
    # After dispatch the integrator may no longer cancel.
    assert _move(client, headers, "shop_a", ticket_id, to="cancelled").status_code == 403
    assert _move(client, headers, "tech_a", ticket_id, to="en_route").status_code == 200


@pytest.mark.usefixtures("technicians")
def test_back_edges_unassign_and_reopen(client: TestClient, headers: Headers) -> None:
    ticket_id = _ticket(client, headers)
    for who, body in [
        ("admin", {"to": "scheduled", "technician_id": "T-A"}),
        ("admin", {"to": "dispatched"}),
        ("admin", {"to": "scheduled"}),
        ("admin", {"to": "new"}),
    ]:
        response = _move(client, headers, who, ticket_id, **body)
        assert response.status_code == 200, response.text
    assert response.json()["technician_id"] is None
    for who, body in [
        ("admin", {"to": "scheduled", "technician_id": "T-B"}),
        ("admin", {"to": "dispatched"}),
        ("tech_b", {"to": "en_route"}),
        ("tech_b", {"to": "failed", "note": "customer absent"}),
        ("admin", {"to": "new"}),
        ("shop_a", {"to": "cancelled"}),
    ]:
        response = _move(client, headers, who, ticket_id, **body)
        assert response.status_code == 200, response.text
    assert _move(client, headers, "admin", ticket_id, to="new").status_code == 409


def test_transition_bodies_are_checked(client: TestClient, headers: Headers) -> None:
    ticket_id = _ticket(client, headers)
    for body in (
        {"to": "confirmed"},  # no signature
        {"to": "cancelled", "signature": {"signer_name": "x", "signed_at": "2026-11-23T10:00Z"}},
        {"to": "dispatched", "technician_id": "T-A"},
        {"to": "teleported"},
        {"to": "cancelled", "status": "settled"},
        {"to": "scheduled", "technician_id": "nobody"},
    ):
        response = _move(client, headers, "admin", ticket_id, **body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "validation_error"
    too_big = base64.b64encode(b"x" * (300 * 1024)).decode()
    signature = {
        "signer_name": "x",
        "signed_at": "2026-11-23T10:00:00Z",
        "image_base64": too_big,
        "image_media_type": "image/png",
    }
    response = _move(client, headers, "admin", ticket_id, to="confirmed", signature=signature)
    assert response.status_code == 422
    assert "signature.image_base64" in response.json()["error"]["message"]
