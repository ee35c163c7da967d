"""Leads downstream: CSV import, conversion into tickets, funnel counts, authorisation."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.db.tables import TicketRow

Headers = dict[str, dict[str, str]]
WINDOW = [["2026-11-25T09:00:00+08:00", "2026-11-25T12:00:00+08:00"]]
CSV = (
    "external_id,name,phone,email,product_line,lon,lat,crs,campaign\n"
    "F-1,王芳,13912345678,wang@qq.com,central_ac,121.5440,31.2210,wgs84,expo\n"
    "F-2,李雷,13912345679,,water_heater,,,,\n"
    "F-3,test,13912345670,,,,,,\n"
)


def capture(client: TestClient, headers: Headers, who: str = "shop_a", **fields: Any) -> Any:
    body = {"name": "王芳", "phone": "13912345678", "location": [121.544, 31.221],
            "address": "浦东新区张杨路 500 号", "product_line": "central_ac", **fields}  # fmt: skip
    response = client.post("/v1/leads", json=body, headers=headers[who])
    assert response.status_code == 201, response.text
    return response.json()["lead"]


def test_csv_import_as_text_body(client: TestClient, headers: Headers) -> None:
    response = client.post(
        "/v1/leads/import",
        content=CSV.encode(),
        params={"campaign": "autumn"},
        headers={**headers["shop_a"], "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["merged"], body["rejected"]) == (2, 0, 1)
    assert [r["row"] for r in body["results"]] == [2, 3, 4]
    assert body["results"][2]["rejection"]["code"] == "fake_name"
    first = client.get(f"/v1/leads/{body['results'][0]['lead_id']}", headers=headers["shop_a"])
    assert first.json()["channel"] == "csv" and first.json()["campaign"] == "expo"
    assert first.json()["region_id"] == "310115"
    second = client.get(f"/v1/leads/{body['results'][1]['lead_id']}", headers=headers["shop_a"])
    assert second.json()["campaign"] == "autumn"  # the query default fills blank cells


def test_csv_import_as_multipart_upload_in_gb18030(client: TestClient, headers: Headers) -> None:
    files = {"file": ("leads.csv", CSV.encode("gb18030"), "text/csv")}
    response = client.post("/v1/leads/import", files=files, headers=headers["dispatcher"])
    assert response.status_code == 200, response.text
    lead_id = response.json()["results"][0]["lead_id"]
    assert client.get(f"/v1/leads/{lead_id}", headers=headers["admin"]).json()["name"] == "王芳"


def test_csv_errors_name_rows_and_fields_and_store_nothing(
    client: TestClient, headers: Headers
) -> None:
    bad = CSV + "F-4,周,13912345671,,,200,31,,\nF-5,吴,13912345672,,Central AC,,,,\n"
    csv_headers = {**headers["shop_a"], "Content-Type": "text/csv"}
    response = client.post("/v1/leads/import", content=bad.encode(), headers=csv_headers)
    assert response.status_code == 422
    errors = response.json()["error"]["details"]["errors"]
    assert [(e["row"], e["field"]) for e in errors] == [(5, "location[0]"), (6, "product_line")]
    assert client.get("/v1/leads", headers=headers["shop_a"]).json()["items"] == []
    partial = client.post("/v1/leads/import", content=bad.encode(), headers=csv_headers,
                          params={"mode": "partial"})  # fmt: skip
    assert partial.status_code == 200
    assert partial.json()["created"] == 2 and len(partial.json()["errors"]) == 2


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"colour,phone\nred,139\n", "text/csv", 422),
        (b"", "text/csv", 422),
        (b"phone\n13912345678\n", "application/json", 415),
        (b"phone\n13912345678\n", "application/xml", 415),
    ],
)
def test_csv_file_problems(
    client: TestClient, headers: Headers, content: bytes, content_type: str, status: int
) -> None:
    response = client.post("/v1/leads/import", content=content,
                           headers={**headers["shop_a"], "Content-Type": content_type})  # fmt: skip
    assert response.status_code == status


def test_convert_creates_a_ticket_of_the_leads_source(client: TestClient, headers: Headers) -> None:
    lead = capture(client, headers)
    body = {"type": "install", "duration_min": 120, "skills": {"aircon": 2}, "time_windows": WINDOW}
    response = client.post(f"/v1/leads/{lead['id']}/convert", json=body, headers=headers["shop_a"])
    assert response.status_code == 201, response.text
    converted = response.json()
    assert converted["lead"]["status"] == "converted"
    assert converted["lead"]["ticket_id"] == converted["ticket_id"]
    ticket = client.get(f"/v1/tickets/{converted['ticket_id']}", headers=headers["shop_a"]).json()
    assert ticket["external_id"] == f"lead-{lead['id']}"
    assert ticket["region_id"] == "310115" and ticket["status"] == "new"
    again = client.post(f"/v1/leads/{lead['id']}/convert", json=body, headers=headers["shop_a"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "lead_converted"


def test_convert_needs_a_location_and_known_skills(client: TestClient, headers: Headers) -> None:
    lead = capture(client, headers, location=None)
    body = {"type": "repair", "duration_min": 60, "skills": {"teleport": 1}}
    response = client.post(f"/v1/leads/{lead['id']}/convert", json=body, headers=headers["admin"])
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["error"]["details"]["errors"]]
    assert fields == ["location", "skills.teleport"]
    rejected = capture(client, headers, name="asdf")
    no = client.post(f"/v1/leads/{rejected['id']}/convert", json={"type": "repair",
                     "duration_min": 60}, headers=headers["admin"])  # fmt: skip
    assert no.status_code == 409


def test_funnel_counts_each_stage_by_channel(
    client: TestClient, headers: Headers, session: Session
) -> None:
    ids = [capture(client, headers, phone=f"1391234{i:04d}", channel=channel)["id"]
           for i, channel in enumerate(["web_form", "web_form", "web_form", "ads"])]  # fmt: skip
    capture(client, headers, name="test", channel="ads")
    body = {"type": "install", "duration_min": 60}
    tickets = [client.post(f"/v1/leads/{i}/convert", json=body, headers=headers["admin"]).json()
               ["ticket_id"] for i in ids[:2]]  # fmt: skip
    session.get_one(TicketRow, tickets[0]).status = "settled"
    session.get_one(TicketRow, tickets[1]).status = "completed"
    session.flush()
    capture(client, headers, who="shop_b", channel="ads")
    funnel = client.get("/v1/leads/funnel", headers=headers["shop_a"]).json()
    rows = {row["channel"]: row for row in funnel["rows"]}
    assert {k: rows["web_form"][k] for k in ("leads", "tickets", "completed", "paid")} == {
        "leads": 3, "tickets": 2, "completed": 2, "paid": 1
    }  # fmt: skip
    assert rows["ads"]["leads"] == 1 and rows["ads"]["rejected"] == 1
    assert funnel["totals"]["leads"] == 4  # shop-b's lead is not shop-a's business
    everyone = client.get("/v1/leads/funnel", headers=headers["admin"]).json()
    assert everyone["totals"]["leads"] == 5
    by_campaign = client.get("/v1/leads/funnel", params={"group_by": "campaign"},
                             headers=headers["admin"]).json()  # fmt: skip
    assert by_campaign["group_by"] == "campaign"


ROUTES = [
    ("post", "/v1/leads", {"phone": "13912345678"}),
    ("post", "/v1/leads/batch", {"leads": [{"phone": "13912345678"}]}),
    ("get", "/v1/leads", None),
    ("get", "/v1/leads/funnel", None),
    ("get", "/v1/leads/{id}", None),
    ("post", "/v1/leads/{id}/touches", {"kind": "call"}),
    ("post", "/v1/leads/{id}/convert", {"type": "install", "duration_min": 60}),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_authorisation_matrix(
    client: TestClient, headers: Headers, method: str, path: str, body: Any
) -> None:
    lead_id = capture(client, headers, who="shop_a")["id"]
    url = path.format(id=lead_id)

    def call(who: str | None) -> int:
        extra = {"headers": headers[who]} if who else {}
        return client.request(method, url, json=body, **extra).status_code

    assert call(None) == 401
    assert call("tech_a") == 403 and call("tech_b") == 403
    if "{id}" in path:
        assert call("shop_b") == 404  # another source's lead does not exist for it
    assert call("shop_a") in {200, 201}


def test_owners_are_staff_only(client: TestClient, headers: Headers) -> None:
    body = {"name": "陈静", "team": "team-310115"}
    for who in ("shop_a", "tech_a"):
        assert (
            client.put("/v1/leads/owners/chen", json=body, headers=headers[who]).status_code == 403
        )
        assert client.get("/v1/leads/owners", headers=headers[who]).status_code == 403
    created = client.put("/v1/leads/owners/chen", json=body, headers=headers["dispatcher"])
    assert created.status_code == 201
    replaced = client.put("/v1/leads/owners/chen", json={**body, "is_active": False},
                          headers=headers["admin"])  # fmt: skip
    assert replaced.status_code == 200 and replaced.json()["is_active"] is False
    bad = client.put("/v1/leads/owners/chen", json={**body, "max_open_leads": 0},
                     headers=headers["admin"])  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["errors"][0]["field"] == "max_open_leads"


def test_an_integrators_list_holds_only_its_own_leads(client: TestClient, headers: Headers) -> None:
    mine = capture(client, headers, who="shop_a")["id"]
    capture(client, headers, who="shop_b")
    listed = client.get("/v1/leads", params={"source": "shop-b"}, headers=headers["shop_a"])
    assert [item["id"] for item in listed.json()["items"]] == [mine]
    everyone = client.get("/v1/leads", headers=headers["admin"]).json()["items"]
    assert {item["source"] for item in everyone} == {"shop-a", "shop-b"}
