"""A live service on a fresh SpatiaLite file with the demo regions and the demo keys.

The service runs in a thread of the test process (``api.demo.service``), exactly as
``geodispatch demo run`` starts it; everything else goes through its HTTP API.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from api.config import Settings
from api.demo.client import DemoApi
from api.demo.keys import create_staff_keys
from api.demo.service import fresh_settings, prepared_engine, start_service


@dataclass(frozen=True)
class Live:
    """The live service: its settings, base URL and the demo tokens by caller."""

    settings: Settings
    url: str
    tokens: dict[str, str]


def serve_demo(settings: Settings) -> Iterator[Live]:
    """Serve a fresh demo database (regions and keys, no day yet) until the generator ends."""
    engine = prepared_engine(settings)
    tokens = create_staff_keys(engine)
    engine.dispose()
    service = start_service(settings)
    yield Live(settings, service.url, tokens)
    service.stop()


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A demo service for the session."""
    folder = tmp_path_factory.mktemp("demo")
    yield from serve_demo(fresh_settings(folder, dispatch_default_time_limit_s=1.0))


@pytest.fixture
def api(live: Live) -> Iterator[DemoApi]:
    """The demo's API client on the live service."""
    with httpx.Client(base_url=live.url, timeout=120) as client:
        yield DemoApi(client, live.tokens)
