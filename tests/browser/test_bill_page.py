"""The customer's printable bill of the seeded day's settled job, at desktop and phone widths."""

from decimal import Decimal

import httpx
import pytest
from playwright.sync_api import Page, expect

from api.config import PROJECT_ROOT
from tests.browser.conftest import screenshot
from tests.browser.world import World


@pytest.fixture(scope="module")
def bill(world: World, live_url: str) -> dict[str, object]:
    """The demo price list stored (once), and the settled job's bill as JSON."""
    document = (PROJECT_ROOT / "data" / "price_list.toml").read_bytes()
    toml = {**world.headers("admin"), "Content-Type": "application/toml"}
    with httpx.Client(base_url=live_url, timeout=30) as client:
        stored = client.post("/v1/price-lists", content=document, headers=toml)
        assert stored.status_code in {201, 409}, stored.text  # 409: another test stored it
        staff = world.headers("dispatcher")
        answer = client.get(f"/v1/tickets/{world.settled_id}/bill", headers=staff)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


@pytest.mark.parametrize(("size", "lang"), [("desktop", "en"), ("phone", "zh")])
def test_the_bill_reads_line_by_line_and_adds_up(
    request: pytest.FixtureRequest, world: World, bill: dict[str, object], size: str, lang: str
) -> None:
    page: Page = request.getfixturevalue(size)
    page.set_extra_http_headers(world.headers("dispatcher"))
    page.goto(f"/v1/tickets/{world.settled_id}/bill?format=html&lang={lang}")
    lines = page.locator("tr.line .num .money")
    assert isinstance(bill["lines"], list)
    expect(lines).to_have_count(len(bill["lines"]))
    shown = [Decimal(text.replace(",", "")) for text in lines.all_inner_texts()]
    total = page.locator("[data-role=bill-total] .money").inner_text()
    assert sum(shown) == Decimal(total.replace(",", ""))
    assert isinstance(bill["total"], dict)
    assert Decimal(total.replace(",", "")) == Decimal(str(bill["total"]["amount"]))
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the bill scrolls sideways ({width} px)"  # type: ignore[index]
    screenshot(page, f"bill-{size}")
    assert page.errors == []  # type: ignore[attr-defined]
