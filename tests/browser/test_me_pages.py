"""The technician pages on a phone and a desktop, in Debian's chromium.

The seeded day (``tests/browser/world.py``) gives T-1 a planned route tomorrow whose first stop
is already settled. These tests dispatch T-1's last stop through the API (the plan leaves
stops ``scheduled``) and set off for it from the page (it ends ``en_route``), and take a job
of their own, on the day after, through to the customer's confirmation (it ends ``settled``);
nothing else in the world is changed.
"""

from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot, sign_in
from tests.browser.world import World, local


def _route(world: World, tech_id: str) -> list[int]:
    route = next(r for r in world.plan["routes"] if r["technician_id"] == tech_id)
    return [int(stop["order_id"]) for stop in route["stops"]]


@pytest.fixture(scope="module")
def dispatched(world: World, live_url: str) -> int:
    """T-1's last planned stop, moved to ``dispatched`` by the dispatcher."""
    ticket_id = _route(world, "T-1")[-1]
    assert ticket_id != world.settled_id, "T-1 needs a second stop in the plan"
    with httpx.Client(base_url=live_url, timeout=30) as client:
        response = client.post(
            f"/v1/tickets/{ticket_id}/transitions",
            json={"to": "dispatched"},
            headers=world.headers("dispatcher"),
        )
    assert response.status_code == 200, response.text
    return ticket_id


def _api(live_url: str, world: World, who: str, path: str) -> Any:
    with httpx.Client(base_url=live_url, timeout=30) as client:
        response = client.get(path, headers=world.headers(who))
    assert response.status_code == 200, response.text
    return response.json()


def _amount(text: str) -> Decimal:
    return Decimal(text.strip().lstrip("¥").replace(",", ""))


def _only_refusals(errors: list[str], status: int = 409) -> list[str]:
    """Return console errors other than chromium's note of a request refused on purpose."""
    return [e for e in errors if f"status of {status}" not in e]


def test_a_technician_sets_off_from_the_phone_page(
    phone: Page, world: World, dispatched: int, live_url: str
) -> None:
    path = f"/me/today?day={world.day}"
    sign_in(phone, world.tokens["T-1"], quote(path, safe=""))
    assert phone.url.endswith(path)
    open_stops = [t for t in _route(world, "T-1") if t != world.settled_id]
    ids = phone.locator("[data-role=stops] > li.stop").evaluate_all(
        "nodes => nodes.map(n => Number(n.dataset.ticket))"
    )
    assert ids == open_stops  # the applied plan's order
    expect(phone.locator(f"[data-role=finished] #stop-{world.settled_id}")).to_be_visible()
    stop = phone.locator(f"#stop-{dispatched}")
    expect(stop.locator("[data-role=status]")).to_have_text("已派单")
    stop_before = phone.context.new_page()  # the same job open on a second tab, left stale
    stale_errors: list[str] = []
    stop_before.on("console", lambda m: stale_errors.append(m.text) if m.type == "error" else None)
    stop_before.goto(path)
    stop.locator("button[data-to=en_route]").click()
    expect(stop.locator("[data-role=status]")).to_have_text("在途")
    expect(stop.locator("button.act")).to_have_count(2)  # on site, could not finish
    expect(stop.locator("button[data-to=on_site]")).to_be_visible()
    ticket = _api(live_url, world, "T-1", f"/v1/tickets/{dispatched}")
    assert ticket["status"] == "en_route"
    box = stop.locator("button[data-to=on_site]").bounding_box()
    assert box is not None and box["height"] >= 44  # a thumb-sized target
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways ({width} px)"
    phone.evaluate("window.scrollTo(0, 0)")  # the sticky bar back on top
    screenshot(phone, "me-today-phone")
    stale = stop_before.locator(f"#stop-{dispatched}")
    stale.locator("button[data-to=en_route]").click()
    alert = stale.locator("[data-role=error]")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("cannot go from en_route to en_route")
    assert phone.errors == []  # type: ignore[attr-defined]
    assert _only_refusals(stale_errors) == []


def test_the_earnings_page_shows_the_settled_order_as_the_api_does(
    phone: Page, world: World, live_url: str
) -> None:
    api = _api(live_url, world, "T-1", "/v1/earnings/T-1")
    order = next(o for o in api["orders"] if o["ticket_id"] == world.settled_id)
    sign_in(phone, world.tokens["T-1"], quote("/me/earnings", safe=""))
    card = phone.locator(f"#order-{world.settled_id}")
    expect(card).to_be_visible()
    assert _amount(card.locator("[data-role=order-total]").inner_text()) == Decimal(
        order["total"]["amount"]
    )
    lines = card.locator("li.line")
    expect(lines).to_have_count(len(order["lines"]))
    for n, line in enumerate(order["lines"]):
        row = lines.nth(n)
        assert row.get_attribute("data-code") == line["code"]
        expect(row.locator(".line-label")).to_have_text(line["label_zh"])  # a zh-CN phone
        assert _amount(row.locator(".line-amount").inner_text()) == Decimal(
            line["amount"]["amount"]
        )
        expect(row.locator(".line-meta")).to_contain_text(line["rule_id"])
        expect(row.locator(".line-meta")).to_contain_text(line["rate_card_version"])
    assert _amount(phone.locator("#balance").inner_text()) == Decimal(api["balance"]["amount"])
    expect(phone.locator("[data-role=tier]")).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways ({width} px)"
    phone.evaluate("window.scrollTo(0, 0)")  # the sticky bar back on top
    screenshot(phone, "me-earnings-phone")
    phone.fill("#withdraw-amount", "999999.00")  # more than the balance: the API refuses
    phone.click("#withdraw button[type=submit]")
    expect(phone.locator("#withdraw [data-role=error]")).to_contain_text("999999")
    assert _only_refusals(phone.errors) == []  # type: ignore[attr-defined]


