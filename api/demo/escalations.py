"""The demo's escalations, delivered to the demo receiver.

The demo's service may reach the receiver, the demo shop subscribes the receiver to its
escalations, and a pass of the rules runs as soon as the day is seeded. Every demo ticket and
lead belongs to the demo shop (the ``demo-integrator`` key's source), so its one subscription
gets every ``ticket.escalated`` and ``lead.escalated`` of the day
(``data/escalation_rules.toml``: overdue work notifies the region's supervisor).
"""

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.auth import utc_now
from api.config import Settings
from api.demo.client import DemoApi, DemoStepFailed
from api.demo.receiver import DemoReceiver
from api.escalations import service
from api.webhooks.schemas import ESCALATION_EVENT_TYPES

SUBSCRIPTION_DESCRIPTION = "the geodispatch demo's receiver (api/demo/receiver.py)"


def with_demo_webhooks(settings: Settings) -> Settings:
    """Return ``settings`` for the demo's own service, its webhooks able to reach the receiver.

    A webhook worker in a thread of the service, allowed to reach private addresses (the demo
    receiver listens on 127.0.0.1). Only the service the demo starts gets them;
    ``webhook_allow_private_urls`` stays off by default everywhere else.
    """
    return settings.model_copy(
        update={"webhook_allow_private_urls": True, "webhook_worker_enabled": True}
    )


def subscribe(api: DemoApi, receiver: DemoReceiver) -> int:
    """Subscribe the demo shop's escalations to ``receiver``; return the subscription's id.

    An earlier demo's subscription (another port, another secret) is deleted first, so a reused
    day delivers to this receiver only.
    """
    for old in api.must("integrator", "GET", "/v1/webhooks"):
        if old["description"] == SUBSCRIPTION_DESCRIPTION:
            gone = api.call("integrator", "DELETE", f"/v1/webhooks/{old['id']}")
            if gone is None or gone.status_code != 204:
                raise DemoStepFailed(f"cannot delete the earlier demo webhook {old['id']}")
    created = api.must("integrator", "POST", "/v1/webhooks", json={
        "url": receiver.url, "event_types": list(ESCALATION_EVENT_TYPES),
        "secret": receiver.secret, "description": SUBSCRIPTION_DESCRIPTION,
    })  # fmt: skip
    return int(created["id"])


def escalate_now(engine: Engine, settings: Settings) -> int:
    """Evaluate the escalation rules once, now; return the webhook deliveries this queued.

    What ``geodispatch escalations run`` does, on the database the demo's service serves (no
    route runs a pass). The service's own schedule makes its first pass one interval after it
    starts (``GEODISPATCH_ESCALATION_INTERVAL_S``, 60 s by default), when ``demo run`` may be
    over; this pass escalates the seeded day's late work at once, and the service's webhook
    worker delivers it within its poll (``GEODISPATCH_WEBHOOK_POLL_S``, 2 s).
    """
    with Session(engine) as session:
        fired = service.evaluate_due(
            session, utc_now(), rules=service.rules_in_force(settings),
            at_risk_margin=service.at_risk_margin(settings),
        )  # fmt: skip
    return sum(f.deliveries for f in fired)
