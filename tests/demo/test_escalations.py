"""The demo's escalations reach the demo receiver, signed; it refuses what it cannot trust.

The service runs with the demo's webhook settings (``with_demo_webhooks``): its delivery worker
in a thread, allowed to reach the receiver on 127.0.0.1.
"""

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from rich.console import Console

from api.demo.city import FAST, city_day
from api.demo.client import DemoApi
from api.demo.escalations import (
    SUBSCRIPTION_DESCRIPTION,
    escalate_now,
    subscribe,
    with_demo_webhooks,
)
from api.demo.receiver import DemoReceiver, new_secret
from api.demo.seeder import seed_day
from api.demo.service import fresh_settings, prepared_engine
from api.demo.summary import escalations_table
from api.webhooks.delivery import SIGNATURE_HEADER, sign
from tests.demo.conftest import Live, serve_demo

DELIVERY_WAIT_S = 15.0  # the worker polls every 2 s


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A service of its own with the demo's webhook settings (its escalations are its own)."""
    folder = tmp_path_factory.mktemp("demo-escalations")
    yield from serve_demo(
        with_demo_webhooks(fresh_settings(folder, dispatch_default_time_limit_s=1.0))
    )


@pytest.fixture
def receiver() -> Iterator[DemoReceiver]:
    """The demo receiver on a free port of 127.0.0.1, with a fresh secret."""
    started = DemoReceiver(new_secret())
    yield started
    started.stop()


def test_a_seeded_day_delivers_its_late_job_escalation_signed(
    live: Live, api: DemoApi, receiver: DemoReceiver
) -> None:
    subscribe(api, receiver)
    now = datetime.now(ZoneInfo(live.settings.timezone))
    seeded = seed_day(api, city_day(now, FAST, seed=3), now=now, settings=live.settings,
                      time_limit_s=1.0)  # fmt: skip
    engine = prepared_engine(live.settings, load_demo_regions=False)
    try:
        queued = escalate_now(engine, live.settings)
    finally:
        engine.dispose()

    assert api.error_count == 0, api.errors
    assert queued >= 1
    assert receiver.wait_for(queued, DELIVERY_WAIT_S), receiver.received
    late = [r for r in receiver.accepted if r.subject_id == seeded.late_ticket_id]
    assert len(late) == 1, receiver.received
    assert late[0].event_type == "ticket.escalated" and late[0].subject_kind == "ticket"
    assert late[0].is_signature_valid and late[0].rule_id == "overdue-30"
    assert late[0].notify and late[0].notify[0].startswith("sup-")
    ticket = api.must("dispatcher", "GET", f"/v1/tickets/{seeded.late_ticket_id}")
    assert ticket["priority"] == "urgent"  # the rule's other action

    text = _text(escalations_table(receiver.url, receiver.received))
    assert receiver.url in text and f"ticket #{seeded.late_ticket_id}" in text
    assert "overdue-30" in text and late[0].notify[0] in text

    # A second start of the demo (a reused day) replaces the subscription, not adds one.
    again = DemoReceiver(new_secret())
    try:
        subscribe(api, again)
    finally:
        again.stop()
    mine = [s for s in api.must("integrator", "GET", "/v1/webhooks")
            if s["description"] == SUBSCRIPTION_DESCRIPTION]  # fmt: skip
    assert [s["url"] for s in mine] == [again.url]


def test_unsigned_garbled_or_forged_posts_are_refused_and_recorded(
    receiver: DemoReceiver,
) -> None:
    body = json.dumps({"type": "ticket.escalated", "data": {"ticket_id": 1}}).encode()
    forged = sign("not-the-secret-at-all", int(time.time()), body)
    signed_garble = sign(receiver.secret, int(time.time()), b"{not json")
    posts = [
        ({}, b"{not json", 401),
        ({SIGNATURE_HEADER: forged}, body, 401),
        ({SIGNATURE_HEADER: signed_garble}, b"{not json", 400),
        ({SIGNATURE_HEADER: "t=1,v1=00"}, b"\xff\xfe", 401),
    ]
    for headers, content, status in posts:
        answer = httpx.post(receiver.url, content=content, headers=headers, timeout=5)
        assert answer.status_code == status, answer.text
        assert answer.text.startswith("refused: ")

    assert receiver.accepted == []
    rejections = [(r.rejection, r.is_signature_valid) for r in receiver.received]
    assert rejections == [
        ("no signature", False),
        ("bad or expired signature", False),
        ("the body is not JSON", True),
        ("bad or expired signature", False),
    ]
    text = _text(escalations_table(receiver.url, receiver.received))
    assert "delivered to the demo receiver: 0" in text and "4 POST(s) refused" in text


def test_only_the_demo_service_may_send_webhooks_to_private_addresses(tmp_path: Path) -> None:
    configured = fresh_settings(tmp_path)
    demo = with_demo_webhooks(configured)
    assert demo.webhook_allow_private_urls and demo.webhook_worker_enabled
    assert not configured.webhook_allow_private_urls  # the default stands


def _text(table: object) -> str:
    shown = Console(record=True, width=200)
    shown.print(table)
    return shown.export_text()
