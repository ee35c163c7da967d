"""``/v1/leads``: capture, cleaning, de-duplication, scoring, assignment, touches, listing."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.db.tables import LeadRow

Headers = dict[str, dict[str, str]]
PUDONG = [121.5440, 31.2210]  # Pudong district, inside its territory team-310115


def lead(**overrides: Any) -> dict[str, Any]:
    """A complete web-form lead for central AC in Pudong."""
    return {
        "channel": "web_form",
        "campaign": "double11",
        "name": "王芳",
        "phone": "139 1234 5678",
        "email": "Wang.Fang@QQ.com",
        "product_line": "central_ac",
        "location": PUDONG,
        **overrides,
    }


def capture(client: TestClient, headers: Headers, who: str = "shop_a", **overrides: Any) -> Any:
    response = client.post("/v1/leads", json=lead(**overrides), headers=headers[who])
    assert response.status_code == 201, response.text
    return response.json()


def put_owner(client: TestClient, headers: Headers, owner_id: str, **body: Any) -> Any:
    response = client.put(f"/v1/leads/owners/{owner_id}", json=body, headers=headers["admin"])
    assert response.status_code in {200, 201}, response.text
    return response.json()


def test_capture_cleans_scores_and_locates(client: TestClient, headers: Headers) -> None:
    body = capture(client, headers)
    assert body["outcome"] == "created"
    created = body["lead"]
    assert created["source"] == "shop-a"
    assert created["phone"] == "+8613912345678"
    assert created["email"] == "Wang.Fang@qq.com"
    assert created["region_id"] == "310115" and created["team"] == "team-310115"
    assert created["status"] == "new"  # no owners yet
    score = created["score"]
    assert score["total"] == sum(line["points"] for line in score["lines"])
    assert score["band"] == "hot" and {line["code"] for line in score["lines"]} >= {
        "channel", "completeness", "product_line", "touches", "region", "recency"
    }  # fmt: skip
    assert created["first_response"]["due_at"] is not None
    assert created["first_response"]["is_overdue"] is False


def test_gcj02_location_is_stored_as_wgs84(client: TestClient, headers: Headers) -> None:
    created = capture(client, headers, location=[121.5485, 31.2190], crs="gcj02")["lead"]
    lon, lat = created["location"]
    assert 121.54 < lon < 121.546 and 31.219 < lat < 31.225  # shifted by a few hundred metres


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"phone": None, "email": None}, "no_contact"),
        ({"phone": "12345", "email": None}, "invalid_phone"),
        ({"phone": None, "email": "x@mailinator.com"}, "disposable_email"),
        ({"name": "asdf"}, "fake_name"),
        ({"notes": "cheap casino chips"}, "blocked_word"),
    ],
)
def test_junk_is_stored_rejected_with_its_reason(
    client: TestClient, headers: Headers, overrides: dict[str, Any], code: str
) -> None:
    body = capture(client, headers, **overrides)
    assert body["outcome"] == "rejected"
    assert body["lead"]["status"] == "rejected"
    assert body["lead"]["rejection"]["code"] == code
    assert body["lead"]["score"] is None and body["lead"]["owner_id"] is None
    stored = client.get(f"/v1/leads/{body['lead']['id']}", headers=headers["shop_a"]).json()
    assert stored["rejection"]["code"] == code


def test_same_person_merges_and_counts_touches(client: TestClient, headers: Headers) -> None:
    first = capture(client, headers, email=None)["lead"]
    again = capture(client, headers, phone="+86 139-1234-5678", email="wf@163.com",
                    channel="ads", campaign="spring")  # fmt: skip
    assert again["outcome"] == "merged"
    merged = again["lead"]
    assert merged["id"] == first["id"]
    assert merged["touch_count"] == 2
    assert merged["email"] == "wf@163.com"  # a blank filled, nothing overwritten
    assert merged["channel"] == "web_form"
    touches_line = next(x for x in merged["score"]["lines"] if x["code"] == "touches")
    assert touches_line["points"] == 5
    by_email = capture(client, headers, phone=None, email="WF@163.com")
    assert by_email["outcome"] == "merged" and by_email["lead"]["touch_count"] == 3
    detail = client.get(f"/v1/leads/{first['id']}", headers=headers["shop_a"]).json()
    assert [(t["kind"], t["channel"]) for t in detail["touches"]] == [
        ("capture", "web_form"), ("capture", "ads"), ("capture", "web_form")
    ]  # fmt: skip


def test_dedupe_stays_within_a_source(client: TestClient, headers: Headers) -> None:
    mine = capture(client, headers, who="shop_a")["lead"]
    theirs = capture(client, headers, who="shop_b")
    assert theirs["outcome"] == "created" and theirs["lead"]["id"] != mine["id"]


def test_assignment_by_territory_product_line_and_load(
    client: TestClient, headers: Headers
) -> None:
    ac = ["central_ac"]
    put_owner(client, headers, "chen", name="陈静", team="team-310115", product_lines=ac)
    put_owner(client, headers, "li", name="李强", team="team-310115", product_lines=[])
    put_owner(client, headers, "zhou", name="周", team="team-310104", product_lines=ac)
    hot = capture(client, headers)["lead"]
    assert hot["owner_id"] == "chen" and hot["status"] == "assigned"
    assert "territory team team-310115" in hot["assignment_reason"]
    other = capture(client, headers, phone="13912340000", email=None, product_line="cleaning")
    assert other["lead"]["owner_id"] == "li"
    owners = client.get("/v1/leads/owners", headers=headers["dispatcher"]).json()
    assert {o["id"]: o["open_leads"] for o in owners} == {"chen": 1, "li": 1, "zhou": 0}


def test_batch_assigns_hot_leads_first(client: TestClient, headers: Headers) -> None:
    put_owner(client, headers, "solo", name="One", team="team-310115", max_open_leads=1)
    cold = lead(channel="csv", phone="13900000001", email=None, product_line=None,
                name=None, location=None)  # fmt: skip
    hot = lead(phone="13900000002", email=None)
    response = client.post("/v1/leads/batch", json={"leads": [cold, hot]}, headers=headers["admin"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["created"] == 2
    ids = [r["lead_id"] for r in body["results"]]
    leads = [client.get(f"/v1/leads/{i}", headers=headers["admin"]).json() for i in ids]
    assert [x["owner_id"] for x in leads] == [None, "solo"]


def test_batch_with_an_invalid_item_stores_nothing(client: TestClient, headers: Headers) -> None:
    bad = lead(location=[200, 31])
    response = client.post(
        "/v1/leads/batch", json={"leads": [lead(), bad]}, headers=headers["shop_a"]
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"]["errors"][0]["field"].startswith("leads[1].location")
    listed = client.get("/v1/leads", headers=headers["shop_a"]).json()
    assert listed["items"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "converted"}, "status"),
        ({"channel": "fax"}, "channel"),
        ({"location": [121.5, float("nan")]}, "location[1]"),
        ({"product_line": "Central AC"}, "product_line"),
        ({"captured_at": "2026-11-22T10:00:00"}, "captured_at"),
        ({"email": "x" * 400}, "email"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    client: TestClient, headers: Headers, body: dict[str, Any], field: str
) -> None:
    payload = lead(**body) if "location" not in body else {**lead(), **body}
    response = client.post(
        "/v1/leads",
        content=json.dumps(payload, allow_nan=True),
        headers={**headers["shop_a"], "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"]["errors"][0]["field"] == field


def test_touches_answer_the_sla_and_tick_the_nurture_plan(
    client: TestClient, headers: Headers
) -> None:
    created = capture(client, headers)["lead"]
    detail = client.get(f"/v1/leads/{created['id']}", headers=headers["shop_a"]).json()
    assert [(s["day"], s["kind"]) for s in detail["nurture"]] == [
        (0, "call"), (1, "sms"), (3, "email"), (7, "call")
    ]  # fmt: skip
    response = client.post(
        f"/v1/leads/{created['id']}/touches",
        json={"kind": "call", "outcome": "reached", "note": "wants a quote"},
        headers=headers["dispatcher"],
    )
    assert response.status_code == 201, response.text
    after = response.json()
    assert after["status"] == "contacted"
    assert after["first_response"]["responded_at"] is not None
    assert [s["done_at"] is not None for s in after["nurture"]] == [True, False, False, False]
    assert after["touches"][-1]["direction"] == "outbound"
    bad = client.post(f"/v1/leads/{created['id']}/touches", json={"kind": "fax"},
                      headers=headers["admin"])  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["errors"][0]["field"] == "kind"


def test_list_filters_and_cursor_pagination(client: TestClient, headers: Headers) -> None:
    ids = [capture(client, headers, phone=f"1391234{i:04d}", email=None)["lead"]["id"]
           for i in range(5)]  # fmt: skip
    capture(client, headers, name="test")
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, "status": "new"}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/leads", params=params, headers=headers["shop_a"]).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    rejected = client.get("/v1/leads", params={"status": "rejected"}, headers=headers["shop_a"])
    assert [i["rejection"]["code"] for i in rejected.json()["items"]] == ["fake_name"]
    overdue = client.get("/v1/leads", params={"is_overdue": True}, headers=headers["shop_a"])
    assert overdue.json()["items"] == []
    bad = client.get("/v1/leads", params={"cursor": "abc"}, headers=headers["shop_a"])
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "cursor"
    too_big = client.get("/v1/leads", params={"limit": 1000}, headers=headers["shop_a"])
    assert too_big.status_code == 422


def test_idempotency_key_replays_a_capture(client: TestClient, headers: Headers) -> None:
    key = {**headers["shop_a"], "Idempotency-Key": "lead-retry-1"}
    first = client.post("/v1/leads", json=lead(), headers=key)
    again = client.post("/v1/leads", json=lead(), headers=key)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.json()["lead"]["touch_count"] == 1
    other = client.post("/v1/leads", json=lead(name="李雷"), headers=key)
    assert other.status_code == 422


def test_a_capture_after_the_window_is_a_new_lead(client: TestClient, headers: Headers) -> None:
    old = capture(client, headers, captured_at="2020-01-01T09:00:00+08:00")["lead"]
    assert next(x for x in old["score"]["lines"] if x["code"] == "recency")["points"] == 0
    again = capture(client, headers)
    assert again["outcome"] == "created" and again["lead"]["id"] != old["id"]


def test_sla_flags_are_queryable(client: TestClient, headers: Headers, session: Session) -> None:
    late, soon, fine = (capture(client, headers, phone=f"1391234{i:04d}", email=None)["lead"]
                        for i in range(3))  # fmt: skip
    now = datetime.now(UTC)
    session.get_one(LeadRow, late["id"]).first_response_due_at = now - timedelta(minutes=1)
    session.get_one(LeadRow, soon["id"]).first_response_due_at = now + timedelta(minutes=2)
    session.flush()

    def ids(**flag: bool) -> list[int]:
        page = client.get("/v1/leads", params=flag, headers=headers["shop_a"]).json()
        return [item["id"] for item in page["items"]]

    assert ids(is_overdue=True) == [late["id"]]
    assert ids(is_at_risk=True) == [soon["id"]]  # hot: 15 min window, the last quarter
    assert set(ids(is_overdue=False)) == {soon["id"], fine["id"]}
    detail = client.get(f"/v1/leads/{late['id']}", headers=headers["shop_a"]).json()
    assert detail["first_response"]["is_overdue"] is True
    client.post(f"/v1/leads/{late['id']}/touches", json={"kind": "sms"}, headers=headers["admin"])
    assert ids(is_overdue=True) == []  # answered, late: no longer waiting
    answered = client.get(f"/v1/leads/{late['id']}", headers=headers["shop_a"]).json()
    assert answered["first_response"]["is_overdue"] is True  # the SLA was still missed


def test_nurture_steps_due_form_a_to_do_list(client: TestClient, headers: Headers) -> None:
    created = capture(client, headers)["lead"]
    capture(client, headers, who="shop_b")
    due_now = client.get("/v1/leads/nurture/due", headers=headers["shop_a"]).json()
    assert [(d["lead_id"], d["kind"]) for d in due_now] == [(created["id"], "call")]
    in_a_week = (datetime.now(UTC) + timedelta(days=8)).isoformat()
    later = client.get("/v1/leads/nurture/due", params={"before": in_a_week},
                       headers=headers["shop_a"]).json()  # fmt: skip
    assert [d["kind"] for d in later] == ["call", "sms", "email", "call"]
    client.post(f"/v1/leads/{created['id']}/touches", json={"kind": "call"},
                headers=headers["shop_a"])  # fmt: skip
    assert client.get("/v1/leads/nurture/due", headers=headers["shop_a"]).json() == []
    everyone = client.get("/v1/leads/nurture/due", headers=headers["admin"]).json()
    assert len(everyone) == 1  # shop-b's first call
    assert client.get("/v1/leads/nurture/due", headers=headers["tech_a"]).status_code == 403


def test_one_person_twice_in_a_batch_merges_in_memory(client: TestClient, headers: Headers) -> None:
    stored = capture(client, headers, phone="13912340001", email=None)["lead"]
    batch = [
        lead(phone="13912340002", email=None),
        lead(phone="13912340002", email="li@qq.com"),  # same as the first item
        lead(phone=None, email="LI@qq.com"),  # reaches it through the e-mail just learnt
        lead(phone="139 1234 0001", email=None),  # a stored lead
    ]
    response = client.post("/v1/leads/batch", json={"leads": batch}, headers=headers["shop_a"])
    results = response.json()["results"]
    assert [r["outcome"] for r in results] == ["created", "merged", "merged", "merged"]
    assert results[0]["lead_id"] == results[1]["lead_id"] == results[2]["lead_id"]
    assert results[3]["lead_id"] == stored["id"]
    merged = client.get(f"/v1/leads/{results[0]['lead_id']}", headers=headers["shop_a"]).json()
    assert merged["touch_count"] == 3 and merged["email"] == "li@qq.com"
    assert len(merged["touches"]) == 3 and len(merged["nurture"]) == 4
