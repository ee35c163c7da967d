"""The dispatcher's live map in a real browser: layers drawn, live updates, no console errors."""

import httpx
from playwright.sync_api import Page

from tests.browser.conftest import screenshot, sign_in
from tests.browser.world import World, just_now

LAYERS_DRAWN = (
    "() => window.GD && ['regions', 'technicians', 'routes', 'unassigned', 'tickets']"
    ".every((name) => window.GD.data[name])"
)


def _open_map(page: Page, world: World, query: str = "") -> None:
    sign_in(page, world.tokens["dispatcher"], f"/map%3Fday%3D{world.day}{query}")
    page.wait_for_function(LAYERS_DRAWN, timeout=15_000)
    page.wait_for_selector("[data-kpi=assigned]", state="attached")


def _ticket_fill(page: Page, ticket_id: int) -> str:
    script = """(id) => {
        const layer = window.GD.layer('tickets').getLayer(String(id));
        return layer ? layer.options.fillColor : null;
    }"""
    return str(page.evaluate(script, ticket_id))


def _technician_latlng(page: Page, tech_id: str) -> list[float]:
    script = """(id) => { const ll = window.GD.layer('technicians').getLayer(id).getLatLng();
                         return [ll.lat, ll.lng]; }"""
    return list(page.evaluate(script, tech_id))


def test_the_map_draws_every_layer(desktop: Page, world: World) -> None:
    _open_map(desktop, world)
    planned = [r for r in world.plan["routes"] if r["stops"]]
    desktop.wait_for_function(
        "() => document.querySelectorAll('path.gd-region').length"
        " === window.GD.data.regions.features.length"
    )
    assert desktop.locator("path.gd-region").count() >= 10  # central Shanghai's districts
    assert desktop.locator("path.gd-tech").count() == 4
    assert desktop.locator("path.gd-route").count() == len(planned)
    assert desktop.locator(".gd-unassigned").count() == len(world.solar_ids)
    n_tickets = desktop.evaluate("() => window.GD.data.tickets.features.length")
    assert n_tickets == len(world.ticket_ids) + len(world.solar_ids)
    assert desktop.text_content("[data-kpi=unassigned]") == str(len(world.solar_ids))
    assert desktop.errors == []  # type: ignore[attr-defined]
    screenshot(desktop, "map-desktop")


def test_a_ping_moves_the_marker_and_a_transition_recolours_the_ticket(
    desktop: Page, world: World, live_url: str
) -> None:
    _open_map(desktop, world)
    before = _technician_latlng(desktop, "T-2")
    stop = next(r for r in world.plan["routes"] if r["technician_id"] == "T-2")["stops"][0]
    ticket_id = int(stop["order_id"])
    colour_before = _ticket_fill(desktop, ticket_id)
    with httpx.Client(base_url=live_url) as client:
        ping = {"pings": [{"location": [121.40, 31.30], "recorded_at": just_now()}]}
        headers = world.headers("dispatcher")
        assert client.post("/v1/technicians/T-2/locations", json=ping, headers=headers).is_success
        move = {"to": "dispatched"}
        moved = client.post(f"/v1/tickets/{ticket_id}/transitions", json=move, headers=headers)
        assert moved.is_success, moved.text
    desktop.wait_for_function(
        "(before) => { const ll = window.GD.layer('technicians').getLayer('T-2').getLatLng();"
        " return Math.abs(ll.lat - before[0]) > 1e-4; }",
        arg=before,
        timeout=5_000,
    )
    assert _technician_latlng(desktop, "T-2") == [31.30, 121.40]
    desktop.wait_for_function(
        "([id, colour]) => window.GD.layer('tickets').getLayer(String(id)).options.fillColor"
        " !== colour",
        arg=[ticket_id, colour_before],
        timeout=5_000,
    )
    assert desktop.errors == []  # type: ignore[attr-defined]


def test_filters_are_kept_in_the_url(desktop: Page, world: World) -> None:
    _open_map(desktop, world, "%26technician%3DT-1")
    assert desktop.locator("path.gd-tech").count() == 1
    desktop.select_option("#gd-filters select[name=region]", "310101")
    desktop.wait_for_url("**region=310101**")
    assert "technician=T-1" in desktop.url


def test_the_map_on_a_phone(phone: Page, world: World) -> None:
    _open_map(phone, world)
    assert phone.locator("path.gd-tech").count() == 4
    screenshot(phone, "map-phone")


def test_a_technician_cannot_open_the_map(desktop: Page, world: World) -> None:
    sign_in(desktop, world.tokens["T-1"], f"/map%3Fday%3D{world.day}")
    assert "This page is for" in desktop.inner_text("[role=alert]")


def test_a_bad_day_is_shown_as_a_message(desktop: Page, world: World) -> None:
    sign_in(desktop, world.tokens["dispatcher"], "/map%3Fday%3Dtomorrow")
    assert "day" in desktop.inner_text("[role=alert]")
