# ruff: noqa: RUF001 -- customers write Chinese with full-width punctuation
"""``/v1/inquiries``: drafts with reasons, bad input refused, confirmation into a ticket."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.db.tables import InquiryLabelRow, InquiryRow, TicketRow
from api.inquiries.model_store import train_artefact
from api.inquiries.segmenter import segmenter
from api.inquiries.service import confirmed_examples

Headers = dict[str, dict[str, str]]
CORPUS = Path(__file__).resolve().parents[2] / "data" / "inquiries" / "inquiries.jsonl"
PHONE = "13912345678"
AIRCON = {
    "text": f"师傅你好，家里空调不制冷了，吹出来都是热风，今天能来吗？电话 {PHONE}",
    "location": [121.5447, 31.2216],
    "address": "浦东新区锦绣路 1001 弄 8 号 602 室",
    "contact": {"name": "陈先生", "phone": PHONE},
}


def submit(client: TestClient, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = client.post("/v1/inquiries", json=AIRCON | changes, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def count(session: Session, table: type[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_an_inquiry_is_answered_with_a_draft_and_its_reasons(
    client: TestClient, headers: Headers
) -> None:
    body = submit(client, headers["shop_a"])
    assert body["source"] == "shop-a" and body["status"] == "open" and body["language"] == "zh"
    assert body["region_id"] is not None and body["contact"]["name"] == "陈先生"
    draft = body["draft"]
    assert draft["type"]["value"] == "repair"
    assert [s["name"] for s in draft["skills"]][:1] == ["aircon"]
    assert draft["duration_min"]["value"] > 0 and draft["model"]["corpus_examples"] > 1000
    parts = [draft["type"], draft["priority"], draft["duration_min"], *draft["skills"]]
    for part in parts:
        assert 0 < part["confidence"] <= 1 and part["words"], part
        assert not any(ch.isdigit() for word in part["words"] for ch in word)
    assert "空调" in draft["skills"][0]["words"]


@pytest.mark.parametrize(
    ("text", "ticket_type", "skill", "language"),
    [
        ("hi, the toilet is clogged and water won't go down, pls send someone", "repair",
         "plumbing", "en"),
        ("新买的smart lock到了，想约师傅install", "install", "locks", "mixed"),
    ],
)  # fmt: skip
def test_english_and_mixed_inquiries_are_drafted(
    client: TestClient, headers: Headers, text: str, ticket_type: str, skill: str, language: str
) -> None:
    body = submit(client, headers["dispatcher"], text=text)
    assert body["source"] == "internal" and body["language"] == language
    assert body["draft"]["type"]["value"] == ticket_type
    assert skill in {s["name"] for s in body["draft"]["skills"]}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "空调坏了" * 25_000}, "text"),  # 100,000 characters, 300 KB
        ({"text": "x" * 10_001}, "text"),
        ({"text": " ？！ 123 "}, "text"),
        ({"text": None}, "text"),
        ({"location": [181, 31.2]}, "location[0]"),
        ({"location": [121.5, "31.2"]}, "location[1]"),
        ({"crs": "baidu"}, "crs"),
        ({"contact": {}}, "contact"),
        ({"contact": {"email": "not-an-address"}}, "contact.email"),
        ({"text": "空调\x00坏了"}, "text"),
        ({"priority": "urgent"}, "priority"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_stores_nothing(
    client: TestClient, headers: Headers, session: Session, changes: dict[str, Any], field: str
) -> None:
    before = count(session, InquiryRow)
    body = {k: v for k, v in (AIRCON | changes).items() if v is not None}
    response = client.post("/v1/inquiries", json=body, headers=headers["shop_a"])
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in {e["field"] for e in error["details"]["errors"]}, error
    assert count(session, InquiryRow) == before


def test_a_missing_location_is_refused(client: TestClient, headers: Headers) -> None:
    body = {k: v for k, v in AIRCON.items() if k != "location"}
    response = client.post("/v1/inquiries", json=body, headers=headers["shop_a"])
    assert response.status_code == 422
    assert response.json()["error"]["details"]["errors"][0]["field"] == "location"


def test_a_retry_with_the_same_key_stores_one_inquiry(
    client: TestClient, headers: Headers, session: Session
) -> None:
    keyed = {**headers["shop_a"], "Idempotency-Key": "inq-1"}
    first = client.post("/v1/inquiries", json=AIRCON, headers=keyed)
    again = client.post("/v1/inquiries", json=AIRCON, headers=keyed)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert count(session, InquiryRow) == 1


def test_an_integrator_sees_only_its_own_inquiries(client: TestClient, headers: Headers) -> None:
    mine, theirs = submit(client, headers["shop_a"]), submit(client, headers["shop_b"])
    listed = client.get("/v1/inquiries", headers=headers["shop_a"]).json()
    assert [i["id"] for i in listed["items"]] == [mine["id"]]
    other = client.get(f"/v1/inquiries/{theirs['id']}", headers=headers["shop_a"])
    assert other.status_code == 404 and PHONE not in other.text
    everyone = client.get("/v1/inquiries", headers=headers["admin"]).json()
    assert {i["id"] for i in everyone["items"]} == {mine["id"], theirs["id"]}


def test_pages_follow_their_cursor(client: TestClient, headers: Headers) -> None:
    ids = [submit(client, headers["shop_a"])["id"] for _ in range(3)]
    first = client.get("/v1/inquiries", params={"limit": 2}, headers=headers["shop_a"]).json()
    params = {"limit": 2, "cursor": first["next_cursor"]}
    second = client.get("/v1/inquiries", params=params, headers=headers["shop_a"]).json()
    assert [i["id"] for i in first["items"] + second["items"]] == ids[::-1]
    assert second["next_cursor"] is None
    bad = client.get("/v1/inquiries", params={"cursor": "nope"}, headers=headers["shop_a"])
    assert (
        bad.status_code == 422 and bad.json()["error"]["details"]["errors"][0]["field"] == "cursor"
    )


def test_confirming_the_draft_creates_its_ticket(
    client: TestClient, headers: Headers, session: Session
) -> None:
    inquiry = submit(client, headers["shop_a"])
    url = f"/v1/inquiries/{inquiry['id']}/confirm"
    response = client.post(url, json={}, headers=headers["dispatcher"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["corrected"] == [] and body["inquiry"]["status"] == "confirmed"
    ticket = client.get(f"/v1/tickets/{body['ticket_id']}", headers=headers["shop_a"]).json()
    draft = inquiry["draft"]
    assert ticket["source"] == "shop-a" and ticket["external_id"] == f"inquiry-{inquiry['id']}"
    assert ticket["type"] == draft["type"]["value"]
    assert ticket["skills"] == {s["name"]: s["level"] for s in draft["skills"]}
    assert ticket["duration_min"] == draft["duration_min"]["value"]
    assert ticket["address"] == AIRCON["address"] and ticket["customer"]["name"] == "陈先生"
    assert ticket["location"] == pytest.approx(inquiry["location"])
    label = session.scalars(select(InquiryLabelRow)).one()
    assert label.inquiry_id == inquiry["id"] and label.corrected == []


def test_corrections_are_kept_as_training_data(
    client: TestClient, headers: Headers, session: Session, tmp_path: Path
) -> None:
    inquiry = submit(client, headers["shop_a"])
    correction = {"type": "install", "skills": {"aircon": 2, "electrical": 1},
                  "duration_min": 120, "time_windows": [["2026-12-05T09:00:00+08:00",
                                                         "2026-12-05T12:00:00+08:00"]]}  # fmt: skip
    url = f"/v1/inquiries/{inquiry['id']}/confirm"
    response = client.post(url, json=correction, headers=headers["admin"])
    assert response.status_code == 201, response.text
    assert response.json()["corrected"] == ["type", "skills", "duration_min"]
    ticket = session.get(TicketRow, response.json()["ticket_id"])
    assert ticket is not None and ticket.type == "install" and ticket.skills == correction["skills"]
    (example,) = confirmed_examples(session, weight=3.0)
    assert (example.type, example.skills, example.weight) == ("install", correction["skills"], 3.0)
    # `geodispatch inquiries train` adds them to the corpus: here on a 300-line corpus.
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = CORPUS.read_text(encoding="utf-8").splitlines(keepends=True)[:300]
    (corpus / "part.jsonl").write_text("".join(lines), encoding="utf-8")
    segment = segmenter(tmp_path / "jieba")
    artefact = train_artefact(corpus, segment, [example], now=datetime.now(UTC))
    assert (artefact.corpus_examples, artefact.confirmed_labels) == (300, 1)
    assert artefact.model.examples == 301


def test_an_inquiry_is_confirmed_once(
    client: TestClient, headers: Headers, session: Session
) -> None:
    inquiry = submit(client, headers["shop_a"])
    url = f"/v1/inquiries/{inquiry['id']}/confirm"
    first = client.post(url, json={}, headers=headers["admin"])
    again = client.post(url, json={"type": "install"}, headers=headers["admin"])
    assert first.status_code == 201 and again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "inquiry_confirmed"
    assert again.json()["error"]["details"]["ticket_id"] == first.json()["ticket_id"]
    assert count(session, InquiryLabelRow) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"skills": {"welding": 2}}, "skills.welding"),
        ({"skills": {"aircon": 11}}, "skills.aircon"),
        ({"type": "paint"}, "type"),
        ({"duration_min": 0}, "duration_min"),
        ({"time_windows": [["2026-12-05T12:00:00+08:00", "2026-12-05T09:00:00+08:00"]]},
         "time_windows"),
        ({"surprise": 1}, "surprise"),
    ],
)  # fmt: skip
def test_a_bad_confirmation_is_refused_and_leaves_the_inquiry_open(
    client: TestClient, headers: Headers, session: Session, body: dict[str, Any], field: str
) -> None:
    inquiry = submit(client, headers["shop_a"])
    tickets = count(session, TicketRow)
    url = f"/v1/inquiries/{inquiry['id']}/confirm"
    response = client.post(url, json=body, headers=headers["admin"])
    assert response.status_code == 422, response.text
    assert field in {e["field"] for e in response.json()["error"]["details"]["errors"]}
    assert count(session, TicketRow) == tickets and count(session, InquiryLabelRow) == 0
    assert (
        client.get(url.removesuffix("/confirm"), headers=headers["admin"]).json()["status"]
        == "open"
    )


def test_an_inquiry_without_an_address_needs_one_to_confirm(
    client: TestClient, headers: Headers
) -> None:
    body = {k: v for k, v in AIRCON.items() if k != "address"}
    response = client.post("/v1/inquiries", json=body, headers=headers["shop_a"])
    url = f"/v1/inquiries/{response.json()['id']}/confirm"
    refused = client.post(url, json={}, headers=headers["admin"])
    assert refused.status_code == 422 and refused.json()["error"]["message"].startswith("address")
    given = client.post(url, json={"address": "静安区南京西路 1 号"}, headers=headers["admin"])
    assert given.status_code == 201, given.text


def test_only_staff_confirm(client: TestClient, headers: Headers) -> None:
    inquiry = submit(client, headers["shop_a"])
    url = f"/v1/inquiries/{inquiry['id']}/confirm"
    assert client.post(url, json={}, headers=headers["shop_a"]).status_code == 403
    assert client.post(url, json={}, headers=headers["tech_a"]).status_code == 403
