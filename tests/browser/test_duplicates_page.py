"""The dispatchers' ``/customers/duplicates`` page on a desktop and a phone, in chromium.

The integrator submits two pairs of probable duplicates (one name, two phones, addresses 80 m
apart); the dispatcher merges one on the desktop and undoes the merge, and keeps the other
pair apart on the phone.
"""

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot, sign_in
from tests.browser.world import World


def _ticket(external_id: str, name: str, phone: str, lon: float) -> dict[str, Any]:
    return {
        "external_id": external_id, "type": "repair", "location": [lon, 31.2304],
        "address": "南京东路 100 号", "duration_min": 60,
        "customer": {"name": name, "phone": phone},
    }  # fmt: skip


@pytest.fixture(scope="module")
def pairs(world: World, live_url: str) -> dict[str, int]:
    """Two suggestions, by the name they pair: ``{"钱多多": id, "冯小宝": id}``."""
    tickets = [
        _ticket("dup-1", "钱多多", "13711110001", 121.4737),
        _ticket("dup-2", "钱多多", "13711110002", 121.4745),
        _ticket("dup-3", "冯小宝", "13711110003", 121.5037),
        _ticket("dup-4", "冯小宝", "13711110004", 121.5045),
    ]
    with httpx.Client(base_url=live_url, timeout=30) as client:
        for body in tickets:
            created = client.post("/v1/tickets", json=body, headers=world.headers("shop"))
            assert created.status_code == 201, created.text
        listed = client.get(
            "/v1/customers/merge-suggestions",
            params={"status": "open"},
            headers=world.headers("dispatcher"),
        )
    return {s["customer"]["name"]: s["id"] for s in listed.json()["items"]}


def test_a_dispatcher_merges_a_pair_and_undoes_it_on_a_desktop(
    desktop: Page, world: World, pairs: dict[str, int]
) -> None:
    sign_in(desktop, world.tokens["dispatcher"], "%2Fcustomers%2Fduplicates")
    pair = desktop.locator(f"#suggestion-{pairs['钱多多']}")
    expect(pair).to_contain_text("Same name nearby")
    people = pair.locator(".person").evaluate_all(
        "nodes => nodes.map(n => n.getBoundingClientRect().top)"
    )
    assert len(people) == 2 and people[0] == people[1]  # side by side
    screenshot(desktop, "duplicates-desktop")
    pair.locator("[data-action=accept]").click()
    expect(pair.locator("[data-role=outcome]")).to_contain_text("Merged into #")
    pair.locator("[data-action=unmerge]").click()
    expect(pair.locator("[data-role=outcome]")).to_contain_text("Merge undone")
    screenshot(desktop, "duplicates-desktop-undone")
    desktop.reload()
    expect(desktop.locator(f"#suggestion-{pairs['钱多多']}")).to_have_count(0)  # decided
    assert desktop.errors == []  # type: ignore[attr-defined]


def test_a_dispatcher_keeps_a_pair_apart_on_a_phone(
    phone: Page, world: World, pairs: dict[str, int]
) -> None:
    sign_in(phone, world.tokens["dispatcher"], "%2Fcustomers%2Fduplicates")
    expect(phone.locator("h1")).to_have_text("疑似重复客户")
    pair = phone.locator(f"#suggestion-{pairs['冯小宝']}")
    overflow = phone.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"
    screenshot(phone, "duplicates-phone")
    pair.locator("[data-action=refuse]").click()
    expect(pair.locator("[data-role=outcome]")).to_contain_text("不会再提示")
    expect(pair.locator("button")).to_have_count(0)
    assert phone.errors == []  # type: ignore[attr-defined]
