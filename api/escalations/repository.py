"""Escalations in SQL: the rules file, the candidates, firings, approvals, webhook deliveries."""

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.db.tables import (
    EscalationFiringRow,
    LeadRow,
    TicketApprovalRow,
    TicketRow,
    TicketStatusChangeRow,
    WebhookDeliveryRow,
    WebhookSubscriptionRow,
)
from api.escalations.rules import (
    BEFORE_DISPATCH,
    Firing,
    InvalidEscalationRules,
    LeadFacts,
    SubjectKind,
    TicketFacts,
    parse_rules,
)
from api.leads.repository import OPEN_STATUSES as OPEN_LEAD_STATUSES
from api.tickets.rules import OPEN_STATUSES as OPEN_TICKET_STATUSES
from api.tickets.rules import TicketStatus
from api.watched_files import RulesFileError, Watched, read_toml

FAILED = TicketStatus.FAILED.value


class EscalationRulesFileError(RulesFileError):
    """An escalation rules file that does not parse or validate; the message names the file."""


#: The escalation rules of a file, read again when it changes (a broken edit keeps the last good).
rules = Watched(
    partial(read_toml, parse=parse_rules, invalid=InvalidEscalationRules,
            error=EscalationRulesFileError),
    what="escalation rules",
)  # fmt: skip


# Candidates.
def ticket_candidates(
    session: Session,
    *,
    now: datetime,
    at_risk_margin: timedelta,
    min_failures: int | None,
    before_dispatch: bool = False,
    ticket_ids: Sequence[int] | None = None,
) -> list[TicketFacts]:
    """Return the open tickets a ticket rule could fire on, as facts (without order values).

    Those due before ``now + at_risk_margin`` (at risk or overdue: the status and deadline
    index finds them), when a rule counts failures those failed ``min_failures`` times, and
    with ``before_dispatch`` (a rule judges order values) every ticket not yet dispatched.
    ``ticket_ids`` narrows it to those tickets (a ticket whose status just changed).
    """
    failures = (
        select(TicketStatusChangeRow.ticket_id, func.count().label("n"))
        .where(TicketStatusChangeRow.to_status == FAILED)
        .group_by(TicketStatusChangeRow.ticket_id)
        .subquery()
    )
    failed_count = func.coalesce(failures.c.n, 0)
    due_soon = TicketRow.sla_due_at < now + at_risk_margin
    wanted = [due_soon]
    if min_failures is not None:
        wanted.append(failed_count >= min_failures)
    if before_dispatch:
        wanted.append(TicketRow.status.in_(BEFORE_DISPATCH))
    query = (
        select(TicketRow.id, TicketRow.source, TicketRow.status, TicketRow.priority,
               TicketRow.region_id, TicketRow.sla_due_at, failed_count)
        .outerjoin(failures, failures.c.ticket_id == TicketRow.id)
        .where(TicketRow.status.in_(OPEN_TICKET_STATUSES), or_(*wanted))
        .order_by(TicketRow.id)
    )  # fmt: skip
    if ticket_ids is not None:
        query = query.where(TicketRow.id.in_(ticket_ids))
    return [TicketFacts(*row) for row in session.execute(query)]


def lead_candidates(session: Session, *, now: datetime) -> list[LeadFacts]:
    """Return the open leads past their first-response deadline with no response, as facts."""
    query = (
        select(LeadRow.id, LeadRow.source, LeadRow.region_id, LeadRow.first_response_due_at,
               LeadRow.first_responded_at)
        .where(LeadRow.status.in_(OPEN_LEAD_STATUSES), LeadRow.first_response_due_at < now,
               LeadRow.first_responded_at.is_(None))
        .order_by(LeadRow.id)
    )  # fmt: skip
    return [LeadFacts(*row) for row in session.execute(query)]


def fired_keys(
    session: Session, *, subject_kind: SubjectKind, subject_ids: Sequence[int]
) -> frozenset[tuple[str, SubjectKind, int, str]]:
    """Return ``(rule, kind, subject, condition)`` of the subjects' recorded firings."""
    if not subject_ids:
        return frozenset()
    query = select(EscalationFiringRow.rule_id, EscalationFiringRow.subject_id,
                   EscalationFiringRow.condition_key).where(
        EscalationFiringRow.subject_kind == subject_kind,
        EscalationFiringRow.subject_id.in_(subject_ids),
    )  # fmt: skip
    return frozenset((rule, subject_kind, sid, key) for rule, sid, key in session.execute(query))


