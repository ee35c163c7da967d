"""Webhook subscriptions: who may see one, which URLs are refused, and subscribing."""

import ipaddress
import secrets
from typing import Annotated

import httpx
from fastapi import Depends
from sqlalchemy.orm import Session

from api.auth import Principal, Role, require_roles, utc_now
from api.db.tables import WebhookSubscriptionRow
from api.deps import SessionDep
from api.errors import ApiError
from api.webhooks import repository as repo
from api.webhooks.schemas import SubscriptionCreate

Reader = Annotated[Principal, require_roles(Role.ADMIN, Role.DISPATCHER, Role.INTEGRATOR)]
MAX_PER_SOURCE = 20


def subscription_for(
    subscription_id: int, session: SessionDep, principal: Reader
) -> WebhookSubscriptionRow:
    """Load a subscription the caller may see: staff any, an integrator its own (else 404)."""
    row = repo.get_subscription(session, subscription_id=subscription_id)
    if row is None or (not principal.is_staff and row.source != principal.source):
        raise ApiError(404, "not_found", f"no webhook {subscription_id}")
    return row


Subscription = Annotated[WebhookSubscriptionRow, Depends(subscription_for)]


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse URLs that point into the service's own network (422 naming ``url``).

    Without this, an integrator could make the worker POST to localhost or the intranet.
    Host names are not resolved here; the setting ``webhook_allow_private_urls`` lifts the
    check for tests and all-intranet deployments.
    """
    if allow_private:
        return
    host = (httpx.URL(url).host or "").lower()
    try:
        address = ipaddress.ip_address(host)
        is_internal = not address.is_global
    except ValueError:
        is_internal = host == "localhost" or host.endswith((".localhost", ".local", ".internal"))
    if is_internal:
        raise ApiError(
            422,
            "validation_error",
            f"url: {host} is a private, loopback or reserved address",
            {"errors": [{"field": "url", "in": "body", "message": "not public"}]},
        )


def subscribe(
    session: Session, *, sub_in: SubscriptionCreate, principal: Principal, allow_private: bool
) -> WebhookSubscriptionRow:
    """Store a subscription of the caller's source (at most ``MAX_PER_SOURCE``) and commit."""
    check_url(str(sub_in.url), allow_private=allow_private)
    if len(repo.subscriptions(session, source=principal.source)) >= MAX_PER_SOURCE:
        raise ApiError(
            422,
            "too_many_subscriptions",
            f"a source may have at most {MAX_PER_SOURCE} subscriptions",
            {"limit": MAX_PER_SOURCE},
        )
    now = utc_now()
    row = repo.add_subscription(
        session, source=principal.source, url=str(sub_in.url),
        event_types=sorted(set(sub_in.event_types)),
        secret=sub_in.secret or f"whsec_{secrets.token_urlsafe(32)}",
        description=sub_in.description, is_active=sub_in.is_active,
        created_by_key_id=principal.key_id, at=now,
    )  # fmt: skip
    session.commit()
    return row
