"""The demo's customers have histories across channels and one probable duplicate (issue #14)."""

from collections.abc import Iterator
from datetime import datetime, timedelta
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
    """A service of its own, so the other demo tests' counts stay as they are."""
    settings = fresh_settings(
        tmp_path_factory.mktemp("demo-customers"), dispatch_default_time_limit_s=1.0
    )
    engine = prepared_engine(settings)
    tokens = create_staff_keys(engine)
    engine.dispose()
    service = start_service(settings)
    yield Live(settings, service.url, tokens)
    service.stop()


def test_demo_customers_come_back_across_channels(live: Live, api: DemoApi) -> None:
    now = datetime.now(ZoneInfo(live.settings.timezone))
    city = city_day(now + timedelta(days=1), FAST, seed=9)
    seed_day(api, city, now=now, settings=live.settings, time_limit_s=1.0)
    assert api.error_count == 0, api.errors
    members = api.must("dispatcher", "GET", "/v1/customers?limit=500")["items"]
    views = [api.must("dispatcher", "GET", f"/v1/customers/{c['id']}") for c in members]
    # The web-form lead's person booked again with the phone spelled otherwise.
    assert any(
        len(v["tickets"]) >= 2 and any(lead["channel"] == "web_form" for lead in v["leads"])
        for v in views
    )
    # The member's two phones and marketplace buyer id belong to one customer.
    member = next(v for v in views if any(i["kind"] == "member_id" for i in v["identifiers"]))
    kinds = [i["kind"] for i in member["identifiers"]]
    assert kinds.count("phone") == 2 and "marketplace_buyer_id" in kinds
    suggestions = api.must("dispatcher", "GET", "/v1/customers/merge-suggestions?status=open")
    evidence = [e["code"] for s in suggestions["items"] for e in s["evidence"]]
    assert "same_phone_different_name" in evidence
