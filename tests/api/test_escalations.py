"""Escalations in the service: an overdue ticket escalates once, with a delivered webhook; a ticket
failed twice waits for approval before dispatch; the routes; two evaluations at once fire once."""

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from api.clock import ManualClock
from api.config import Settings
from api.db.tables import (
    EscalationFiringRow,
    LeadRow,
    TicketApprovalRow,
    TicketRow,
    WebhookDeliveryRow,
    WebhookSubscriptionRow,
)
from api.escalations import service
from api.escalations.rules import parse_rules
from tests.api.test_webhooks_delivery import Receiver, worker_on
from tests.api.test_webhooks_delivery import receiver as receiver

Headers = dict[str, dict[str, str]]
TICKET = {"type": "repair", "location": [121.544, 31.221], "address": "浦东新区张杨路 500 号",
          "duration_min": 60}  # fmt: skip


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings, letting subscriptions target the receivers on 127.0.0.1."""
    return settings.model_copy(update={"webhook_allow_private_urls": True})


def make_ticket(client: TestClient, headers: dict[str, str], external_id: str, **extra: Any) -> int:
    response = client.post("/v1/tickets", json={**TICKET, "external_id": external_id, **extra},
                           headers=headers)  # fmt: skip
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def subscribe(client: TestClient, headers: dict[str, str], url: str, *types: str) -> int:
    body = {"url": url, "event_types": list(types)}
    response = client.post("/v1/webhooks", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def evaluate(session: Session, settings: Settings, now: datetime) -> list[service.Fired]:
    rules = service.rules_in_force(settings)
    margin = service.at_risk_margin(settings)
    return service.evaluate_due(session, now, rules=rules, at_risk_margin=margin)


def move(client: TestClient, headers: Headers, ticket_id: int, to: str, **body: Any) -> Any:
    return client.post(f"/v1/tickets/{ticket_id}/transitions", json={"to": to, **body},
                       headers=headers["dispatcher"])  # fmt: skip


def test_an_overdue_ticket_escalates_once_with_a_delivered_webhook(
    client: TestClient, headers: Headers, session: Session, settings: Settings, receiver: Any
) -> None:
    now = datetime.now(UTC)
    rec: Receiver = receiver([200])
    sub_id = subscribe(client, headers["shop_a"], rec.url, "ticket.escalated")
    late = make_ticket(client, headers["shop_a"], "ESC-1",
                       sla_due_at=(now - timedelta(minutes=45)).isoformat())  # fmt: skip
    recent = make_ticket(client, headers["shop_a"], "ESC-2",
                         sla_due_at=(now - timedelta(minutes=10)).isoformat())  # fmt: skip
    ours = {late, recent}

    fired = [f for f in evaluate(session, settings, now) if f.subject_id in ours]

    assert [(f.rule_id, f.subject_id, f.deliveries) for f in fired] == [("overdue-30", late, 1)]
    assert {"action": "raise_priority", "from": "normal", "to": "urgent"} in fired[0].actions
    session.expire_all()
    assert session.get(TicketRow, late).priority == "urgent"  # type: ignore[union-attr]
    again = evaluate(session, settings, now + timedelta(minutes=5))
    assert [f for f in again if f.subject_id in ours] == []  # once per subject and condition

    worker = worker_on(session, ManualClock(now))
    assert worker.run_once() == 1
    assert len(rec.requests) == 1
    _, sent_headers, body = rec.requests[0]
    event = json.loads(body)
    assert event["type"] == "ticket.escalated"
    assert sent_headers["X-Geodispatch-Event"] == "ticket.escalated"
    data = event["data"]
    assert (data["ticket_id"], data["rule_id"], data["rules_version"]) == (
        late,
        "overdue-30",
        "escalation-rules@2",
    )
    assert data["facts"]["overdue_min"] >= 45 and data["facts"]["threshold_min"] == 30
    assert data["notify"] == [{"action": "notify", "supervisor": "sup-pudong",
                               "of_region": "310115"}]  # fmt: skip
    session.expire_all()
    delivery = session.scalars(
        select(WebhookDeliveryRow).where(WebhookDeliveryRow.subscription_id == sub_id)
    ).one()
    assert (delivery.status, delivery.firing_id, delivery.change_id) == (
        "succeeded",
        fired[0].firing_id,
        None,
    )

    listed = client.get(f"/v1/escalations/firings?ticket_id={late}", headers=headers["dispatcher"])
    assert listed.status_code == 200
    (firing,) = listed.json()["items"]
    assert (firing["rule_id"], firing["subject_kind"], firing["condition_key"]) == (
        "overdue-30",
        "ticket",
        "overdue_min",
    )
    assert firing["facts"]["ticket_id"] == late


def test_a_subscription_to_status_changes_only_gets_no_escalation(
    client: TestClient, headers: Headers, session: Session, settings: Settings
) -> None:
    now = datetime.now(UTC)
    subscribe(client, headers["shop_a"], "http://127.0.0.1:9/hook", "ticket.completed")
    ticket_id = make_ticket(client, headers["shop_a"], "ESC-3",
                            sla_due_at=(now - timedelta(hours=2)).isoformat())  # fmt: skip
    (fired,) = [f for f in evaluate(session, settings, now) if f.subject_id == ticket_id]
    assert fired.deliveries == 0
    query = select(WebhookDeliveryRow).where(WebhookDeliveryRow.firing_id == fired.firing_id)
    assert session.scalars(query).all() == []


def fail_once(client: TestClient, headers: Headers, ticket_id: int, technician: str) -> None:
    for to, extra in (("scheduled", {"technician_id": technician}), ("dispatched", {}),
                      ("en_route", {}), ("failed", {}), ("new", {})):  # fmt: skip
        response = move(client, headers, ticket_id, to, **extra)
        assert response.status_code == 200, response.text


def test_a_ticket_failed_twice_waits_for_approval_before_dispatch(
    client: TestClient, headers: Headers, session: Session, technician: str
) -> None:
    ticket_id = make_ticket(client, headers["shop_a"], "ESC-F")
    fail_once(client, headers, ticket_id, technician)
    assert session.scalar(select(TicketApprovalRow)) is None
    fail_once(client, headers, ticket_id, technician)  # the second failure fires at once

    approval = session.get(TicketApprovalRow, ticket_id)
    assert approval is not None and approval.status == "pending"
    assert (
        move(client, headers, ticket_id, "scheduled", technician_id=technician).status_code == 200
    )
    refused = move(client, headers, ticket_id, "dispatched")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "approval_required"
    assert refused.json()["error"]["details"]["firing_id"] == approval.firing_id

    url = f"/v1/tickets/{ticket_id}/approval"
    assert client.post(url, json={}, headers=headers["shop_a"]).status_code == 403
    approved = client.post(url, json={"note": "third visit agreed"}, headers=headers["dispatcher"])
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["note"]) == (
        "approved",
        "third visit agreed",
    )
    again = client.post(url, json={}, headers=headers["admin"])
    assert again.json()["approved_at"] == approved.json()["approved_at"]
    assert move(client, headers, ticket_id, "dispatched").status_code == 200


def test_approving_a_ticket_nothing_holds_is_409(client: TestClient, headers: Headers) -> None:
    ticket_id = make_ticket(client, headers["shop_a"], "ESC-N")
    response = client.post(f"/v1/tickets/{ticket_id}/approval", json={},
                           headers=headers["dispatcher"])  # fmt: skip
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_approval_required"
    other = client.post("/v1/tickets/999999/approval", json={}, headers=headers["dispatcher"])
    assert other.status_code == 404


def test_an_unanswered_lead_notifies_the_dispatchers(
    client: TestClient, headers: Headers, session: Session, settings: Settings
) -> None:
    now = datetime.now(UTC)
    body = {"channel": "web_form", "name": "李雷", "phone": "13912345678",
            "external_id": "L-ESC-1"}  # fmt: skip
    response = client.post("/v1/leads", json=body, headers=headers["shop_a"])
    assert response.status_code == 201, response.text
    lead = session.get(LeadRow, response.json()["lead"]["id"])
    assert lead is not None and lead.status != "rejected"
    lead.first_response_due_at = now - timedelta(minutes=61)
    session.flush()
    fired = [f for f in evaluate(session, settings, now) if f.subject_kind == "lead"]
    assert [(f.rule_id, f.subject_id) for f in fired] == [("lead-unanswered-60", lead.id)]
    assert fired[0].actions == [{"action": "notify", "role": "dispatcher"}]


def test_the_rules_in_force_are_shown_to_staff(client: TestClient, headers: Headers) -> None:
    response = client.get("/v1/escalations/rules", headers=headers["dispatcher"])
    assert response.status_code == 200
    rules = response.json()
    assert rules["key"] == "escalation-rules@2"
    overdue = next(r for r in rules["rules"] if r["id"] == "overdue-30")
    assert overdue["when"] == {"overdue_min": 30}
    assert overdue["then"][1] == {"action": "raise_priority", "to": "urgent"}
    assert client.get("/v1/escalations/rules", headers=headers["tech_a"]).status_code == 403
    both = client.get("/v1/escalations/firings?ticket_id=1&lead_id=1", headers=headers["admin"])
    assert both.status_code == 422


@pytest.mark.postgis
def test_two_evaluations_at_once_fire_once(
    live: tuple[FastAPI, dict[str, str], str], engine: Engine
) -> None:
    """Four evaluations at once on committed data: one firing, one webhook delivery.

    The rule is this test's own (a unique id, notifying only) and wants tickets a month late, so
    the passes touch nothing of other tests and the firings are found again to be deleted.
    """
    app, shop, source = live
    now = datetime.now(UTC)
    rule_id = f"race-{uuid.uuid4().hex[:8]}"
    rules = parse_rules({"id": "race", "version": 1, "rules": [
        {"id": rule_id, "when": {"overdue_min": 30 * 24 * 60},
         "then": [{"action": "notify", "role": "dispatcher"}]},
    ]})  # fmt: skip
    with TestClient(app) as client:
        subscribe(client, shop, "http://127.0.0.1:9/hook", "ticket.escalated")
        ticket_id = make_ticket(client, shop, f"ESC-{uuid.uuid4().hex[:6]}",
                                sla_due_at=(now - timedelta(days=31)).isoformat())  # fmt: skip
    results: list[list[service.Fired]] = []
    start = threading.Barrier(4)

    def run() -> None:
        with Session(engine) as session:
            start.wait()
            results.append(
                service.evaluate_due(session, now, rules=rules, at_risk_margin=timedelta(0))
            )

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        mine = [f for fired in results for f in fired if f.subject_id == ticket_id]
        assert len(results) == 4 and len(mine) == 1
        assert mine[0].deliveries == 1
        with Session(engine) as session:
            firings = session.scalars(
                select(EscalationFiringRow).where(EscalationFiringRow.subject_id == ticket_id)
            ).all()
            assert [f.rule_id for f in firings] == [rule_id]
            deliveries = session.scalars(
                select(WebhookDeliveryRow).where(WebhookDeliveryRow.ticket_id == ticket_id)
            ).all()
            assert len(deliveries) == 1
    finally:
        with Session(engine) as session, session.begin():
            fired = select(EscalationFiringRow.id).where(EscalationFiringRow.rule_id == rule_id)
            session.execute(delete(WebhookDeliveryRow).where(
                WebhookDeliveryRow.firing_id.in_(fired)))  # fmt: skip
            session.execute(delete(WebhookSubscriptionRow).where(
                WebhookSubscriptionRow.source == source))  # fmt: skip
            session.execute(delete(EscalationFiringRow).where(
                EscalationFiringRow.rule_id == rule_id))  # fmt: skip
