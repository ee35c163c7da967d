"""The managers' ``/reports`` page on a desktop and a phone, in Debian's chromium.

Besides the seeded day (``tests/browser/world.py``: one settled ticket, shifts tomorrow) the
integrator captures a few leads through three channels, one of them junk, and the dispatcher
reaches two of them by phone, so that every board has something to draw.
"""

from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot, sign_in
from tests.browser.world import World

BOARDS = ("lead-funnel", "sla", "cost", "utilisation")
LEADS = [
    {"channel": "web_form", "name": "陈女士", "phone": "13912345601",
     "location": [121.4737, 31.2304], "product_line": "central_ac"},
    {"channel": "web_form", "name": "赵先生", "phone": "13912345602",
     "location": [121.5440, 31.2210]},
    {"channel": "ads", "name": "孙女士", "phone": "13912345603", "location": [121.4450, 31.2200]},
    {"channel": "partner", "name": "周先生", "email": "zhou@example.cn"},
    {"channel": "ads", "name": "test test"},  # no phone, no e-mail: junk
]  # fmt: skip


@pytest.fixture(scope="module")
def report_path(world: World, live_url: str) -> str:
    """Leads captured and two of them reached; the page's URL covering them and the day."""
    with httpx.Client(base_url=live_url, timeout=30) as client:
        response = client.post(
            "/v1/leads/batch", json={"leads": LEADS}, headers=world.headers("shop")
        )
        assert response.status_code < 300, response.text
        created = [r["lead_id"] for r in response.json()["results"] if r["outcome"] == "created"]
        for lead_id in created[:2]:
            touch = {"kind": "call", "outcome": "reached"}
            reached = client.post(
                f"/v1/leads/{lead_id}/touches", json=touch, headers=world.headers("dispatcher")
            )
            assert reached.status_code < 300, reached.text
    first = world.day - timedelta(days=27)
    return f"/reports?first={first.isoformat()}&last={world.day.isoformat()}"


def _boards_drawn(page: Page) -> None:
    for board in BOARDS:
        section = page.locator(f"[data-board={board}]")
        expect(section).to_be_visible()
        expect(section.locator("a[data-role=csv]").first).to_be_visible()
    expect(page.locator("[data-board=lead-funnel] .bar-row")).to_have_count(5)
    expect(page.locator("[data-board=cost] table[data-role=table] tbody tr")).not_to_have_count(0)


def test_a_manager_reads_the_boards_on_a_desktop(
    desktop: Page, world: World, report_path: str
) -> None:
    sign_in(desktop, world.tokens["dispatcher"], quote(report_path, safe=""))
    _boards_drawn(desktop)
    funnel = desktop.locator("[data-board=lead-funnel] table[data-role=table]")
    expect(funnel).to_contain_text("Web form")
    expect(desktop.locator("[data-board=utilisation]")).to_contain_text("张伟")
    boards = desktop.locator(".board").evaluate_all(
        "nodes => nodes.map(n => n.getBoundingClientRect().width)"
    )
    assert all(width > 500 for width in boards), boards  # two boards a row at 1366
    href = desktop.locator("[data-board=lead-funnel] a[data-role=csv]").get_attribute("href")
    assert href is not None
    download = desktop.context.request.get(href)  # the session cookie goes with it
    assert download.status == 200
    assert download.body().startswith(b"\xef\xbb\xbfweek,week_start,channel")
    assert "lead-funnel_" in download.headers["content-disposition"]
    screenshot(desktop, "reports-desktop")
    assert desktop.errors == []  # type: ignore[attr-defined]


def test_a_manager_reads_the_boards_on_a_phone(phone: Page, world: World, report_path: str) -> None:
    sign_in(phone, world.tokens["admin"], quote(report_path, safe=""))
    _boards_drawn(phone)
    expect(phone.locator("h1")).to_have_text("经营报表")
    expect(phone.locator("[data-board=lead-funnel]")).to_contain_text("网页表单")
    overflow = phone.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"
    screenshot(phone, "reports-phone")
    assert phone.errors == []  # type: ignore[attr-defined]


def test_the_page_is_not_for_technicians(desktop: Page, world: World) -> None:
    sign_in(desktop, world.tokens["T-1"], "/reports")
    expect(desktop.locator("main")).to_contain_text("admin, dispatcher")
