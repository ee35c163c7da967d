"""Value tiers in the service: scoring stored customers, the tier on the 360 and the ticket, and
what a tier changes in a dispatch run."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.config import Settings
from api.customers.valuation import policy_of
from api.db.tables import CustomerRow, CustomerValueRow, TicketRow
from api.deps import get_session
from api.dispatch import repository as dispatch_repo
from api.main import create_app
from api.regions import repository as region_repo
from geo.regions import RegionIndex
from tests.api.dispatch.support import DAY, add_technician, add_ticket, at

Headers = dict[str, dict[str, str]]
# Easy to reach: one service today scores recency 5 + frequency 2 + monetary 1 = 8, tier "A".
EASY_POLICY = """
id = "test-tiers"
version = 3
effective_from = 2026-01-01
lookback_days = 365
recency_days = { limits = [30, 90, 180, 365] }
frequency = { limits = [1, 2, 3, 4] }
monetary_fen = { limits = [1, 2, 3, 4] }
max_priority = "urgent"

[[tiers]]
name = "A"
min_score = 8
priority_steps = 1
sla_factor = "0.5"

[[tiers]]
name = "C"
min_score = 3
"""


@pytest.fixture
def easy_settings(settings: Settings, tmp_path: Path) -> Settings:
    policy = tmp_path / "tiers.toml"
    policy.write_text(EASY_POLICY, encoding="utf-8")
    return settings.model_copy(update={"value_tiers_file": policy})


@pytest.fixture
def easy_client(easy_settings: Settings, session: Session) -> Any:
    app = create_app(easy_settings)
    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app) as client:
        yield client
    app.state.engine.dispose()


def done_ticket(client: TestClient, headers: Headers, external_id: str, phone: str) -> int:
    body = {"external_id": external_id, "type": "repair", "location": [121.4737, 31.2304],
            "address": "南京东路 100 号", "duration_min": 60,
            "customer": {"name": "周先生", "phone": phone}}  # fmt: skip
    created = client.post("/v1/tickets", json=body, headers=headers["shop_a"])
    assert created.status_code == 201, created.text
    ticket_id: int = created.json()["id"]
    for move in ({"to": "scheduled", "technician_id": "T-A"}, {"to": "dispatched"},
                 {"to": "en_route"}, {"to": "on_site"}, {"to": "completed"}):  # fmt: skip
        moved = client.post(f"/v1/tickets/{ticket_id}/transitions", json=move,
                            headers=headers["dispatcher"])  # fmt: skip
        assert moved.status_code == 200, moved.text
    return ticket_id


def test_recomputing_scores_every_customer_and_shows_the_tier(
    easy_client: TestClient, headers: Headers
) -> None:
    tech = {"id": "T-A", "name": "T-A", "home_base": [121.45, 31.22]}
    assert (
        easy_client.post("/v1/technicians", json=tech, headers=headers["admin"]).status_code == 201
    )
    served = done_ticket(easy_client, headers, "VT-1", "13800000001")
    waiting = easy_client.post("/v1/tickets", headers=headers["shop_a"], json={
        "external_id": "VT-2", "type": "repair", "location": [121.47, 31.23], "address": "x 号",
        "duration_min": 30, "customer": {"name": "吴女士", "phone": "13800000002"}})  # fmt: skip
    assert waiting.status_code == 201

    refused = easy_client.post("/v1/customers/value-tiers/recompute", headers=headers["dispatcher"])
    assert refused.status_code == 403
    done = easy_client.post("/v1/customers/value-tiers/recompute", headers=headers["admin"])
    assert done.status_code == 200, done.text
    counts = done.json()
    assert counts["policy_id"] == "test-tiers" and counts["policy_version"] == 3
    assert counts["by_tier"]["A"] >= 1 and counts["scored"] >= 2

    ticket = easy_client.get(f"/v1/tickets/{served}", headers=headers["shop_a"]).json()
    assert ticket["customer"]["tier"] == "A"
    customer = easy_client.get(f"/v1/customers/{ticket['customer']['id']}",
                               headers=headers["shop_a"]).json()  # fmt: skip
    assert customer["tier"] == "A"
    assert {k: customer["value"][k] for k in ("recency", "frequency", "monetary", "services")} == {
        "recency": 5, "frequency": 2, "monetary": 1, "services": 1,
    }  # fmt: skip
    other = easy_client.get(f"/v1/customers/{waiting.json()['customer']['id']}",
                            headers=headers["shop_a"]).json()  # fmt: skip
    assert other["tier"] == "C" and other["value"]["services"] == 0


def valued_and_plain_tickets(session: Session) -> dict[str, int]:
    """A ticket of a customer scored tier A ("贵宾") and one of an unscored customer ("普通")."""
    now = datetime.now(UTC)
    valued, plain = (
        CustomerRow(source="shop-a", name=name, created_at=now) for name in ("贵宾", "普通")
    )
    session.add_all([valued, plain])
    session.flush()
    session.add(CustomerValueRow(
        customer_id=valued.id, tier="A", recency=5, frequency=2, monetary=1, services=1,
        billed_fen=0, last_service_at=now, policy_id="test-tiers", policy_version=3,
        computed_at=now,
    ))  # fmt: skip
    tickets = {}
    for customer in (valued, plain):
        ticket_id = add_ticket(session, (121.48, 31.22))
        row = session.get_one(TicketRow, ticket_id)
        row.customer_id, row.created_at, row.sla_due_at = customer.id, at(8), at(16)
        tickets[customer.name] = ticket_id
    session.flush()
    return tickets


def test_a_tier_raises_priority_and_shortens_the_sla_in_a_dispatch_run(
    session: Session, easy_settings: Settings
) -> None:
    add_technician(session, "T-A", (121.4737, 31.2304))
    tickets = valued_and_plain_tickets(session)
    index = RegionIndex(region_repo.list_regions(session))

    def built(policy: Any) -> dict[str, Any]:
        problem, _ = dispatch_repo.ticket_list_problem(
            session, index=index, ticket_ids=list(tickets.values()), day=DAY,
            limits=dispatch_repo.Limits(20, 20), catalog=["aircon"], now=at(7),
            default_zone="Asia/Shanghai", tier_policy=policy,
        )  # fmt: skip
        return {o.id: o for o in problem.problem.orders}

    with_tiers = built(policy_of(easy_settings.value_tiers_file))
    valued_order = with_tiers[str(tickets["贵宾"])]
    plain_order = with_tiers[str(tickets["普通"])]
    assert (valued_order.priority, plain_order.priority) == (1, 0)  # normal -> urgent
    midnight = at(0)
    eight_hours = timedelta(hours=8)  # 08:00 to 16:00, halved: 12:00
    assert valued_order.sla_deadline_s == int((at(8) + eight_hours / 2 - midnight).total_seconds())
    assert plain_order.sla_deadline_s == int((at(16) - midnight).total_seconds())
    without = built(None)
    assert without[str(tickets["贵宾"])].priority == 0


def test_an_urgent_insertion_reads_the_tier_with_the_locked_ticket(
    session: Session, easy_settings: Settings
) -> None:
    tickets = valued_and_plain_tickets(session)
    policy = policy_of(easy_settings.value_tiers_file)
    priorities = {}
    for name, tier in (("贵宾", "A"), ("普通", None)):
        locked = dispatch_repo.locked_ticket(session, ticket_id=tickets[name])
        assert locked is not None and locked.customer_tier == tier
        assert locked.terms(None) is None
        terms = locked.terms(policy)
        assert terms is not None
        priorities[name], _ = terms.for_ticket("normal", at(8), at(16), locked.row.customer_id)
    assert priorities == {"贵宾": "urgent", "普通": "normal"}
    assert dispatch_repo.locked_ticket(session, ticket_id=10**9) is None
