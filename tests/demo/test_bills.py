"""Every done ticket of a demo day has a customer bill whose lines add up (issue #14)."""

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from api.demo.city import FAST, city_day
from api.demo.client import DemoApi
from api.demo.keys import create_staff_keys
from api.demo.seeder import seed_day
from api.demo.service import fresh_settings, prepared_engine, start_service
from tests.demo.conftest import Live


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A service of its own: the day seeded here must not change the other demo tests' counts."""
    settings = fresh_settings(
        tmp_path_factory.mktemp("demo-bills"), dispatch_default_time_limit_s=1.0
    )
    engine = prepared_engine(settings)
    tokens = create_staff_keys(engine)
    engine.dispose()
    service = start_service(settings)
    yield Live(settings, service.url, tokens)
    service.stop()


def test_every_done_demo_ticket_has_a_bill_whose_lines_add_up(live: Live, api: DemoApi) -> None:
    now = datetime.now(ZoneInfo(live.settings.timezone))
    # Yesterday's day, seeded now: every order's window has closed, so all are done.
    seeded = seed_day(api, city_day(now - timedelta(days=1), FAST, seed=7), now=now,
                      settings=live.settings, time_limit_s=1.0)  # fmt: skip
    assert api.error_count == 0, api.errors
    assert len(seeded.morning_done) >= FAST.orders // 2
    for ticket_id in seeded.morning_done:
        bill = api.must("dispatcher", "GET", f"/v1/tickets/{ticket_id}/bill")
        lines = sum(Decimal(line["amount"]["amount"]) for line in bill["lines"])
        assert Decimal(bill["total"]["amount"]) == lines > 0, bill
        assert {line["amount"]["currency"] for line in bill["lines"]} == {"CNY"}
        assert bill["price_list_version"] == "sh-sz-customer@v2"
