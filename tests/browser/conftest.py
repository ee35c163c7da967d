"""A live service on a fresh SpatiaLite file, seeded through its API, and Debian's chromium.

The server runs in a thread of the test process (uvicorn), the browser is Debian's
``/usr/bin/chromium`` driven by Playwright (no browser is downloaded), and tiles are off
(``map_tiles = none``) since no tile server is reachable. Screenshots go to
``tests/browser/screenshots/`` (not committed) for a person to look at.
"""

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlalchemy.orm import Session

from api.auth import Role, create_key
from api.config import PROJECT_ROOT, Settings
from api.datafiles import load_regions
from api.db import migrate
from api.db.spatial import make_engine
from api.main import create_app
from api.regions import repository as region_repo
from tests.browser.world import World, seed, tomorrow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).parent / "screenshots"
DESKTOP = {"width": 1366, "height": 860}
PHONE = {"width": 390, "height": 844}
CALLERS = {
    "admin": {"role": Role.ADMIN},
    "dispatcher": {"role": Role.DISPATCHER},
    "T-1": {"role": Role.TECHNICIAN, "technician_id": "T-1"},
    "T-2": {"role": Role.TECHNICIAN, "technician_id": "T-2"},
    "shop": {"role": Role.INTEGRATOR, "source": "shop"},
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test here ``browser``; skip them where Debian's chromium is missing."""
    missing = not os.path.exists(CHROMIUM)
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)
            if missing:
                item.add_marker(pytest.mark.skip(reason=f"{CHROMIUM} is not installed"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def live_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of the live server: a fresh SpatiaLite file, no tiles, a quick refresh."""
    return Settings(
        database_url=f"sqlite:///{tmp_path_factory.mktemp('live') / 'live.sqlite'}",
        session_secret="browser-tests-secret-0123456789abcdef",  # type: ignore[arg-type]
        map_tiles="none",
        map_refresh_s=1.0,
        dispatch_default_time_limit_s=1.0,
    )


@pytest.fixture(scope="session")
def live_tokens(live_settings: Settings) -> dict[str, str]:
    """Migrate the live database, load the demo regions and make a key per caller."""
    engine = make_engine(live_settings.database_url)
    migrate.upgrade(engine)
    tokens = {}
    with Session(engine) as session, session.begin():
        regions = load_regions(PROJECT_ROOT / "data" / "regions.geojson", max_vertices=20_000)
        region_repo.replace_all(session, regions=regions)
        for name, binding in CALLERS.items():
            _, tokens[name] = create_key(session, name=name, **binding)  # type: ignore[arg-type]
    engine.dispose()
    return tokens


@pytest.fixture(scope="session")
def live_url(live_settings: Settings, live_tokens: dict[str, str]) -> Iterator[str]:
    """Base URL of the service, served by uvicorn from a thread until the session ends."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(live_settings), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the live server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def world(live_url: str, live_tokens: dict[str, str]) -> World:
    """The seeded day (see ``tests/browser/world.py``)."""
    with httpx.Client(base_url=live_url, timeout=60) as client:
        return seed(client, live_tokens, tomorrow())


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's headless chromium."""
    with sync_playwright() as playwright:
        yield playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)


def _context(browser: Browser, live_url: str, *, phone: bool) -> BrowserContext:
    if phone:
        return browser.new_context(
            base_url=live_url, viewport=PHONE, is_mobile=True, has_touch=True,
            device_scale_factor=2, locale="zh-CN",
        )  # fmt: skip
    return browser.new_context(base_url=live_url, viewport=DESKTOP, locale="en-GB")


@pytest.fixture
def desktop(browser: Browser, live_url: str) -> Iterator[Page]:
    """A desktop-sized page with no session; console errors are collected in ``page.errors``."""
    context = _context(browser, live_url, phone=False)
    page = context.new_page()
    yield _watch_errors(page)
    context.close()


@pytest.fixture
def phone(browser: Browser, live_url: str) -> Iterator[Page]:
    """A 390x844 touch page (Chinese), with no session; console errors in ``page.errors``."""
    context = _context(browser, live_url, phone=True)
    page = context.new_page()
    yield _watch_errors(page)
    context.close()


def _watch_errors(page: Page) -> Page:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    return page


def sign_in(page: Page, token: str, next_path: str = "") -> None:
    """Sign in through the ``/login`` form, as a person would."""
    page.goto(f"/login?next={next_path}" if next_path else "/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under ``tests/browser/screenshots/`` and return its path."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
