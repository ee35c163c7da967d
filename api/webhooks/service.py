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
from api.fields import RowIdParam
from api.webhooks import repository as repo
from api.webhooks.rules import refusal
from api.webhooks.schemas import SubscriptionCreate

Reader = Annotated[Principal, require_roles(Role.ADMIN, Role.DISPATCHER, Role.INTEGRATOR)]
MAX_PER_SOURCE = 20


def subscription_for(
    subscription_id: RowIdParam, session: SessionDep, principal: Reader
) -> WebhookSubscriptionRow:
    """Load a subscription the caller may see: staff any, an integrator its own (else 404)."""
    row = repo.get_subscription(session, subscription_id=subscription_id)
    if row is None or (not principal.is_staff and row.source != principal.source):
        raise ApiError(404, "not_found", f"no webhook {subscription_id}")
    return row


Subscription = Annotated[WebhookSubscriptionRow, Depends(subscription_for)]


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse URLs that point into the service's own network (422 naming ``url``).

    An address in the URL is judged by ``rules.refusal``; a name is refused here only when it
    is plainly internal. Names are not resolved here: what a name resolves to can change after
    subscribing, so the delivery worker resolves it and judges the addresses on every attempt.
    The setting ``webhook_allow_private_urls`` lifts both checks for tests and all-intranet
    deployments.
    """
    if allow_private:
        return
    host = (httpx.URL(url).host or "").lower()
    try:
        reason = refusal(ipaddress.ip_address(host))
    except ValueError:
        is_internal = host == "localhost" or host.endswith((".localhost", ".local", ".internal"))
        reason = f"{host} is an internal name" if is_internal else None
    if reason is not None:
        raise ApiError(
            422,
            "validation_error",
            f"url: {reason}; webhooks go to public addresses only",
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
