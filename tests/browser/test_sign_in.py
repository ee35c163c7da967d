"""Signing in to the pages with an API key, in a real browser."""

from playwright.sync_api import Page

from tests.browser.conftest import screenshot, sign_in
from tests.browser.world import World


def test_no_session_goes_to_sign_in_and_back(desktop: Page, world: World) -> None:
    desktop.goto(f"/map?day={world.day}")
    assert desktop.url.endswith(f"/login?next=%2Fmap%3Fday%3D{world.day}")
    screenshot(desktop, "login-desktop")
    desktop.fill("#token", world.tokens["dispatcher"])
    desktop.click("button[type=submit]")
    desktop.wait_for_url(f"**/map?day={world.day}")
    cookie = next(c for c in desktop.context.cookies() if c["name"] == "gd_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert world.tokens["dispatcher"] not in cookie["value"]


def test_a_wrong_key_is_refused_on_the_form(desktop: Page, world: World) -> None:
    sign_in(desktop, "gd_not_a_real_key")
    assert "/login" in desktop.url
    assert "not valid" in desktop.inner_text("[role=alert]")


def test_a_forged_cookie_goes_back_to_sign_in(desktop: Page, live_url: str, world: World) -> None:
    desktop.context.add_cookies(
        [{"name": "gd_session", "value": "forged.value.sig", "url": live_url}]
    )
    desktop.goto("/map")
    assert "/login?next=" in desktop.url


def test_sign_out_ends_the_session(desktop: Page, world: World) -> None:
    sign_in(desktop, world.tokens["dispatcher"])
    assert desktop.url.endswith("/map")
    desktop.click("form.gd-logout button")
    desktop.wait_for_url("**/login")
    desktop.goto("/map")
    assert "/login?next=" in desktop.url


def test_an_integrator_key_has_no_pages(desktop: Page, world: World) -> None:
    sign_in(desktop, world.tokens["shop"])
    assert "/login" in desktop.url
    assert "no pages" in desktop.inner_text("[role=alert]")
