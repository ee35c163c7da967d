"""Settling confirmed tickets: the facts gathered, the breakdown, idempotency, refusals."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from shapely.geometry import Point

from api.db.spatial import to_wkb
from api.db.tables import LedgerEntryRow, SettlementRow, TechnicianLocationRow, TicketRow
from api.settlement.service import try_settle
from api.tickets.rules import TicketStatus
from geo.distance import haversine_m
from settlement import CompletedOrder
from settlement.periods import number_orders
from tests.api.payouts.support import (
    CENTURY_AVENUE,
    MONDAY_10H,
    NANJING_ROAD,
    TANGZHEN,
    FinishJob,
    card,
    upload,
)

Headers = dict[str, dict[str, str]]


@pytest.fixture
def card_v1(client: TestClient, headers: Headers) -> None:
    """The test card, version 1, in force from 2026-01-01."""
    assert upload(client, headers["admin"], card()).status_code == 201


def settle(client: TestClient, headers: Headers, ticket_id: int, who: str = "admin") -> Any:
    return client.post(f"/v1/tickets/{ticket_id}/settle", headers=headers[who])


def lines_by_code(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["code"]: line for line in body["lines"]}


def test_a_confirmed_ticket_is_priced_paid_and_closed(
    client: TestClient, headers: Headers, session: Session, finish_job: FinishJob, card_v1: None
) -> None:
    ticket_id = finish_job(place=TANGZHEN)
    response = settle(client, headers, ticket_id)
    assert response.status_code == 200, response.text
    body = response.json()
    lines = lines_by_code(body)
    assert body["created"] is True
    assert body["region_id"] == "zone-pudong-outer"
    assert body["rate_card_version"] == "test-sh@v1"
    assert lines["base_fee"]["amount"] == {"amount": "80.00", "currency": "CNY"}
    assert lines["region_coefficient"]["amount"]["amount"] == "16.00"  # 80 x 0.20
    # From T-A's home base (no earlier job that day), straight-line metres beyond 3 km.
    travel_m = round(float(haversine_m(*CENTURY_AVENUE, *TANGZHEN)))
    beyond_km = Decimal(travel_m - 3000) / 1000
    assert Decimal(lines["distance_subsidy"]["basis"]) == beyond_km
    expected_km_fee = (beyond_km * Decimal("0.80")).quantize(Decimal("0.01"))
    assert Decimal(lines["distance_subsidy"]["amount"]["amount"]) == expected_km_fee
    assert "urgency_bonus" not in lines and "surge" not in lines
    total = sum(Decimal(line["amount"]["amount"]) for line in body["lines"])
    assert Decimal(body["total"]["amount"]) == total
    assert isinstance(body["total"]["amount"], str)
    assert session.get(TicketRow, ticket_id).status == TicketStatus.SETTLED  # type: ignore[union-attr]
    earning = session.scalars(select(LedgerEntryRow).where(LedgerEntryRow.ticket_id == ticket_id))
    assert [(e.kind, e.amount_fen) for e in earning] == [("earning", int(total * 100))]


def test_settling_twice_adds_nothing(
    client: TestClient, headers: Headers, session: Session, finish_job: FinishJob, card_v1: None
) -> None:
    ticket_id = finish_job()
    first = settle(client, headers, ticket_id).json()
    again = settle(client, headers, ticket_id)
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["settlement_id"] == first["settlement_id"]
    assert again.json()["ledger_entry_ids"] == []
    assert session.scalar(select(func.count()).select_from(SettlementRow)) == 1
    assert session.scalar(select(func.count()).select_from(LedgerEntryRow)) == 1


def test_second_job_of_the_month_reaches_the_next_volume_tier_and_starts_from_the_first(
    client: TestClient, headers: Headers, finish_job: FinishJob, card_v1: None
) -> None:
    first = finish_job(place=TANGZHEN, on_site_at=MONDAY_10H)
    second = finish_job(place=NANJING_ROAD, on_site_at=MONDAY_10H + timedelta(hours=3))
    # Settled in the opposite order: the rank follows service time, not settlement time.
    late = settle(client, headers, second).json()
    early = settle(client, headers, first).json()
    assert (early["nth_in_period"], late["nth_in_period"]) == (1, 2)
    volume = lines_by_code(late)["volume_tier"]
    assert Decimal(volume["rate"]) == Decimal("0.10")
    travel_m = round(float(haversine_m(*TANGZHEN, *NANJING_ROAD)))  # from the previous job
    assert Decimal(lines_by_code(late)["distance_subsidy"]["basis"]) == Decimal(
        travel_m - 3000
    ) / Decimal(1000)


def test_urgent_ticket_earns_the_bonus(
    client: TestClient, headers: Headers, finish_job: FinishJob, card_v1: None
) -> None:
    ticket_id = finish_job(priority="emergency", place=CENTURY_AVENUE)
    lines = lines_by_code(settle(client, headers, ticket_id).json())
    assert lines["urgency_bonus"]["amount"]["amount"] == "15.00"
    assert "distance_subsidy" not in lines  # home base is right there


def test_surge_from_recent_demand_against_supply_in_the_region(
    client: TestClient, headers: Headers, session: Session, finish_job: FinishJob, card_v1: None
) -> None:
    recent = MONDAY_10H - timedelta(minutes=10)
    for _ in range(4):  # demand: four new tickets in the zone in the half hour before
        finish_job(to=TicketStatus.COMPLETED, created_at=recent, region_id="zone-pudong-outer")
    # Supply: T-A (the job's technician) and T-B, whose last ping is in the zone too.
    session.add(
        TechnicianLocationRow(
            technician_id="T-B",
            location=to_wkb(Point(*TANGZHEN)),
            recorded_at=recent,
            received_at=recent,
        )
    )
    ticket_id = finish_job(place=TANGZHEN)
    surge = lines_by_code(settle(client, headers, ticket_id).json())["surge"]
    assert Decimal(surge["rate"]) == Decimal("0.10")  # 4 / 2 = 2.0: the +10 % tier
    assert "2" in surge["label_en"]


def test_no_card_in_force_leaves_the_ticket_confirmed(
    client: TestClient, headers: Headers, session: Session, finish_job: FinishJob
) -> None:
    assert upload(client, headers["admin"], card(effective_from="2027-01-01")).status_code == 201
    ticket_id = finish_job()
    response = settle(client, headers, ticket_id)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_rate_card_in_force"
    assert session.get(TicketRow, ticket_id).status == TicketStatus.CONFIRMED  # type: ignore[union-attr]
    assert session.scalar(select(func.count()).select_from(LedgerEntryRow)) == 0


def test_a_card_that_cannot_price_the_type_is_422_naming_the_rule(
    client: TestClient, headers: Headers, finish_job: FinishJob, card_v1: None
) -> None:
    response = settle(client, headers, finish_job(type="inspection"))
    assert response.status_code == 422
    assert "base" in response.json()["error"]["message"]
    assert "inspection" in response.json()["error"]["message"]


def test_only_confirmed_tickets_are_settled(
    client: TestClient, headers: Headers, finish_job: FinishJob, card_v1: None
) -> None:
    response = settle(client, headers, finish_job(to=TicketStatus.COMPLETED))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "ticket_not_settleable"
    assert settle(client, headers, 999_999).status_code == 404


@pytest.mark.parametrize("who", ["tech_a", "shop_a"])
def test_only_staff_settle(
    client: TestClient, headers: Headers, finish_job: FinishJob, card_v1: None, who: str
) -> None:
    assert settle(client, headers, finish_job(), who).status_code == 403
    assert client.post("/v1/tickets/1/settle").status_code == 401


def test_used_version_and_ledger_are_guarded_in_the_database(
    client: TestClient, headers: Headers, session: Session, finish_job: FinishJob, card_v1: None
) -> None:
    settle(client, headers, finish_job())
    for statement in (
        "UPDATE rate_card_version SET document = '{}'",
        "DELETE FROM rate_card_version",
        "UPDATE ledger_entry SET amount_fen = 0",
        "DELETE FROM ledger_entry",
        "UPDATE settlement SET total_fen = 0",
    ):
        with pytest.raises(DBAPIError), session.begin_nested():
            session.execute(text(statement))


def test_try_settle_keeps_the_confirmation_when_settling_fails(
    client: TestClient, headers: Headers, session: Session, finish_job: FinishJob
) -> None:
    regions = client.app.state.region_cache.index(session)  # type: ignore[attr-defined]
    ticket_id = finish_job()
    now = MONDAY_10H + timedelta(hours=1)
    assert try_settle(session, ticket_id=ticket_id, now=now, regions=regions) is None
    assert session.get(TicketRow, ticket_id).status == TicketStatus.CONFIRMED  # type: ignore[union-attr]
    assert upload(client, headers["admin"], card()).status_code == 201
    settled = try_settle(session, ticket_id=ticket_id, now=now, regions=regions)
    assert settled is not None and settled.created
    assert session.get(TicketRow, ticket_id).status == TicketStatus.SETTLED  # type: ignore[union-attr]


def test_the_backlog_settles_what_it_can_and_says_why_not(
    client: TestClient, headers: Headers, session: Session, finish_job: FinishJob, card_v1: None
) -> None:
    good, odd = finish_job(), finish_job(type="inspection")
    finish_job(to=TicketStatus.COMPLETED)  # not confirmed: not part of the backlog
    response = client.post("/v1/settlement/pending", headers=headers["dispatcher"])
    assert response.status_code == 200, response.text
    attempts = {a["ticket_id"]: a for a in response.json()}
    assert set(attempts) == {good, odd}
    assert attempts[good]["refusal"] is None and attempts[good]["total"]["currency"] == "CNY"
    assert attempts[odd]["settlement_id"] is None
    assert attempts[odd]["refusal"].startswith("invalid_order")
    assert session.get(TicketRow, odd).status == TicketStatus.CONFIRMED  # type: ignore[union-attr]
    again = client.post("/v1/settlement/pending", headers=headers["admin"]).json()
    assert [a["ticket_id"] for a in again] == [odd]
    assert client.post("/v1/settlement/pending", headers=headers["tech_a"]).status_code == 403


def test_two_jobs_in_the_same_second_rank_as_the_settlement_package_ranks_them(
    client: TestClient, headers: Headers, finish_job: FinishJob, card_v1: None
) -> None:
    # Only whole seconds of service count, then the id as text: the first job (the smaller id)
    # comes first although it arrived 0.8 s later, in the service as in the settlement
    # package (`geodispatch settle`).
    at = [
        MONDAY_10H + timedelta(microseconds=900_000),
        MONDAY_10H + timedelta(microseconds=100_000),
    ]
    first, second = (finish_job(on_site_at=when) for when in at)
    assert str(first) < str(second)  # consecutive ids (no 9 -> 10 between them)
    service = {t: settle(client, headers, t).json()["nth_in_period"] for t in (second, first)}
    orders = [
        CompletedOrder(order_id=str(t), technician_id="T-A", service_type="repair",
                       service_at=when, lon=121.5, lat=31.2)
        for t, when in zip((first, second), at, strict=True)
    ]  # fmt: skip
    package = number_orders(orders, "month", "Asia/Shanghai")
    assert service == {first: 1, second: 2}
    assert package == {str(first): 1, str(second): 2}