def test_another_technician_cannot_open_t1s_pages(phone: Page, world: World) -> None:
    sign_in(phone, world.tokens["T-2"])
    for path in (f"/me/today?technician=T-1&day={world.day}", "/me/earnings?technician=T-1"):
        response = phone.goto(path)
        assert response is not None and response.status == 403
        expect(phone.locator("[role=alert]")).to_contain_text("只能查看自己的页面")
    phone.goto(f"/me/today?day={world.day}")
    shown = phone.locator("li.stop").evaluate_all("n => n.map(x => Number(x.dataset.ticket))")
    assert set(shown) == set(_route(world, "T-2"))
    assert _only_refusals(phone.errors, 403) == []  # type: ignore[attr-defined]


def test_staff_see_a_technicians_day_without_buttons(desktop: Page, world: World) -> None:
    sign_in(desktop, world.tokens["dispatcher"])
    desktop.goto(f"/me/today?technician=T-1&day={world.day}")
    expect(desktop.locator("[data-role=read-only]")).to_be_visible()
    expect(desktop.locator("li.stop").first).to_be_visible()
    expect(desktop.locator("button.act")).to_have_count(0)
    assert desktop.errors == []  # type: ignore[attr-defined]


def test_the_day_on_a_desktop(desktop: Page, world: World, dispatched: int) -> None:
    path = f"/me/today?day={world.day}"
    sign_in(desktop, world.tokens["T-1"], quote(path, safe=""))
    expect(desktop.locator(f"#stop-{dispatched}")).to_be_visible()
    expect(desktop.locator("#day-total")).to_contain_text("¥")
    desktop.evaluate("window.scrollTo(0, 0)")  # the sticky bar back on top
    screenshot(desktop, "me-today-desktop")
    assert desktop.errors == []  # type: ignore[attr-defined]


def test_a_job_is_confirmed_from_the_phone_and_pay_withdrawn(
    phone: Page, world: World, live_url: str
) -> None:
    """A job of T-1's of its own, the day after the seeded day (kept out of that day's views)."""
    day = world.day + timedelta(days=1)
    staff = world.headers("dispatcher")
    body = {
        "external_id": "ME-CONFIRM-1",
        "type": "repair",
        "location": [121.476, 31.232],
        "address": "上海市黄浦区确认路 1 号",
        "duration_min": 30,
        "skills": {"aircon": 1},
        "time_windows": [[local(day, 9), local(day, 12)]],
    }
    with httpx.Client(base_url=live_url, timeout=30) as client:
        response = client.post("/v1/tickets", json=body, headers=staff)
        assert response.status_code == 201, response.text
        ticket_id = response.json()["id"]
        for move in ({"to": "scheduled", "technician_id": "T-1"}, {"to": "dispatched"}):
            moved = client.post(f"/v1/tickets/{ticket_id}/transitions", json=move, headers=staff)
            assert moved.status_code == 200, moved.text
    path = f"/me/today?day={day}"
    sign_in(phone, world.tokens["T-1"], quote(path, safe=""))
    stop = phone.locator(f"#stop-{ticket_id}")
    expect(stop.locator(".stop-pay .money")).to_be_visible()  # priced before the work starts
    for to in ("en_route", "on_site", "completed"):
        stop.locator(f"button[data-to={to}]").click()
        expect(stop).to_have_attribute("data-status", to)
    form = stop.locator("form[data-role=confirm]")
    expect(form).to_be_visible()
    form.locator("input[name=signer_name]").fill("李先生")
    form.locator("select[name=rating]").select_option("5")
    form.locator("button[type=submit]").click()
    finished = phone.locator(f"[data-role=finished] #stop-{ticket_id}")
    expect(finished).to_have_attribute("data-status", "settled")  # the page reloaded
    paid = _api(live_url, world, "T-1", f"/v1/earnings/T-1/orders/{ticket_id}")
    shown = finished.locator(".stop-pay .money").inner_text()
    assert _amount(shown) == Decimal(paid["total"]["amount"])
    assert phone.errors == []  # type: ignore[attr-defined]
    phone.goto("/me/earnings")
    before = _amount(phone.locator("#balance").inner_text())
    phone.fill("#withdraw-amount", "1.00")
    phone.click("#withdraw button[type=submit]")
    expect(phone.locator("#withdraw [data-role=done]")).to_be_visible()
    assert _amount(phone.locator("#balance").inner_text()) == before - 1
    ledger = _api(live_url, world, "T-1", "/v1/earnings/T-1/ledger")
    assert Decimal(ledger["balance"]["amount"]) == before - 1
    assert ledger["entries"][0]["kind"] == "withdrawal"
    assert phone.errors == []  # type: ignore[attr-defined]
