"""Work facts on tickets: demand, units, difficulty flags, materials, and the customer's rating.

They are stored and returned, checked (422 naming the field; flags and materials against the
rate cards in force), fed to dispatch (``demand``) and to pay (the rest).
"""

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.dispatch.problem_builder import ticket_order
from api.tickets import repository as ticket_repo
from tests.api.payouts.support import CARD, CENTURY_AVENUE, TANGZHEN, upload

Headers = dict[str, dict[str, str]]

#: The small test card with the rules the work facts drive: a unit fee on repairs,
#: difficulty flags, a review bonus and material deductions.
WORK_CARD: dict[str, Any] = copy.deepcopy(CARD)
WORK_CARD["rules"][0]["fees"]["repair"]["unit_fee"] = "30.00"
WORK_CARD["rules"] += [
    {
        "kind": "difficulty",
        "id": "difficulty",
        "flags": {
            "high_floor_no_lift": {
                "coefficient": "1.20",
                "label_zh": "高层无电梯",
                "label_en": "no lift",
            },
            "old_building": {
                "coefficient": "1.10",
                "label_zh": "老旧小区",
                "label_en": "old building",
            },
        },
    },
    {"kind": "review_bonus", "id": "review", "by_rating": {"5": "5.00", "4": "2.00"}},
    {
        "kind": "material_deduction",
        "id": "materials",
        "materials": {
            "copper_pipe_m": {"price": "12.00", "label_zh": "铜管", "label_en": "copper pipe"},
        },
    },
]
FACTS = {
    "demand": 2,
    "units": 3,
    "difficulty": ["high_floor_no_lift"],
    "materials": [{"code": "copper_pipe_m", "quantity": 2}],
}


def ticket(**overrides: Any) -> dict[str, Any]:
    """A repair ticket in Pudong outside the outer ring, for tomorrow morning."""
    start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    return {
        "external_id": "WF-1",
        "type": "repair",
        "location": list(TANGZHEN),
        "address": "唐镇 1 号",
        "duration_min": 60,
        "time_windows": [[start.isoformat(), (start + timedelta(hours=3)).isoformat()]],
        **overrides,
    }


@pytest.fixture
def card(client: TestClient, headers: Headers) -> None:
    """The work card, stored (a rate card in force defines the flags and materials)."""
    response = upload(client, headers["admin"], WORK_CARD)
    assert response.status_code == 201, response.text


def test_facts_default_when_left_out(client: TestClient, headers: Headers) -> None:
    body = client.post("/v1/tickets", json=ticket(), headers=headers["shop_a"]).json()
    assert (body["demand"], body["units"], body["difficulty"], body["materials"]) == (0, 1, [], [])


def test_facts_are_stored_and_returned(client: TestClient, headers: Headers, card: None) -> None:
    created = client.post("/v1/tickets", json=ticket(**FACTS), headers=headers["shop_a"])
    assert created.status_code == 201, created.text
    assert {name: created.json()[name] for name in FACTS} == FACTS
    read = client.get(f"/v1/tickets/{created.json()['id']}", headers=headers["shop_a"])
    assert read.json() == created.json()


BAD = [
    ("negative demand", {"demand": -1}, "demand"),
    ("zero units", {"units": 0}, "units"),
    ("fractional units", {"units": 1.5}, "units"),
    ("unknown flag", {"difficulty": ["juggling"]}, "difficulty[0]"),
    ("repeated flag", {"difficulty": ["old_building", "old_building"]}, "difficulty"),
    ("flag not a string", {"difficulty": [7]}, "difficulty[0]"),
    ("unknown material", {"materials": [{"code": "gold", "quantity": 1}]}, "materials[0].code"),
    (
        "zero quantity",
        {"materials": [{"code": "copper_pipe_m", "quantity": 0}]},
        "materials[0].quantity",
    ),
    (
        "material extra",
        {"materials": [{"code": "copper_pipe_m", "quantity": 1, "x": 1}]},
        "materials[0].x",
    ),
    (
        "repeated material",
        {"materials": [{"code": "copper_pipe_m", "quantity": 1}] * 2},
        "materials",
    ),
]


