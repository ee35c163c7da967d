"""Webhooks in the database: subscriptions, the outbox cursor, deliveries and their attempts.

The ``ticket_status_change`` table is the outbox.  Its ids come from a sequence, and on
PostgreSQL a transaction that took id 6 may commit after one that took id 7; so the cursor only
advances over contiguous ids, or past a gap once the change after it is ``gap_grace`` old (the
missing id was rolled back).  Changes read twice make no second delivery: existing
(subscription, change) pairs are skipped and a unique constraint backs that up.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.db.tables import (
    TicketRow,
    TicketStatusChangeRow,
    WebhookAttemptRow,
    WebhookCursorRow,
    WebhookDeliveryRow,
    WebhookSubscriptionRow,
)

CURSOR = "ticket_status_change"
WILDCARD = "ticket.*"


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A claimed delivery: everything one HTTP attempt needs, detached from the session."""

    id: int
    subscription_id: int
    url: str
    secret: str
    event_type: str
    body: str
    attempt_no: int


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one HTTP attempt came to."""

    started_at: datetime
    latency_ms: int
    status_code: int | None
    error: str | None

    @property
    def is_success(self) -> bool:
        """Whether the receiver accepted it (any 2xx)."""
        return self.status_code is not None and 200 <= self.status_code < 300


def event_type(to_status: str) -> str:
    """Return the event type of a change to ``to_status`` (``ticket.completed``)."""
    return f"ticket.{to_status}"


def event_body(change: TicketStatusChangeRow, ticket: TicketRow) -> str:
    """Return the JSON body delivered for one change (the exact bytes that are signed)."""
    payload = {
        "id": f"evt_{change.id}",
        "type": event_type(change.to_status),
        "created_at": change.at.isoformat(),
        "data": {
            "ticket_id": ticket.id,
            "external_id": ticket.external_id,
            "from_status": change.from_status,
            "status": change.to_status,
            "changed_at": change.at.isoformat(),
            "region_id": ticket.region_id,
            "technician_id": ticket.technician_id,
        },
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def enqueue_changes(
    session: Session,
    *,
    now: datetime,
    batch: int = 500,
    gap_grace: timedelta = timedelta(seconds=30),
) -> int:
    """Turn outbox changes after the cursor into pending deliveries; return how many were made."""
    cursor = session.get(WebhookCursorRow, CURSOR, with_for_update=True)
    last = cursor.last_change_id if cursor is not None else 0
    rows = session.execute(
        select(TicketStatusChangeRow, TicketRow)
        .join(TicketRow, TicketRow.id == TicketStatusChangeRow.ticket_id)
        .where(TicketStatusChangeRow.id > last)
        .order_by(TicketStatusChangeRow.id)
        .limit(batch)
    ).all()
    if not rows:
        return 0
    if cursor is None:
        cursor = WebhookCursorRow(name=CURSOR, last_change_id=0, updated_at=now)
        session.add(cursor)
    subscriptions = list(
        session.scalars(select(WebhookSubscriptionRow).where(WebhookSubscriptionRow.is_active))
    )
    done = _existing_pairs(session, [change.id for change, _ in rows])
    made = 0
    for change, ticket in rows:
        for sub in subscriptions:
            if not _matches(sub, ticket, change) or (sub.id, change.id) in done:
                continue
            session.add(
                WebhookDeliveryRow(
                    subscription_id=sub.id, change_id=change.id, ticket_id=ticket.id,
                    event_type=event_type(change.to_status), body=event_body(change, ticket),
                    status="pending", attempt_count=0, next_attempt_at=now, created_at=now,
                )
            )  # fmt: skip
            made += 1
    cursor.last_change_id = _advance(cursor.last_change_id, [c for c, _ in rows], now - gap_grace)
    cursor.updated_at = now
    session.flush()
    return made


def _matches(sub: WebhookSubscriptionRow, ticket: TicketRow, change: TicketStatusChangeRow) -> bool:
    wanted = WILDCARD in sub.event_types or event_type(change.to_status) in sub.event_types
    # Only the subscriber's own tickets, and nothing from before it subscribed.
    return wanted and ticket.source == sub.source and change.at >= sub.created_at


def _existing_pairs(session: Session, change_ids: Sequence[int]) -> set[tuple[int, int | None]]:
    query = select(WebhookDeliveryRow.subscription_id, WebhookDeliveryRow.change_id).where(
        WebhookDeliveryRow.change_id.in_(change_ids)
    )
    return {(s, c) for s, c in session.execute(query)}


def _advance(last: int, changes: Sequence[TicketStatusChangeRow], settled_before: datetime) -> int:
    for change in changes:
        if change.id != last + 1 and change.at >= settled_before:
            break  # a lower id may still commit: read from here again next time
        last = change.id
    return last


def claim_due(
    session: Session, *, now: datetime, limit: int, lease: timedelta
) -> list[DueDelivery]:
    """Claim pending deliveries that are due, leasing them so no other worker takes them.

    A worker that dies mid-attempt loses nothing: the lease runs out and the delivery is due again.
    """
    query = (
        select(WebhookDeliveryRow, WebhookSubscriptionRow)
        .join(
            WebhookSubscriptionRow, WebhookSubscriptionRow.id == WebhookDeliveryRow.subscription_id
        )
        .where(WebhookDeliveryRow.status == "pending", WebhookDeliveryRow.next_attempt_at <= now)
        .where(WebhookSubscriptionRow.is_active)
        .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=WebhookDeliveryRow)
    )
    claimed = []
    for delivery, sub in session.execute(query):
        delivery.next_attempt_at = now + lease
        claimed.append(
            DueDelivery(
                id=delivery.id,
                subscription_id=sub.id,
                url=sub.url,
                secret=sub.secret,
                event_type=delivery.event_type,
                body=delivery.body,
                attempt_no=delivery.attempt_count + 1,
            )
        )
    session.flush()
    return claimed


def record_attempt(
    session: Session,
    *,
    delivery_id: int,
    attempt_no: int,
    result: AttemptResult,
    retry_at: datetime | None,
    now: datetime,
) -> WebhookDeliveryRow | None:
    """Log an attempt; succeed the delivery, schedule its retry at ``retry_at``, or fail it.

    Returns ``None`` when the delivery is gone (its subscription was deleted meanwhile).
    """
    delivery = session.get(WebhookDeliveryRow, delivery_id)
    if delivery is None:
        return None
    session.add(
        WebhookAttemptRow(
            delivery_id=delivery_id, attempt_no=attempt_no, started_at=result.started_at,
            latency_ms=result.latency_ms, status_code=result.status_code,
            error=result.error[:500] if result.error else None, is_success=result.is_success,
        )
    )  # fmt: skip
    delivery.attempt_count = attempt_no
    delivery.last_status_code, delivery.last_error = result.status_code, result.error
    if result.is_success:
        delivery.status, delivery.next_attempt_at, delivery.completed_at = "succeeded", None, now
    elif retry_at is None:
        delivery.status, delivery.next_attempt_at, delivery.completed_at = "failed", None, now
    else:
        delivery.next_attempt_at = retry_at
    session.flush()
    return delivery


def get_subscription(session: Session, *, subscription_id: int) -> WebhookSubscriptionRow | None:
    """Return the subscription, or ``None``."""
    return session.get(WebhookSubscriptionRow, subscription_id)


def add_subscription(
    session: Session,
    *,
    source: str | None,
    url: str,
    event_types: list[str],
    secret: str,
    description: str | None,
    is_active: bool,
    created_by_key_id: str,
    at: datetime,
) -> WebhookSubscriptionRow:
    """Store a subscription; flushed, so it has its id."""
    row = WebhookSubscriptionRow(
        source=source, url=url, event_types=event_types, secret=secret, description=description,
        is_active=is_active, created_by_key_id=created_by_key_id, created_at=at, updated_at=at,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


def subscriptions(session: Session, *, source: str | None) -> list[WebhookSubscriptionRow]:
    """List subscriptions, of one source or all."""
    query = select(WebhookSubscriptionRow).order_by(WebhookSubscriptionRow.id)
    if source is not None:
        query = query.where(WebhookSubscriptionRow.source == source)
    return list(session.scalars(query))


def delete_subscription(session: Session, *, subscription: WebhookSubscriptionRow) -> None:
    """Delete a subscription with its deliveries and their attempts."""
    delivery_ids = select(WebhookDeliveryRow.id).where(
        WebhookDeliveryRow.subscription_id == subscription.id
    )
    session.execute(
        delete(WebhookAttemptRow).where(WebhookAttemptRow.delivery_id.in_(delivery_ids))
    )
    session.execute(
        delete(WebhookDeliveryRow).where(WebhookDeliveryRow.subscription_id == subscription.id)
    )
    session.delete(subscription)
    session.flush()


def deliveries(
    session: Session, *, subscription_id: int, status: str | None, after_id: int | None, limit: int
) -> list[tuple[WebhookDeliveryRow, list[WebhookAttemptRow]]]:
    """List a subscription's deliveries newest first, each with its attempts in order."""
    query = (
        select(WebhookDeliveryRow)
        .where(WebhookDeliveryRow.subscription_id == subscription_id)
        .order_by(WebhookDeliveryRow.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(WebhookDeliveryRow.status == status)
    if after_id is not None:
        query = query.where(WebhookDeliveryRow.id < after_id)
    rows = list(session.scalars(query))
    attempts: dict[int, list[WebhookAttemptRow]] = {row.id: [] for row in rows}
    if rows:
        for attempt in session.scalars(
            select(WebhookAttemptRow)
            .where(WebhookAttemptRow.delivery_id.in_(attempts))
            .order_by(WebhookAttemptRow.attempt_no)
        ):
            attempts[attempt.delivery_id].append(attempt)
    return [(row, attempts[row.id]) for row in rows]
