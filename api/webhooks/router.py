"""``/v1/webhooks``: integrators subscribe to their own tickets' status changes."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from api.auth import Principal, Role, require_roles, utc_now
from api.db.tables import WebhookAttemptRow, WebhookDeliveryRow, WebhookSubscriptionRow
from api.deps import SessionDep, SettingsDep
from api.webhooks import repository as repo
from api.webhooks import service
from api.webhooks.delivery import SIGNATURE_HEADER
from api.webhooks.schemas import (
    DeliveryAttemptRead,
    DeliveryPage,
    DeliveryRead,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionRead,
    SubscriptionUpdate,
)
from api.webhooks.service import Reader, Subscription, check_url

DESCRIPTION = f"""Each status change of one of your tickets is POSTed as JSON to your
subscriptions' URLs, signed with the subscription's secret:
`{SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`.
Verify it over the raw body bytes with a constant-time comparison, and refuse a `t` more
than five minutes away from your clock. Answer 2xx within 10 s; anything else is retried
with exponential backoff and jitter (about 10 s, 20 s, 40 s, ... up to an hour, 8 attempts),
so the same delivery (`X-Geodispatch-Delivery`) may arrive more than once: deduplicate on it.
A subscription's deliveries are sent one at a time in order, but a retried one arrives after
later ones: order by `data.changed_at`, not by arrival.
Every attempt is logged under `GET /v1/webhooks/{{id}}/deliveries`.
Your URL's host must resolve to public addresses only: it is resolved again at every attempt,
and an attempt that would reach a loopback, private, link-local or metadata address is refused
(logged, and retried as a failure). Redirects are not followed: a 3xx is a failed attempt.

A delivery's body (event type `ticket.<new status>`, header `X-Geodispatch-Event`):

    {{"id": "evt_1042", "type": "ticket.completed", "created_at": "2026-11-23T03:40:00+00:00",
     "data": {{"ticket_id": 881, "external_id": "SO-2026-000123", "from_status": "on_site",
              "status": "completed", "changed_at": "2026-11-23T03:40:00+00:00",
              "region_id": "310115", "technician_id": "T-017"}}}}

Verifying in Python:

    import hashlib, hmac, time
    t, v1 = (part.split("=", 1)[1] for part in header.split(","))
    expected = hmac.new(secret.encode(), f"{{t}}.".encode() + raw_body, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(expected, v1) and abs(time.time() - int(t)) <= 300"""

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
Integrator = Annotated[Principal, require_roles(Role.INTEGRATOR)]
MAX_PAGE = 200


def _read(row: WebhookSubscriptionRow) -> SubscriptionRead:
    return SubscriptionRead(
        id=row.id, source=row.source, url=row.url, event_types=row.event_types,
        description=row.description, is_active=row.is_active, created_at=row.created_at,
        updated_at=row.updated_at,
    )  # fmt: skip


@router.post(
    "",
    status_code=201,
    response_model=SubscriptionCreated,
    summary="Subscribe to your tickets' status changes",
    description=DESCRIPTION + "\n\nThe `secret` is returned only in this response.",
)
def create_subscription(
    sub_in: SubscriptionCreate, session: SessionDep, settings: SettingsDep, principal: Integrator
) -> SubscriptionCreated:
    row = service.subscribe(
        session,
        sub_in=sub_in,
        principal=principal,
        allow_private=settings.webhook_allow_private_urls,
    )
    return SubscriptionCreated(**_read(row).model_dump(), secret=row.secret)


@router.get("", response_model=list[SubscriptionRead], summary="List webhook subscriptions")
def list_subscriptions(session: SessionDep, principal: Reader) -> list[SubscriptionRead]:
    source = None if principal.is_staff else principal.source
    return [_read(row) for row in repo.subscriptions(session, source=source)]


@router.get("/{subscription_id:id}", response_model=SubscriptionRead, summary="Read a subscription")
def read_subscription(subscription: Subscription) -> SubscriptionRead:
    return _read(subscription)


@router.patch(
    "/{subscription_id:id}",
    response_model=SubscriptionRead,
    summary="Change a subscription (URL, events, pause with is_active=false)",
    description="A paused subscription receives no new deliveries; its pending ones wait.",
)
def update_subscription(
    subscription: Subscription, sub_in: SubscriptionUpdate, session: SessionDep,
    settings: SettingsDep,
) -> SubscriptionRead:  # fmt: skip
    changes = sub_in.model_dump(exclude_unset=True)
    if "url" in changes and sub_in.url is not None:
        check_url(str(sub_in.url), allow_private=settings.webhook_allow_private_urls)
        subscription.url = str(sub_in.url)
    if sub_in.event_types is not None:
        subscription.event_types = sorted(set(sub_in.event_types))
    if "description" in changes:
        subscription.description = sub_in.description
    if sub_in.is_active is not None:
        subscription.is_active = sub_in.is_active
    subscription.updated_at = utc_now()
    session.commit()
    return _read(subscription)


@router.delete(
    "/{subscription_id:id}",
    status_code=204,
    summary="Delete a subscription and its delivery log",
)
def delete_subscription(subscription: Subscription, session: SessionDep) -> Response:
    repo.delete_subscription(session, subscription=subscription)
    session.commit()
    return Response(status_code=204)


def _delivery(row: WebhookDeliveryRow, attempts: list[WebhookAttemptRow]) -> DeliveryRead:
    return DeliveryRead.model_validate(
        {
            **{k: getattr(row, k) for k in DeliveryRead.model_fields if k != "attempts"},
            "attempts": [
                DeliveryAttemptRead.model_validate(
                    {k: getattr(a, k) for k in DeliveryAttemptRead.model_fields}
                )
                for a in attempts
            ],
        }
    )


@router.get(
    "/{subscription_id:id}/deliveries",
    response_model=DeliveryPage,
    summary="Inspect deliveries and every attempt",
    description="Newest first; each delivery with its body and each attempt's status code, "
    "latency and error. Pass `next_cursor` back as `cursor` for the next page.",
)
def list_deliveries(
    subscription: Subscription,
    session: SessionDep,
    status: Literal["pending", "succeeded", "failed"] | None = None,
    cursor: Annotated[str | None, Query(max_length=20, pattern=r"^\d+$")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> DeliveryPage:
    rows = repo.deliveries(
        session, subscription_id=subscription.id, status=status,
        after_id=int(cursor) if cursor else None, limit=limit + 1,
    )  # fmt: skip
    next_cursor = str(rows[limit - 1][0].id) if len(rows) > limit else None
    return DeliveryPage(items=[_delivery(r, a) for r, a in rows[:limit]], next_cursor=next_cursor)
