"""A large order goes to approval: the order-value condition on the quote of a ticket not yet
dispatched, judged by the scheduled pass and again at the moment of dispatch."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.config import PROJECT_ROOT, Settings
from api.db.tables import EscalationFiringRow, TicketApprovalRow
from api.escalations import service

Headers = dict[str, dict[str, str]]
PRICES = (PROJECT_ROOT / "data" / "price_list.toml").read_bytes()
RULES = """
id = "value-rules"
version = 1

[[rules]]
id = "large-order"
description = "An order quoted at 500 yuan or more waits for a dispatcher's approval."
when = { order_value_min = "500.00" }
then = [{ action = "notify", role = "dispatcher" }, { action = "require_approval" }]
"""
# install: 180.00 for the first unit, 120.00 for each further one.
LARGE = {"type": "install", "units": 4}
SMALL = {"type": "repair", "units": 1}


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    rules = tmp_path / "escalation_rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    return settings.model_copy(update={"escalation_rules_file": rules})


@pytest.fixture
def prices(client: TestClient, headers: Headers) -> None:
    toml = {**headers["admin"], "Content-Type": "application/toml"}
    response = client.post("/v1/price-lists", content=PRICES, headers=toml)
    assert response.status_code == 201, response.text


def make_ticket(client: TestClient, headers: Headers, external_id: str, **work: Any) -> int:
    body = {"external_id": external_id, "location": [121.544, 31.221], "duration_min": 60,
            "address": "浦东新区张杨路 500 号", **work}  # fmt: skip
    response = client.post("/v1/tickets", json=body, headers=headers["shop_a"])
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def move(client: TestClient, headers: Headers, ticket_id: int, to: str, **body: Any) -> Any:
    return client.post(f"/v1/tickets/{ticket_id}/transitions", json={"to": to, **body},
                       headers=headers["dispatcher"])  # fmt: skip


def evaluate(session: Session, settings: Settings, now: datetime) -> list[service.Fired]:
    return service.evaluate_due(session, now, rules=service.rules_in_force(settings),
                                at_risk_margin=service.at_risk_margin(settings))  # fmt: skip


@pytest.mark.usefixtures("prices")
def test_the_pass_holds_a_large_order_and_leaves_a_small_one(
    client: TestClient, headers: Headers, session: Session, settings: Settings, technician: str
) -> None:
    large = make_ticket(client, headers, "VAL-L", **LARGE)
    small = make_ticket(client, headers, "VAL-S", **SMALL)

    fired = evaluate(session, settings, datetime.now(UTC))

    assert [(f.rule_id, f.subject_id) for f in fired] == [("large-order", large)]
    assert fired[0].actions == [{"action": "require_approval", "status": "pending"},
                                {"action": "notify", "role": "dispatcher"}]  # fmt: skip
    firing = session.scalars(select(EscalationFiringRow)).one()
    facts = firing.facts
    assert firing.condition_key == "order_value_min"
    assert (facts["currency"], facts["threshold"]) == ("CNY", "500.00")
    assert (facts["price_list_version"], facts["status"]) == ("sh-sz-customer@v2", "new")
    # Labour alone is 180 + 3 x 120; the trip, priced as the first band, comes on top.
    assert Decimal(facts["order_value"]) >= Decimal("540.00")
    assert evaluate(session, settings, datetime.now(UTC)) == []  # once per ticket

    assert move(client, headers, small, "scheduled", technician_id=technician).status_code == 200
    assert move(client, headers, small, "dispatched").status_code == 200
    assert move(client, headers, large, "scheduled", technician_id=technician).status_code == 200
    refused = move(client, headers, large, "dispatched")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "approval_required"


@pytest.mark.usefixtures("prices")
def test_dispatch_holds_a_large_order_no_pass_has_judged(
    client: TestClient, headers: Headers, session: Session, technician: str
) -> None:
    large = make_ticket(client, headers, "VAL-D", **LARGE)
    assert move(client, headers, large, "scheduled", technician_id=technician).status_code == 200

    refused = move(client, headers, large, "dispatched")

    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "approval_required"
    # The firing and its hold stand although the dispatch was refused.
    approval = session.get(TicketApprovalRow, large)
    assert approval is not None and approval.status == "pending"
    firing = session.get(EscalationFiringRow, approval.firing_id)
    assert firing is not None and firing.rule_id == "large-order"
    approved = client.post(f"/v1/tickets/{large}/approval", json={"note": "customer prepaid"},
                           headers=headers["dispatcher"])  # fmt: skip
    assert approved.status_code == 200, approved.text
    assert move(client, headers, large, "dispatched").status_code == 200


def test_without_a_price_list_in_force_there_is_no_value_to_judge(
    client: TestClient, headers: Headers, session: Session, settings: Settings, technician: str
) -> None:
    large = make_ticket(client, headers, "VAL-N", **LARGE)

    assert evaluate(session, settings, datetime.now(UTC)) == []
    assert move(client, headers, large, "scheduled", technician_id=technician).status_code == 200
    assert move(client, headers, large, "dispatched").status_code == 200
    assert session.scalars(select(EscalationFiringRow)).all() == []


@pytest.mark.usefixtures("prices")
def test_the_quote_prices_the_work_when_its_window_opens(
    client: TestClient, headers: Headers, session: Session, settings: Settings
) -> None:
    now = datetime.now(UTC)
    window = [(now + timedelta(hours=30)).isoformat(), (now + timedelta(hours=32)).isoformat()]
    large = make_ticket(client, headers, "VAL-W", time_windows=[window], **LARGE)

    fired = evaluate(session, settings, now)

    assert [f.subject_id for f in fired] == [large]
    priced_for = datetime.fromisoformat(str(session.scalars(select(EscalationFiringRow))
                                            .one().facts["priced_for"]))  # fmt: skip
    assert priced_for == datetime.fromisoformat(window[0])