@pytest.mark.parametrize(("case", "overrides", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_facts_are_422_naming_the_field(
    client: TestClient, headers: Headers, card: None, case: str, overrides: Any, field: str
) -> None:
    response = client.post("/v1/tickets", json=ticket(**overrides), headers=headers["shop_a"])
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"]["errors"][0]["field"] == field
    assert error["message"].startswith(f"{field}: ")


def test_flags_need_a_card_that_defines_them(client: TestClient, headers: Headers) -> None:
    response = client.post(
        "/v1/tickets", json=ticket(difficulty=["old_building"]), headers=headers["shop_a"]
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"]["errors"][0]["field"] == "difficulty[0]"
    assert "define: none" in response.json()["error"]["message"]


def test_batch_names_the_item(client: TestClient, headers: Headers, card: None) -> None:
    batch = {
        "tickets": [
            ticket(external_id="WF-B1", **FACTS),
            ticket(external_id="WF-B2", materials=[{"code": "gold", "quantity": 1}]),
        ]
    }
    response = client.post("/v1/tickets/batch", json=batch, headers=headers["shop_a"])
    assert response.status_code == 422
    (error,) = response.json()["error"]["details"]["errors"]
    assert (error["index"], error["field"]) == (1, "tickets[1].materials[0].code")
    batch["tickets"].pop()
    assert (
        client.post("/v1/tickets/batch", json=batch, headers=headers["shop_a"]).status_code == 201
    )


def test_demand_reaches_the_dispatch_problem(
    client: TestClient, headers: Headers, session: Session
) -> None:
    body = client.post("/v1/tickets", json=ticket(demand=4), headers=headers["shop_a"]).json()
    row = ticket_repo.get_ticket(session, ticket_id=body["id"])
    assert row is not None
    origin = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    order, _ = ticket_order(row, origin, now_s=0, pinned_to=None)
    assert order.demand == 4


def _walk_to_completed(client: TestClient, headers: Headers, ticket_id: int) -> None:
    def move(who: str, body: dict[str, object]) -> None:
        response = client.post(
            f"/v1/tickets/{ticket_id}/transitions", json=body, headers=headers[who]
        )
        assert response.status_code == 200, response.text

    move("admin", {"to": "scheduled", "technician_id": "T-A"})
    move("admin", {"to": "dispatched"})
    for status in ("en_route", "on_site", "completed"):
        move("tech_a", {"to": status})


def test_settlement_applies_units_flags_materials_and_rating(
    client: TestClient, headers: Headers, card: None
) -> None:
    technician = {"id": "T-A", "name": "Li Wei", "home_base": list(CENTURY_AVENUE)}
    assert (
        client.post("/v1/technicians", json=technician, headers=headers["admin"]).status_code == 201
    )
    created = client.post("/v1/tickets", json=ticket(**FACTS), headers=headers["shop_a"])
    ticket_id = created.json()["id"]
    _walk_to_completed(client, headers, ticket_id)
    signature = {"signer_name": "王女士", "signed_at": datetime.now(UTC).isoformat()}
    confirm = {"to": "confirmed", "signature": signature, "rating": 5}
    response = client.post(
        f"/v1/tickets/{ticket_id}/transitions", json=confirm, headers=headers["shop_a"]
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "settled"

    settled = client.post(f"/v1/tickets/{ticket_id}/settle", headers=headers["admin"]).json()
    lines = {line["code"]: line for line in settled["lines"]}
    assert Decimal(lines["unit_fee"]["basis"]) == 2  # three units: two beyond the first
    assert lines["unit_fee"]["amount"]["amount"] == "60.00"
    assert lines["difficulty"]["rule_id"] == "difficulty"
    assert Decimal(lines["difficulty"]["rate"]) == Decimal("0.2")
    assert lines["review_bonus"]["amount"]["amount"] == "5.00"
    assert lines["material_deduction"]["amount"]["amount"] == "-24.00"
    total = sum(Decimal(line["amount"]["amount"]) for line in settled["lines"])
    assert Decimal(settled["total"]["amount"]) == total


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": "confirmed", "rating": 6}, "rating"),
        ({"to": "confirmed", "rating": 0}, "rating"),
        ({"to": "en_route", "rating": 5}, "rating"),
    ],
)
def test_bad_ratings_are_422(
    client: TestClient, headers: Headers, body: dict[str, Any], field: str
) -> None:
    created = client.post("/v1/tickets", json=ticket(), headers=headers["shop_a"]).json()
    if body["to"] == "confirmed":
        body = {**body, "signature": {"signer_name": "x", "signed_at": "2026-11-23T11:40:00Z"}}
    response = client.post(
        f"/v1/tickets/{created['id']}/transitions", json=body, headers=headers["admin"]
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith(f"{field}: "), response.text
