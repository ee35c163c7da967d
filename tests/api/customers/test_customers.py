"""Customers through the API: linking, suggestions with evidence, merge and un-merge, the 360."""

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.customers.identity import link_people
from api.customers.rules import Person
from tests.api.conftest import forget_source

Headers = dict[str, dict[str, str]]
PHONE = "+86 138 0013 8000"


def ticket(
    external_id: str, customer: dict[str, Any], location: tuple[float, float] = (121.4737, 31.2304)
) -> dict[str, Any]:
    return {
        "external_id": external_id, "type": "repair", "location": list(location),
        "address": "南京东路 100 号", "duration_min": 60, "customer": customer,
    }  # fmt: skip


def post_ticket(
    client: TestClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    response = client.post("/v1/tickets", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_the_same_phone_spelled_otherwise_links_to_one_customer(
    client: TestClient, headers: Headers
) -> None:
    shop = headers["shop_a"]
    first = post_ticket(client, shop, ticket("C-1", {"name": "王女士", "phone": PHONE}))
    second = post_ticket(client, shop, ticket("C-2", {"name": "王女士", "phone": "138-0013-8000"}))
    assert first["customer"]["id"] == second["customer"]["id"]
    assert second["customer"]["phone"] == "+8613800138000"
    read = client.get(f"/v1/tickets/{second['id']}", headers=shop).json()
    assert read["customer"]["id"] == first["customer"]["id"]
    found = client.get("/v1/customers", params={"phone": "13800138000"}, headers=shop).json()
    assert [c["id"] for c in found["items"]] == [first["customer"]["id"]]


def test_a_web_lead_then_a_marketplace_ticket_share_one_customer_and_a_timeline(
    client: TestClient, headers: Headers
) -> None:
    shop = headers["shop_a"]
    lead = {"channel": "web_form", "name": "王芳", "phone": "139 1234 5678", "member_id": "M-42"}
    captured = client.post("/v1/leads", json=lead, headers=shop)
    assert captured.status_code == 201, captured.text
    customer_id = captured.json()["lead"]["customer_id"]
    # Another phone, a member id: linked by the member id at once.
    body = ticket("TM-1", {"name": "Wang Fang", "phone": "13700137000", "member_id": "M-42",
                           "marketplace_buyer_id": "tb-buyer-9"})  # fmt: skip
    created = post_ticket(client, shop, body)
    assert created["customer"]["id"] == customer_id
    view = client.get(f"/v1/customers/{customer_id}", headers=shop)
    assert view.status_code == 200, view.text
    body360 = view.json()
    kinds = {(i["kind"], i["value"]) for i in body360["identifiers"]}
    assert {("member_id", "M-42"), ("marketplace_buyer_id", "tb-buyer-9"),
            ("phone", "+8613912345678"), ("phone", "+8613700137000")} <= kinds  # fmt: skip
    assert [t["id"] for t in body360["tickets"]] == [created["id"]]
    assert body360["open_ticket_ids"] == [created["id"]]
    assert [lead["channel"] for lead in body360["leads"]] == ["web_form"]
    assert body360["tier"] is None and body360["spend"] == []  # not scored; nothing billed yet
    times = [e["at"] for e in body360["timeline"]]
    assert times == sorted(times)
    assert {"lead_captured", "ticket_created"} <= {e["kind"] for e in body360["timeline"]}


def test_a_probable_duplicate_is_suggested_with_evidence_then_merged_and_unmerged(
    client: TestClient, headers: Headers
) -> None:
    shop = headers["shop_a"]
    first = post_ticket(client, shop, ticket("P-1", {"name": "王女士", "phone": PHONE}))
    second = post_ticket(client, shop, ticket("P-2", {"name": "王芳", "phone": PHONE}))
    a, b = first["customer"]["id"], second["customer"]["id"]
    assert a != b  # never merged silently
    listed = client.get("/v1/customers/merge-suggestions", params={"status": "open"}, headers=shop)
    (suggestion,) = [
        s for s in listed.json()["items"] if {s["customer"]["id"], s["candidate"]["id"]} == {a, b}
    ]
    assert suggestion["evidence"][0]["code"] == "same_phone_different_name"
    accepted = client.post(
        f"/v1/customers/merge-suggestions/{suggestion['id']}/accept", headers=shop
    )
    assert accepted.status_code == 200, accepted.text
    merge = accepted.json()
    assert merge["survivor_id"] == a and merge["moved"]["tickets"] == [second["id"]]
    survivor = client.get(f"/v1/customers/{a}", headers=shop).json()
    assert [t["id"] for t in survivor["tickets"]] == [first["id"], second["id"]]
    assert "merged" in {e["kind"] for e in survivor["timeline"]}
    again = client.post(f"/v1/customers/merge-suggestions/{suggestion['id']}/accept", headers=shop)
    assert again.status_code == 409
    undone = client.post(f"/v1/customers/merges/{merge['id']}/unmerge", headers=shop)
    assert undone.status_code == 200 and undone.json()["unmerged_at"] is not None, undone.text
    restored = client.get(f"/v1/customers/{b}", headers=shop).json()
    assert restored["merged_into_id"] is None
    assert [t["id"] for t in restored["tickets"]] == [second["id"]]
    assert client.get(f"/v1/customers/{a}", headers=shop).json()["merges"][0]["unmerged_by"]


def test_the_same_name_nearby_is_suggested_and_a_refusal_is_final(
    client: TestClient, headers: Headers
) -> None:
    shop = headers["shop_a"]
    post_ticket(client, shop, ticket("N-1", {"name": "陈静", "phone": "13511112222"}))
    post_ticket(
        client, shop, ticket("N-2", {"name": "陈 静", "phone": "13633334444"}, (121.4740, 31.2310))
    )
    items = client.get("/v1/customers/merge-suggestions", headers=shop).json()["items"]
    (suggestion,) = [s for s in items if s["evidence"][0]["code"] == "same_name_nearby"]
    assert 0 < suggestion["evidence"][0]["distance_m"] <= 200
    refused = client.post(
        f"/v1/customers/merge-suggestions/{suggestion['id']}/refuse", headers=shop
    )
    assert refused.status_code == 200 and refused.json()["status"] == "refused"
    post_ticket(
        client, shop, ticket("N-3", {"name": "陈静", "phone": "13633334444"}, (121.4740, 31.2310))
    )
    after = client.get("/v1/customers/merge-suggestions", params={"status": "open"}, headers=shop)
    assert all(s["id"] != suggestion["id"] for s in after.json()["items"])


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/tickets", ticket("B-1", {"name": "x", "phone": "12345"}), "customer.phone"),
        ("/v1/tickets/batch", {"tickets": [ticket("B-2", {"name": "x", "phone": "not a phone"})]},
         "tickets[0].customer.phone"),
    ],
)  # fmt: skip
def test_a_phone_that_does_not_parse_is_422_naming_the_field(
    client: TestClient, headers: Headers, path: str, body: dict[str, Any], field: str
) -> None:
    response = client.post(path, json=body, headers=headers["shop_a"])
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["error"]["details"]["errors"]]


