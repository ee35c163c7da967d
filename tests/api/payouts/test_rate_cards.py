"""``/v1/rate-cards``: upload (TOML or JSON), validation, frozen used versions, card in force."""

import json

import pytest
from fastapi.testclient import TestClient

from api.config import PROJECT_ROOT
from api.rate_cards.router import EXAMPLE_TOML
from api.tickets.rules import TicketStatus
from tests.api.payouts.support import FinishJob, card, upload

Headers = dict[str, dict[str, str]]

TOML_CARD = """\
id = "toml-card"
version = 1
currency = "CNY"
effective_from = 2026-01-01

[[rules]]
kind = "base_fee"
id = "base"
[rules.fees.repair]
fee = "80.00"
label_zh = "维修"
label_en = "repair"
"""


def test_upload_json_then_read_list_and_in_force(client: TestClient, headers: Headers) -> None:
    created = upload(client, headers["admin"], card())
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["outcome"] == "created"
    assert body["rate_card"]["label"] == "test-sh@v1"
    assert body["rate_card"]["is_used"] is False
    assert [r["kind"] for r in body["rate_card"]["rules"]][:2] == ["base_fee", "region_coefficient"]
    one = client.get("/v1/rate-cards/test-sh/versions/1", headers=headers["dispatcher"])
    assert one.status_code == 200
    assert json.loads(one.json()["document"]) == card()
    listed = client.get("/v1/rate-cards", headers=headers["dispatcher"]).json()
    assert [(v["card_id"], v["version"]) for v in listed] == [("test-sh", 1)]
    assert (
        client.get("/v1/rate-cards/test-sh/versions/9", headers=headers["admin"]).status_code == 404
    )


def test_upload_toml(client: TestClient, headers: Headers) -> None:
    response = client.post(
        "/v1/rate-cards",
        content=TOML_CARD.encode(),
        headers={**headers["admin"], "Content-Type": "application/toml"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["rate_card"]["document_format"] == "toml"
    assert response.json()["rate_card"]["effective_from"] == "2026-01-01"


def test_the_version_in_force_is_the_latest_to_take_effect(
    client: TestClient, headers: Headers
) -> None:
    upload(client, headers["admin"], card())
    upload(client, headers["admin"], card(version=2, effective_from="2026-12-01"))
    upload(client, headers["admin"], card(version=3, effective_from="2027-01-01"))

    def in_force(day: str) -> int:
        response = client.get(f"/v1/rate-cards/in-force?date={day}", headers=headers["admin"])
        assert response.status_code == 200, response.text
        version: int = response.json()["version"]
        return version

    assert (in_force("2026-11-30"), in_force("2026-12-01"), in_force("2027-05-01")) == (1, 2, 3)
    missing = client.get("/v1/rate-cards/in-force?date=2025-12-31", headers=headers["admin"])
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "no_rate_card_in_force"


def test_same_content_is_unchanged_and_an_unused_version_may_be_replaced(
    client: TestClient, headers: Headers
) -> None:
    upload(client, headers["admin"], card())
    again = upload(client, headers["admin"], card())
    assert (again.status_code, again.json()["outcome"]) == (200, "unchanged")
    edited = card()
    edited["rules"][0]["fees"]["repair"]["fee"] = "85.00"
    replaced = upload(client, headers["admin"], edited)
    assert (replaced.status_code, replaced.json()["outcome"]) == (200, "replaced")
    document = client.get("/v1/rate-cards/test-sh/versions/1", headers=headers["admin"])
    assert json.loads(document.json()["document"])["rules"][0]["fees"]["repair"]["fee"] == "85.00"


def test_a_used_version_cannot_change(
    client: TestClient, headers: Headers, finish_job: FinishJob
) -> None:
    upload(client, headers["admin"], card())
    ticket_id = finish_job(to=TicketStatus.CONFIRMED)
    assert client.post(f"/v1/tickets/{ticket_id}/settle", headers=headers["admin"]).is_success
    edited = card()
    edited["rules"][0]["fees"]["repair"]["fee"] = "85.00"
    response = upload(client, headers["admin"], edited)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "rate_card_version_used"
    read = client.get("/v1/rate-cards/test-sh/versions/1", headers=headers["admin"]).json()
    assert read["is_used"] is True and read["first_used_at"] is not None
    assert upload(client, headers["admin"], card()).json()["outcome"] == "unchanged"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda t: t["rules"][0]["fees"]["repair"].update(fee=80.0), "base"),  # a float
        (lambda t: t["rules"][1]["coefficients"].update({"nowhere": "1.5"}), "nowhere"),
        (lambda t: t["rules"][2]["tiers"].pop(0), "volume"),  # tiers start at order 2
        # the last tier closed at order 50: no tier would say what order 51 gets
        (lambda t: t["rules"][2]["tiers"][1].update(last_order=50), "tiers[1].last_order"),
        (lambda t: t.pop("currency"), "currency"),
        (lambda t: t["rules"].append({"kind": "bonus", "id": "x"}), "kind"),
    ],
)
def test_invalid_cards_are_422_naming_the_rule(
    client: TestClient, headers: Headers, change: object, named: str
) -> None:
    table = card()
    change(table)  # type: ignore[operator]
    response = upload(client, headers["admin"], table)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert named in error["message"] or named in json.dumps(error["details"])
    assert client.get("/v1/rate-cards", headers=headers["admin"]).json() == []


def test_bad_bodies(client: TestClient, headers: Headers) -> None:
    post = "/v1/rate-cards"
    as_text = {**headers["admin"], "Content-Type": "text/plain"}
    assert client.post(post, content=b"x", headers=as_text).status_code == 415
    as_json = {**headers["admin"], "Content-Type": "application/json"}
    broken = client.post(post, content=b'{"id": ', headers=as_json)
    assert broken.status_code == 422
    assert "line 1" in broken.json()["error"]["message"]
    assert client.post(post, content=b"[1, 2]", headers=as_json).status_code == 422
    as_toml = {**headers["admin"], "Content-Type": "application/toml"}
    assert client.post(post, content=b"id = ", headers=as_toml).status_code == 422


@pytest.mark.parametrize(
    ("who", "upload_status", "read_status"),
    [
        ("admin", 201, 200),
        ("dispatcher", 403, 200),
        ("tech_a", 403, 403),
        ("shop_a", 403, 403),
    ],
)
def test_who_may_do_what(
    client: TestClient, headers: Headers, who: str, upload_status: int, read_status: int
) -> None:
    assert upload(client, headers[who], card()).status_code == upload_status
    upload(client, headers["admin"], card())
    for path in (
        "/v1/rate-cards",
        "/v1/rate-cards/test-sh/versions/1",
        "/v1/rate-cards/in-force?date=2026-11-22",
    ):
        assert client.get(path, headers=headers[who]).status_code == read_status
        assert client.get(path).status_code == 401
    assert client.post("/v1/rate-cards", json=card()).status_code == 401


@pytest.mark.parametrize(
    "document",
    [
        (PROJECT_ROOT / "data" / "rate_card.toml").read_text(encoding="utf-8"),
        EXAMPLE_TOML,  # the example /docs shows
    ],
    ids=["demo-card", "docs-example"],
)
def test_the_demo_card_and_the_documented_example_upload(
    client: TestClient, headers: Headers, document: str
) -> None:
    response = client.post(
        "/v1/rate-cards",
        content=document.encode(),
        headers={**headers["admin"], "Content-Type": "application/toml"},
    )
    assert response.status_code == 201, response.text