# Firings.
def claim_firing(
    session: Session, *, firing: Firing, rules_version: str, now: datetime
) -> int | None:
    """Record a firing; None if it was recorded before (by this pass or a concurrent one).

    The unique constraint decides: on PostgreSQL an evaluation racing this one makes the insert
    wait for it, then fail once it commits. Only the savepoint is lost.
    """
    values = {
        "rule_id": firing.rule_id, "rules_version": rules_version,
        "subject_kind": firing.subject_kind, "subject_id": firing.subject_id,
        "condition_key": firing.condition_key, "facts": firing.facts, "actions": [],
        "fired_at": now,
    }  # fmt: skip
    try:
        with session.begin_nested():
            firing_id: int = session.execute(
                insert(EscalationFiringRow).values(**values).returning(EscalationFiringRow.id)
            ).scalar_one()
    except IntegrityError:
        return None
    return firing_id


def set_actions(session: Session, *, firing_id: int, actions: list[dict[str, Any]]) -> None:
    """Record what a firing did."""
    session.execute(
        update(EscalationFiringRow)
        .where(EscalationFiringRow.id == firing_id)
        .values(actions=actions)
        .execution_options(synchronize_session=False)
    )


def firings(
    session: Session, *, subject_kind: str | None, subject_id: int | None, limit: int
) -> Sequence[EscalationFiringRow]:
    """Return recorded firings, newest first (of one kind, of one subject)."""
    query = select(EscalationFiringRow).order_by(EscalationFiringRow.id.desc()).limit(limit)
    if subject_kind is not None:
        query = query.where(EscalationFiringRow.subject_kind == subject_kind)
    if subject_id is not None:
        query = query.where(EscalationFiringRow.subject_id == subject_id)
    return session.scalars(query).all()


# Actions.
def raise_priority(session: Session, *, ticket_id: int, to: str, now: datetime) -> str | None:
    """Set the ticket's priority to ``to``; return the one it had (None: no such open ticket).

    ``updated_at`` moves too: the live plans' freshness check sees the change.
    """
    ticket = session.get(TicketRow, ticket_id, with_for_update=True)
    if ticket is None:
        return None
    before = ticket.priority
    ticket.priority, ticket.updated_at = to, now
    session.flush()
    return before


def require_approval(session: Session, *, ticket_id: int, firing_id: int, now: datetime) -> bool:
    """Hold the ticket for approval; False if it already has an approval record."""
    if session.get(TicketApprovalRow, ticket_id) is not None:
        return False
    session.add(TicketApprovalRow(ticket_id=ticket_id, status="pending", firing_id=firing_id,
                                  required_at=now))  # fmt: skip
    session.flush()
    return True


def approval(
    session: Session, *, ticket_id: int, for_update: bool = False
) -> TicketApprovalRow | None:
    """Return the ticket's approval record, if a rule ever required one."""
    return session.get(TicketApprovalRow, ticket_id, with_for_update=for_update)


def enqueue_firing(
    session: Session,
    *,
    firing_id: int,
    source: str,
    event_type: str,
    ticket_id: int | None,
    payload: dict[str, Any],
    now: datetime,
) -> int:
    """Put a firing's event in the webhook outbox for the source's subscribers to it.

    A subscription wants it when it names ``event_type`` (or ``ticket.*`` for a ticket's).
    Return how many deliveries were made; the delivery worker sends them, signed, with retries.
    """
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    made = 0
    for sub in session.scalars(
        select(WebhookSubscriptionRow).where(
            WebhookSubscriptionRow.is_active, WebhookSubscriptionRow.source == source
        )
    ):
        wildcard = ticket_id is not None and "ticket.*" in sub.event_types
        if event_type not in sub.event_types and not wildcard:
            continue
        session.add(
            WebhookDeliveryRow(
                subscription_id=sub.id, firing_id=firing_id, ticket_id=ticket_id,
                event_type=event_type, body=body, status="pending", attempt_count=0,
                next_attempt_at=now, created_at=now,
            )
        )  # fmt: skip
        made += 1
    session.flush()
    return made
