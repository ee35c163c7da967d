"""Customer price lists and bills through the service: upload, refusals, bills, totals."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from shapely.geometry import Point

from api.bills.service import bill_totals
from api.config import PROJECT_ROOT
from api.db.spatial import to_wkb
from api.db.tables import SettlementRow, TechnicianRow
from api.regions.cache import RegionCache
from api.tickets import repository as ticket_repo
from api.tickets.rules import Actor, NewTicket, TicketStatus
from settlement import Money

Headers = dict[str, dict[str, str]]
PRICE_LIST = PROJECT_ROOT / "data" / "price_list.toml"
TOML = {"Content-Type": "application/toml"}
# Tuesday 2026-03-10 21:00 in Shanghai: inside the demo list's year and its night window.
ON_SITE_AT = datetime(2026, 3, 10, 13, 0, tzinfo=UTC)
BASE = Point(121.43, 31.23)  # the technician's home base, 4.2 km west of the job
RATE_CARD = {
    "id": "bills-card", "version": 1, "currency": "CNY", "effective_from": "2026-01-01",
    "rules": [{"kind": "base_fee", "id": "base",
               "fees": {"install": {"fee": "90.00", "label_zh": "安装", "label_en": "install"}}}],
}  # fmt: skip


def upload(client: TestClient, headers: Headers, document: bytes) -> Any:
    return client.post("/v1/price-lists", content=document, headers={**headers["admin"], **TOML})


def done_ticket(
    session: Session, external_id: str, *, status: TicketStatus = TicketStatus.COMPLETED,
    source: str = "shop-a", **fields: Any,
) -> int:  # fmt: skip
    """A ticket of ``source`` at People's Square done by ``T-A`` (based 4.2 km west), walked
    by staff up to ``status``."""
    if session.get(TechnicianRow, "T-A") is None:
        session.add(
            TechnicianRow(
                id="T-A", name="技师甲", phone="13800000000", home_base=to_wkb(BASE),
                skills={}, is_active=True, created_at=ON_SITE_AT - timedelta(days=30),
                updated_at=ON_SITE_AT - timedelta(days=30),
            )
        )  # fmt: skip
    new = {"type": "install", "priority": "urgent", **fields}
    (row,) = ticket_repo.create_tickets(
        session,
        tickets=[
            NewTicket(
                source=source, external_id=external_id, type=new["type"], lon=121.4737,
                lat=31.2304, region_id=None, address="黄浦区人民大道 200 号", duration_min=60,
                skills={}, windows=[], priority=new["priority"],
            )
        ],
        actor_key_id=None,
        now=ON_SITE_AT - timedelta(days=1),
    )  # fmt: skip
    ticket = ticket_repo.get_ticket(session, ticket_id=row.id)
    assert ticket is not None
    ticket.units, ticket.materials = 2, [{"code": "copper_pipe_m", "quantity": 3}]
    steps = [TicketStatus.SCHEDULED, TicketStatus.DISPATCHED, TicketStatus.EN_ROUTE,
             TicketStatus.ON_SITE, TicketStatus.COMPLETED, TicketStatus.CONFIRMED]  # fmt: skip
    for offset, target in enumerate(
        steps[: steps.index(status) + 1] if status in steps else [], start=-3
    ):
        ticket_repo.transition(
            session, ticket=ticket, target=target, actor=Actor.STAFF, actor_key_id=None,
            at=ON_SITE_AT + timedelta(minutes=20 * offset),
            technician_id="T-A" if target is TicketStatus.SCHEDULED else None,
        )  # fmt: skip
    session.flush()
    return row.id


@pytest.fixture
def shared_regions(client: TestClient) -> None:
    client.app.state.region_cache = RegionCache()  # type: ignore[attr-defined]


def test_upload_list_and_read_a_version(client: TestClient, headers: Headers) -> None:
    created = upload(client, headers, PRICE_LIST.read_bytes())
    assert created.status_code == 201, created.text
    assert created.json()["price_list"]["label"] == "sh-sz-customer@v2"
    again = upload(client, headers, PRICE_LIST.read_bytes())
    assert again.status_code == 200 and again.json()["outcome"] == "unchanged"
    edited = PRICE_LIST.read_bytes().replace(b'"150.00"', b'"155.00"')
    refused = upload(client, headers, edited)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "price_list_version_exists"
    listed = client.get("/v1/price-lists", headers=headers["dispatcher"]).json()
    assert [v["label"] for v in listed] == ["sh-sz-customer@v2"]
    one = client.get("/v1/price-lists/sh-sz-customer/versions/2", headers=headers["dispatcher"])
    assert one.json()["document"] == PRICE_LIST.read_text()


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (b"from_m = 5000, until_m", b"from_m = 4000, until_m", "travel.bands[1].from_m"),
        (b'{ from_m = 30000, price', b'{ from_m = 30000, until_m = 90000, price',
         "travel.bands[3].until_m"),
        (b'unit_price = "150.00"', b'unit_price = "-150.00"', "unit_price"),
        (b'currency = "CNY"', b'currency = "RMB"', "currency"),
        (b'unit_price = "150.00"', b"unit_price = 150.5", "unit_price"),
        (b"[labour.repair]", b"[labour.repair", "body"),
    ],
)  # fmt: skip
def test_a_bad_price_list_is_422_naming_the_field_and_stores_nothing(
    client: TestClient, headers: Headers, old: bytes, new: bytes, field: str
) -> None:
    document = PRICE_LIST.read_bytes()
    assert old in document
    response = upload(client, headers, document.replace(old, new, 1))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_price_list"
    assert response.json()["error"]["details"]["field"] == field
    assert client.get("/v1/price-lists", headers=headers["admin"]).json() == []


def test_a_done_ticket_has_a_bill_whose_lines_add_up(
    client: TestClient, headers: Headers, session: Session, shared_regions: None
) -> None:
    upload(client, headers, PRICE_LIST.read_bytes())
    ticket_id = done_ticket(session, "bill-1")
    response = client.get(f"/v1/tickets/{ticket_id}/bill", headers=headers["shop_a"])
    assert response.status_code == 200, response.text
    bill = response.json()
    assert [(line["code"], line["amount"]["amount"]) for line in bill["lines"]] == [
        ("labour", "180.00"),
        ("labour_extra_units", "120.00"),
        ("travel", "0.00"),  # 4.2 km from the technician's base: the free band
        ("urgency", "60.00"),  # 20 % of labour 300.00
        ("after_hours", "90.00"),  # on site at 21:00 local: 30 % of labour
        ("part", "84.00"),  # 3 m of copper pipe at 28.00
    ]
    assert bill["total"] == {"amount": "534.00", "currency": "CNY"}
    assert sum(Decimal(line["amount"]["amount"]) for line in bill["lines"]) == Decimal("534.00")
    assert bill["price_list_version"] == "sh-sz-customer@v2" and bill["tier"] is None
    assert bill["service_at"].startswith("2026-03-10T21:00:00+08:00")


def test_the_bill_is_a_printable_page(
    client: TestClient, headers: Headers, session: Session, shared_regions: None
) -> None:
    upload(client, headers, PRICE_LIST.read_bytes())
    ticket_id = done_ticket(session, "bill-page")
    page = client.get(f"/v1/tickets/{ticket_id}/bill?format=html&lang=zh", headers=headers["admin"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "服务账单" in page.text and "534.00" in page.text and "@media print" not in page.text
    assert 'href="/static/app/bill.css"' in page.text
    english = client.get(
        f"/v1/tickets/{ticket_id}/bill?format=html&lang=en", headers=headers["admin"]
    )
    assert "Service bill" in english.text and "night service" in english.text


def test_who_sees_a_bill(
    client: TestClient, headers: Headers, session: Session, shared_regions: None
) -> None:
    upload(client, headers, PRICE_LIST.read_bytes())
    ticket_id = done_ticket(session, "bill-who")
    url = f"/v1/tickets/{ticket_id}/bill"
    assert client.get(url, headers=headers["tech_a"]).status_code == 403  # its own job
    assert client.get(url, headers=headers["shop_b"]).status_code == 404
    assert client.get(f"{url}?format=html", headers=headers["tech_a"]).status_code == 403
    assert client.get(url).status_code == 401


def test_no_bill_before_the_work_is_done_or_without_a_price_list(
    client: TestClient, headers: Headers, session: Session, shared_regions: None
) -> None:
    on_site = done_ticket(session, "bill-on-site", status=TicketStatus.ON_SITE)
    completed = done_ticket(session, "bill-no-list")
    early = client.get(f"/v1/tickets/{on_site}/bill", headers=headers["admin"])
    assert early.status_code == 409 and early.json()["error"]["code"] == "ticket_not_billable"
    missing = client.get(f"/v1/tickets/{completed}/bill", headers=headers["admin"])
    assert (
        missing.status_code == 409 and missing.json()["error"]["code"] == "no_price_list_in_force"
    )


def test_an_unpriced_material_is_422_naming_it(
    client: TestClient, headers: Headers, session: Session, shared_regions: None
) -> None:
    upload(
        client,
        headers,
        PRICE_LIST.read_bytes().replace(b"[parts.copper_pipe_m]", b"[parts.copper_tube_m]"),
    )
    ticket_id = done_ticket(session, "bill-unpriced")
    response = client.get(f"/v1/tickets/{ticket_id}/bill", headers=headers["admin"])
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "unpriced_item" and error["details"]["field"] == "materials"
    assert "copper_pipe_m" in error["message"]


def test_bill_totals_of_many_tickets_in_a_fixed_number_of_queries(
    client: TestClient, headers: Headers, session: Session, shared_regions: None
) -> None:
    upload(client, headers, PRICE_LIST.read_bytes())
    card = client.post("/v1/rate-cards", json=RATE_CARD, headers=headers["admin"])
    assert card.status_code == 201, card.text
    settled = []
    for i in range(6):
        ticket_id = done_ticket(
            session, f"bulk-{i}", status=TicketStatus.CONFIRMED, priority="normal"
        )
        answer = client.post(f"/v1/tickets/{ticket_id}/settle", headers=headers["admin"])
        assert answer.status_code == 200, answer.text
        settled.append(ticket_id)
    not_done = done_ticket(session, "bulk-new", status=TicketStatus.NEW)
    regions = RegionCache().index(session)
    singles = {
        t: client.get(f"/v1/tickets/{t}/bill", headers=headers["admin"]).json()["total"]["amount"]
        for t in settled
    }
    statements: list[str] = []
    connection = session.connection()
    event.listen(connection, "before_cursor_execute", lambda *a: statements.append(a[2]))
    totals = bill_totals(session, [*settled, not_done, 10**9], regions=regions)
    assert {t: str(m.amount) for t, m in totals.items()} == singles
    assert len(settled) == 6 and len(statements) <= 3, statements  # tickets, settlements, lists


def test_bill_totals_measure_the_trip_of_a_ticket_not_yet_settled(
    client: TestClient, headers: Headers, session: Session, shared_regions: None
) -> None:
    upload(client, headers, PRICE_LIST.read_bytes())
    ticket_id = done_ticket(session, "measured")
    totals = bill_totals(session, [ticket_id], regions=RegionCache().index(session))
    assert totals == {ticket_id: Money(Decimal("534.00"))}


def test_settling_records_the_bill_total_beside_the_pay(
    client: TestClient, headers: Headers, session: Session, shared_regions: None
) -> None:
    card = client.post("/v1/rate-cards", json=RATE_CARD, headers=headers["admin"])
    assert card.status_code == 201, card.text

    def settled(external_id: str) -> SettlementRow:
        ticket_id = done_ticket(session, external_id, status=TicketStatus.CONFIRMED)
        answer = client.post(f"/v1/tickets/{ticket_id}/settle", headers=headers["admin"])
        assert answer.status_code == 200, answer.text
        return session.scalars(
            select(SettlementRow).where(SettlementRow.ticket_id == ticket_id)
        ).one()

    early = settled("before-any-price-list")  # the pay never waits for a price list
    assert early.total_fen > 0 and (early.bill_total_fen, early.bill_currency) == (None, None)
    upload(client, headers, PRICE_LIST.read_bytes())
    row = settled("billed")
    bill = client.get(f"/v1/tickets/{row.ticket_id}/bill", headers=headers["admin"]).json()
    assert row.bill_total_fen == Money(Decimal(bill["total"]["amount"])).to_fen()
    assert row.bill_currency == bill["total"]["currency"] == "CNY"