def test_merges_of_itself_across_sources_or_of_anothers_customer_are_refused(
    client: TestClient, headers: Headers
) -> None:
    mine = post_ticket(
        client, headers["shop_a"], ticket("M-1", {"name": "甲", "phone": "13511110000"})
    )
    theirs = post_ticket(
        client, headers["shop_b"], ticket("M-2", {"name": "乙", "phone": "13511110001"})
    )
    a, b = mine["customer"]["id"], theirs["customer"]["id"]
    for caller, duplicate in (("shop_a", a), ("admin", b), ("shop_a", b)):
        response = client.post(f"/v1/customers/{a}/merge", json={"duplicate_id": duplicate},
                               headers=headers[caller])  # fmt: skip
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"]["field"] == "duplicate_id"
        assert "乙" not in response.text
    assert client.get(f"/v1/customers/{b}", headers=headers["shop_a"]).status_code == 404
    assert client.get(f"/v1/customers/{b}", headers=headers["dispatcher"]).status_code == 200
    assert client.get(f"/v1/customers/{a}", headers=headers["tech_a"]).status_code == 403


@pytest.mark.postgis
def test_two_concurrent_submissions_of_a_new_phone_end_on_one_customer(engine: Engine) -> None:
    source = "identity-race"
    person = Person("王芳", "+8613912340000", lon=121.47, lat=31.23)
    ids: list[int | None] = []

    def link(session: Session) -> None:
        (customer_id,) = link_people(session, source=source, people=[person], now=datetime.now(UTC))
        ids.append(customer_id)

    def in_own_session() -> None:
        with Session(engine) as session:
            link(session)
            session.commit()

    try:
        with Session(engine) as first:
            link(first)  # stores the phone, uncommitted
            second = threading.Thread(target=in_own_session)
            second.start()
            second.join(0.5)
            assert second.is_alive()  # waiting on the phone's unique index
            first.commit()
        second.join(10)
        assert len(ids) == 2 and ids[0] == ids[1]
    finally:
        forget_source(engine, source)


