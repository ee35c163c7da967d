"""Pure parts of the demo: where the day sits on the clock, parameters, the keys file."""

import stat
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from api.demo.city import DaySize, day_origin
from api.demo.client import DemoApi, DemoStepFailed
from api.demo.keys import CALLERS, StoredKeys, load_keys, save_keys
from api.demo.simulator import SimParams

ZONE = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("hour", "origin_hour", "origin_day"),
    [
        (10, 0, 3),
        (12, 0, 3),
        (13, 1, 3),
        (14, 2, 3),
        (9, 21, 2),
        (2, 16, 2),
        (0, 16, 2),
        (18, 6, 3),
        (23, 11, 3),
    ],
)
def test_now_falls_within_the_working_day(hour: int, origin_hour: int, origin_day: int) -> None:
    now = datetime(2026, 12, 3, hour, 30, tzinfo=ZONE)
    origin = day_origin(now)
    assert (origin.day, origin.hour) == (origin_day, origin_hour)
    assert 8 <= (now - origin).total_seconds() / 3600 < 13  # 08:00-12:59: an afternoon to play


@pytest.mark.parametrize("speed", [0.0, -1.0])
def test_a_speed_must_be_positive(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        SimParams(speed=speed)


def test_a_day_needs_technicians_and_orders() -> None:
    with pytest.raises(ValueError, match="two technicians"):
        DaySize(technicians=1)
    with pytest.raises(ValueError, match="lead_share"):
        DaySize(lead_share=1.5)


def test_the_keys_file_is_private_and_tied_to_its_database(tmp_path: Path) -> None:
    path = tmp_path / "demo-keys.json"
    tokens = {c.caller: f"token-{c.caller}" for c in CALLERS}
    stored = StoredKeys(date(2026, 12, 3), tokens, {"tech-1": "T0007", "tech-2": "T0002"})
    save_keys(path, database_url="sqlite:///a.sqlite", stored=stored)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keys(path, database_url="sqlite:///a.sqlite") == stored
    assert load_keys(path, database_url="sqlite:///b.sqlite") is None
    assert load_keys(tmp_path / "missing.json", database_url="sqlite:///a.sqlite") is None


def test_an_api_error_is_counted_not_raised_and_must_raises() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/down":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(500 if request.url.path == "/v1/tickets/7" else 409, json={})

    with httpx.Client(transport=httpx.MockTransport(answer), base_url="http://demo") as client:
        api = DemoApi(client, {"dispatcher": "t"})
        assert api.call("dispatcher", "GET", "/v1/tickets/7") is not None
        assert api.call("dispatcher", "GET", "/v1/x", expect=frozenset({409})) is not None
        assert api.call("dispatcher", "GET", "/down") is None
        with pytest.raises(DemoStepFailed, match="409"):
            api.must("dispatcher", "GET", "/v1/x")

    assert api.errors == {
        "GET /v1/tickets/{id}: 500": 1,
        "GET /down: ConnectError": 1,
        "GET /v1/x: 409": 1,
    }
