# ruff: noqa: RUF001 -- the pages print en dashes and multiplication signs on purpose
"""The technician pages ``/me/today`` and ``/me/earnings``: who may open them, what they show.

The day is made through the API: the test card (``tests/api/payouts/support.py``), T-A and T-B
on a shift tomorrow, three tickets of T-A's in windows 14:00, 09:00 and 11:00 (the 11:00 one a
``maintenance`` job the card does not price), one of T-B's, and a job of T-A's taken through
to the customer's confirmation, which settles it under the card.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from tests.api.payouts.support import CENTURY_AVENUE, TANGZHEN, card, upload

Headers = dict[str, dict[str, str]]
ZONE = ZoneInfo("Asia/Shanghai")


@dataclass
class Day:
    """What the fixture made: the day and the ticket ids by role."""

    day: date
    first: int  # 09:00, dispatched
    unpriced: int  # 11:00, maintenance, scheduled
    last: int  # 14:00, dispatched
    other: int  # T-B's
    settled: int  # T-A's, confirmed and settled now


def local(day: date, hour: int) -> str:
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZONE).isoformat()


def _ok(response: Any) -> Any:
    assert response.status_code < 300, response.text
    return response.json()


def _ticket(client: TestClient, staff: dict[str, str], n: int, **fields: Any) -> int:
    body = {
        "external_id": f"ME-{n}",
        "type": "repair",
        "location": list(TANGZHEN),
        "address": f"浦东新区唐镇测试路 {n} 号",
        "duration_min": 45,
        "skills": {"appliance": 1},
        "priority": "normal",
        **fields,
    }
    ticket_id: int = _ok(client.post("/v1/tickets", json=body, headers=staff))["id"]
    return ticket_id


def _move(client: TestClient, who: dict[str, str], ticket_id: int, **body: Any) -> None:
    _ok(client.post(f"/v1/tickets/{ticket_id}/transitions", json=body, headers=who))


@pytest.fixture
def work(client: TestClient, headers: Headers) -> Day:
    staff, tech = headers["dispatcher"], headers["tech_a"]
    assert upload(client, headers["admin"], card()).status_code == 201
    day = (datetime.now(ZONE) + timedelta(days=1)).date()
    for tech_id in ("T-A", "T-B"):
        shift = {"day": day.isoformat(), "start_at": local(day, 8), "end_at": local(day, 19)}
        body = {"id": tech_id, "name": f"师傅 {tech_id}", "home_base": list(CENTURY_AVENUE),
                "skills": {"appliance": 3}, "shifts": [shift]}  # fmt: skip
        _ok(client.post("/v1/technicians", json=body, headers=staff))
    made = {}
    for n, (hour, kind, tech_id) in enumerate(
        [
            (14, "repair", "T-A"),
            (9, "install", "T-A"),
            (11, "maintenance", "T-A"),
            (10, "repair", "T-B"),
        ]
    ):
        window = [[local(day, hour), local(day, hour + 3)]]
        made[hour] = _ticket(client, staff, n, type=kind, time_windows=window, demand=2)
        _move(client, staff, made[hour], to="scheduled", technician_id=tech_id)
    for hour in (14, 9, 10):
        _move(client, staff, made[hour], to="dispatched")
    soon = datetime.now(ZONE) + timedelta(minutes=1)
    window = [[soon.isoformat(), (soon + timedelta(hours=3)).isoformat()]]
    settled = _ticket(client, staff, 9, type="install", priority="urgent", time_windows=window)
    _move(client, staff, settled, to="scheduled", technician_id="T-A")
    _move(client, staff, settled, to="dispatched")
    for status in ("en_route", "on_site", "completed"):
        _move(client, tech, settled, to=status)
    signature = {"signer_name": "王女士", "signed_at": datetime.now(ZONE).isoformat()}
    _move(client, tech, settled, to="confirmed", signature=signature, rating=5)
    return Day(day, made[9], made[11], made[14], made[10], settled)


def stop_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<li class="stop card" id="stop-(\d+)"', page)]


def stop_html(page: str, ticket_id: int) -> str:
    start = page.index(f'id="stop-{ticket_id}"')
    return page[start : page.index("</li>\n", page.index('data-role="error"', start))]


def amounts(fragment: str) -> list[Decimal]:
    return [Decimal(a) for a in re.findall(r'<span class="money">¥(-?[0-9.]+)</span>', fragment)]


def test_without_a_caller_the_pages_send_to_sign_in(client: TestClient, work: Day) -> None:
    for path in (f"/me/today?day={work.day}", "/me/earnings"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=%2Fme%2F")
    response = client.get(f"/me/today?day={work.day}", follow_redirects=False)
    assert response.headers["location"] == f"/login?next=%2Fme%2Ftoday%3Fday%3D{work.day}"
    short = client.get(f"/me?day={work.day}", follow_redirects=False)
    assert short.status_code == 303 and short.headers["location"] == f"/me/today?day={work.day}"


def test_integrators_and_other_technicians_get_the_403_page(
    client: TestClient, headers: Headers, work: Day
) -> None:
    for path in ("/me/today", "/me/earnings"):
        integrator = client.get(path, headers=headers["shop_a"])
        assert integrator.status_code == 403
        assert integrator.headers["content-type"].startswith("text/html")
        other = client.get(f"{path}?technician=T-A&day={work.day}", headers=headers["tech_b"])
        assert other.status_code == 403 and "only their own" in other.text
        assert "唐镇测试路" not in other.text
    own = client.get(f"/me/today?technician=T-B&day={work.day}", headers=headers["tech_b"])
    assert own.status_code == 200 and stop_ids(own.text) == [work.other]


def test_a_technician_sees_their_stops_in_route_order_with_the_moves_they_may_make(
    client: TestClient, headers: Headers, work: Day
) -> None:
    response = client.get(f"/me/today?day={work.day}&lang=en", headers=headers["tech_a"])
    assert response.status_code == 200, response.text
    page = response.text
    assert stop_ids(page) == [work.first, work.unpriced, work.last]  # window order: no plan
    first, unpriced = stop_html(page, work.first), stop_html(page, work.unpriced)
    assert "09:00–12:00" in first and "浦东新区唐镇测试路 1 号" in first
    assert "appliance ≥1" in first and "Parts to carry: 2" in first
    assert re.findall(r'data-to="(\w+)"', first) == ["en_route"]  # dispatched: set off only
    assert re.findall(r'data-to="(\w+)"', unpriced) == []  # scheduled: staff dispatch it first
    (reason,) = re.findall(r'<p class="reason">([^<]*)</p>', unpriced)
    assert "not priceable" in unpriced and "maintenance" in reason  # the card's own reason
    lines = re.findall(r'data-code="(\w+)"', first)
    assert lines[0] == "base_fee" and "region_coefficient" in lines
    *line_amounts, stop_total = amounts(first[first.index('class="lines"') :])
    assert sum(line_amounts) == stop_total == amounts(first)[0]
    day_total = amounts(page[page.index('id="day-total"') :])[0]
    shown = [amounts(stop_html(page, t))[0] for t in (work.first, work.last)]
    assert day_total == sum(shown)  # the 11:00 job is not priced; nothing else is finished
    assert "1</strong> not priceable" in page


def test_staff_open_any_technician_read_only(
    client: TestClient, headers: Headers, work: Day
) -> None:
    picker = client.get("/me/today", headers=headers["dispatcher"])
    assert picker.status_code == 200 and 'href="/me/today?technician=T-A"' in picker.text
    for who in ("dispatcher", "admin"):
        page = client.get(f"/me/today?technician=T-A&day={work.day}", headers=headers[who]).text
        assert stop_ids(page) == [work.first, work.unpriced, work.last]
        assert 'data-role="read-only"' in page
        assert "data-to=" not in page and 'data-role="confirm"' not in page
        assert '"actions": {}' in page  # the page script gets no moves either
        earnings = client.get("/me/earnings?technician=T-A", headers=headers[who]).text
        assert f'id="order-{work.settled}"' in earnings and 'id="withdraw"' not in earnings
    missing = client.get("/me/today?technician=T-NOPE", headers=headers["admin"])
    assert missing.status_code == 404


def test_a_day_that_is_not_a_date_is_a_422_page_naming_day(
    client: TestClient, headers: Headers, work: Day
) -> None:
    response = client.get("/me/today?day=2026-02-30", headers=headers["tech_a"])
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "day" in response.text and "Traceback" not in response.text
    earnings = client.get(
        "/me/earnings?first=2026-12-10&last=2026-12-01", headers=headers["tech_a"]
    )
    assert earnings.status_code == 422 and "first: must not be after last" in earnings.text


def test_the_earnings_page_shows_each_line_and_the_total_of_a_settled_order(
    client: TestClient, headers: Headers, work: Day
) -> None:
    today = datetime.now(ZONE).date()
    api = _ok(client.get(f"/v1/earnings/T-A?first={today}&last={today}", headers=headers["tech_a"]))
    (order,) = api["orders"]
    assert order["ticket_id"] == work.settled
    response = client.get("/me/earnings?lang=zh", headers=headers["tech_a"])
    assert response.status_code == 200, response.text
    page = response.text
    start = page.index(f'id="order-{work.settled}"')
    card_html = page[start : page.index("</article>", start)]
    total, *line_amounts = amounts(card_html)
    assert total == Decimal(order["total"]["amount"]) == sum(line_amounts)
    assert line_amounts == [Decimal(line["amount"]["amount"]) for line in order["lines"]]
    for line in order["lines"]:
        assert line["label_zh"] in card_html and line["label_en"] not in card_html
        assert f"<code>{line['rule_id']}</code>" in card_html
        assert f"基数 {line['basis']} × 费率 {line['rate']}" in card_html
    assert card_html.count("<code>test-sh@v1</code>") == len(order["lines"]) + 1
    assert amounts(page[page.index('id="period-total"') :])[0] == total
    assert amounts(page[page.index('id="balance"') :])[0] == Decimal(api["balance"]["amount"])
    tier = page[page.index('data-role="tier"') :]
    assert "1-1 单 ×1.00" in tier and '<strong data-role="to-next">1</strong>' in tier
    assert 'id="withdraw" class="stack" data-technician="T-A"' in page


def test_a_finished_job_shows_on_its_day_with_what_it_paid_and_moves_redraw(
    client: TestClient, headers: Headers, work: Day
) -> None:
    today = datetime.now(ZONE).date()
    response = client.get(f"/me/today?day={today}", headers=headers["tech_a"])
    assert response.status_code == 200
    page = response.text
    assert stop_ids(page) == [work.settled] and 'data-role="finished"' in page
    paid = stop_html(page, work.settled)
    order = _ok(client.get(f"/v1/earnings/T-A/orders/{work.settled}", headers=headers["admin"]))
    assert amounts(paid)[0] == Decimal(order["total"]["amount"]) and ">paid<" in paid
    assert amounts(page[page.index('id="day-total"') :])[0] == amounts(paid)[0]
    assert "data-to=" not in paid and "hidden>" in paid  # settled: nothing left to do
    _move(client, headers["tech_a"], work.first, to="en_route")
    moved = client.get(f"/me/today?day={work.day}", headers=headers["tech_a"]).text
    assert re.findall(r'data-to="(\w+)"', stop_html(moved, work.first)) == ["on_site", "failed"]