@pytest.mark.postgis
def test_a_keyed_ticket_of_a_new_customer_creates_it_in_the_same_statement(
    live: tuple[FastAPI, dict[str, str], str],
) -> None:
    # The one-statement path on PostgreSQL: customer, phone, ticket and key in one round trip.
    app, integrator, _ = live
    with TestClient(app) as client:
        body = ticket("K-1", {"name": "赵先生", "phone": "+86 139 0000 0001"})
        keyed = {**integrator, "Idempotency-Key": "new-customer-1"}
        first = post_ticket(client, keyed, body)
        replay = client.post("/v1/tickets", json=body, headers=keyed)
        again = post_ticket(
            client, {**integrator, "Idempotency-Key": "new-customer-2"},
            ticket("K-2", {"name": "赵先生", "phone": "139-0000-0001"}),
        )  # fmt: skip
        customer_id = first["customer"]["id"]
        assert isinstance(customer_id, int)
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json()["customer"]["id"] == customer_id == again["customer"]["id"]
        assert (
            client.get(f"/v1/tickets/{first['id']}", headers=integrator).json()["customer"]["id"]
            == customer_id
        )
        found = client.get("/v1/customers", params={"phone": "13900000001"}, headers=integrator)
        assert [c["id"] for c in found.json()["items"]] == [customer_id]


@pytest.mark.postgis
def test_a_keyed_ticket_whose_new_phone_a_concurrent_request_took_links_to_that_customer(
    engine: Engine, live: tuple[FastAPI, dict[str, str], str]
) -> None:
    # Another transaction stores the phone first: the one statement waits on the unique index,
    # is refused once that transaction commits, and the general path links to its customer.
    app, integrator, source = live
    person = Person("钱女士", "+8613900000002", lon=121.47, lat=31.23)
    answers: list[dict[str, Any]] = []

    def post() -> None:
        with TestClient(app) as client:
            body = ticket("R-1", {"name": "钱女士", "phone": "+86 139 0000 0002"})
            headers = {**integrator, "Idempotency-Key": "race-1"}
            answers.append(post_ticket(client, headers, body))

    with Session(engine) as first:
        (taken,) = link_people(first, source=source, people=[person], now=datetime.now(UTC))
        racing = threading.Thread(target=post)
        racing.start()
        racing.join(1.0)
        assert racing.is_alive()  # waiting on the phone's unique index
        first.commit()
    racing.join(10)
    assert [a["customer"]["id"] for a in answers] == [taken]


def test_a_large_batch_links_and_suggests_as_single_submissions_do(
    client: TestClient, headers: Headers
) -> None:
    # 60 people: on PostgreSQL their look-up binds each list as one array (50 and more).
    shop = headers["shop_a"]
    known = post_ticket(client, shop, ticket("L-0", {"name": "周杰", "phone": "13900000000"}))
    namesake = post_ticket(client, shop, ticket("L-00", {"name": "吴磊", "phone": "13900000999"}))
    people = [
        ticket(f"L-{i}", {"name": f"批量{i}", "phone": f"1380000{i:04d}"}, (121.30 + i / 100, 31.1))
        for i in range(1, 59)
    ]
    people.append(ticket("L-59", {"name": "周杰", "phone": "+86 139 0000 0000"}))
    people.append(ticket("L-60", {"name": "吴磊", "phone": "13700000001"}, (121.4740, 31.2310)))
    batch = client.post("/v1/tickets/batch", json={"tickets": people}, headers=shop)
    assert batch.status_code == 201, batch.text
    ids = {t["external_id"]: t["id"] for t in batch.json()["tickets"]}

    def customer_of(external_id: str) -> int:
        read = client.get(f"/v1/tickets/{ids[external_id]}", headers=shop).json()
        return int(read["customer"]["id"])

    assert customer_of("L-59") == known["customer"]["id"]  # the same phone: linked at once
    newcomers = {customer_of(f"L-{i}") for i in range(1, 59)}
    assert len(newcomers) == 58 and known["customer"]["id"] not in newcomers
    nearby = customer_of("L-60")
    assert nearby != namesake["customer"]["id"]  # a probable match is only suggested
    open_pairs = client.get(
        "/v1/customers/merge-suggestions", params={"status": "open"}, headers=shop
    ).json()["items"]
    assert [(s["customer"]["id"], s["candidate"]["id"]) for s in open_pairs] == [
        (namesake["customer"]["id"], nearby)
    ]
