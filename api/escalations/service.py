"""Escalations' use cases: evaluating the rules, acting on firings, approving held tickets.

:func:`evaluate_due` is one pass of the schedule: it loads the tickets and leads a rule could
fire on (through the status/deadline and lead-deadline indexes), asks the pure rules which fire
(:func:`api.escalations.rules.evaluate`), records each firing and acts on it, committing once
per batch. A firing is recorded before it acts, under a unique (rule, subject, condition): an
evaluation racing this one records it first, and this one then skips it, so every firing acts
once. A ticket that fails is judged at once (:func:`evaluate_ticket`, from the transition), and
so is one about to be dispatched (:func:`check_dispatch_allowed`).
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from api.bills import service as bills
from api.config import Settings
from api.errors import ApiError
from api.escalations import repository as repo
from api.escalations.rules import (
    BEFORE_DISPATCH,
    REGION_SUPERVISOR,
    EscalationRules,
    Firing,
    LeadFacts,
    Notify,
    OrderValue,
    RaisePriority,
    RequireApproval,
    Rule,
    TicketFacts,
    evaluate,
    is_raise,
)
from api.escalations.schemas import ApprovalCreate, ApprovalRead

#: Firings recorded and acted on per transaction of a pass.
BATCH = 200


def rules_in_force(settings: Settings) -> EscalationRules:
    """Return the escalation rules (a broken file at start-up stops the service)."""
    return repo.rules(settings.escalation_rules_file)


def at_risk_margin(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.sla_at_risk_margin_min)


@dataclass(frozen=True, slots=True)
class Fired:
    """A firing recorded in this pass and what it did."""

    firing_id: int
    rule_id: str
    subject_kind: str
    subject_id: int
    condition_key: str
    actions: list[dict[str, Any]]
    deliveries: int


def evaluate_due(
    session: Session,
    now: datetime,
    *,
    rules: EscalationRules,
    at_risk_margin: timedelta,
    batch: int = BATCH,
) -> list[Fired]:
    """Evaluate every rule on every candidate at ``now``; record and act, committing per batch."""
    tickets = _ticket_candidates(session, rules, now=now, margin=at_risk_margin, ticket_ids=None)
    needs_leads = any(rule.when.subject_kind == "lead" for rule in rules.rules)
    leads = repo.lead_candidates(session, now=now) if needs_leads else []
    firings = _new_firings(session, rules, tickets, leads, now=now, margin=at_risk_margin)
    fired: list[Fired] = []
    for start in range(0, len(firings), batch):
        fired += _act(session, rules, firings[start : start + batch], tickets, leads, now=now)
        session.commit()
    return fired


def evaluate_ticket(session: Session, *, ticket_id: int, now: datetime, settings: Settings) -> None:
    """Evaluate the ticket rules on one ticket whose status just changed (the caller commits)."""
    rules = rules_in_force(settings)
    margin = at_risk_margin(settings)
    tickets = _ticket_candidates(session, rules, now=now, margin=margin, ticket_ids=[ticket_id])
    firings = _new_firings(session, rules, tickets, [], now=now, margin=margin)
    _act(session, rules, firings, tickets, [], now=now)


def _ticket_candidates(
    session: Session,
    rules: EscalationRules,
    *,
    now: datetime,
    margin: timedelta,
    ticket_ids: Sequence[int] | None,
) -> list[TicketFacts]:
    if not any(rule.when.subject_kind == "ticket" for rule in rules.rules):
        return []
    failures = [r.when.failed_times for r in rules.rules if r.when.failed_times is not None]
    judges_value = any(rule.when.order_value_min is not None for rule in rules.rules)
    tickets = repo.ticket_candidates(
        session, now=now, at_risk_margin=margin, min_failures=min(failures, default=None),
        before_dispatch=judges_value, ticket_ids=ticket_ids,
    )  # fmt: skip
    if not judges_value:
        return tickets
    fired = repo.fired_keys(session, subject_kind="ticket", subject_ids=[t.id for t in tickets])
    unjudged = {
        t.id for t in tickets if t.status in BEFORE_DISPATCH
        and any(r.when.order_value_min is not None
                and (r.id, "ticket", t.id, "order_value_min") not in fired for r in rules.rules)
    }  # fmt: skip
    quoted = {
        ticket_id: OrderValue(q.total.amount, q.currency, q.price_list_version, q.local_service_at)
        for ticket_id, q in bills.quotes(session, unjudged, statuses=BEFORE_DISPATCH,
                                         now=now).items()
    }  # fmt: skip
    return [replace(t, order_value=quoted[t.id]) if t.id in quoted else t for t in tickets]


def _new_firings(
    session: Session,
    rules: EscalationRules,
    tickets: list[TicketFacts],
    leads: list[LeadFacts],
    *,
    now: datetime,
    margin: timedelta,
) -> list[Firing]:
    fired = repo.fired_keys(session, subject_kind="ticket", subject_ids=[t.id for t in tickets])
    fired |= repo.fired_keys(session, subject_kind="lead", subject_ids=[lead.id for lead in leads])
    return evaluate(rules, tickets=tickets, leads=leads, now=now, at_risk_margin=margin,
                    already_fired=fired)  # fmt: skip


def _act(
    session: Session,
    rules: EscalationRules,
    firings: list[Firing],
    tickets: list[TicketFacts],
    leads: list[LeadFacts],
    *,
    now: datetime,
) -> list[Fired]:
    """Record each firing (skipping those recorded meanwhile) and carry out its actions."""
    subjects: dict[tuple[str, int], TicketFacts | LeadFacts] = {
        **{("ticket", t.id): t for t in tickets}, **{("lead", lead.id): lead for lead in leads}
    }  # fmt: skip
    fired = []
    for firing in firings:
        rule = rules.rule(firing.rule_id)
        assert rule is not None  # firings come from these rules
        firing_id = repo.claim_firing(session, firing=firing, rules_version=rules.key, now=now)
        if firing_id is None:
            continue  # recorded by a concurrent evaluation: it acts, not this one
        subject = subjects[(firing.subject_kind, firing.subject_id)]
        actions = _change_ticket(session, rule, firing, firing_id, subject, now=now)
        recipients = _recipients(rules, rule, subject)
        actions += [{"action": "notify", **recipient} for recipient in recipients]
        deliveries = 0
        if recipients:
            deliveries = repo.enqueue_firing(
                session, firing_id=firing_id, source=subject.source,
                event_type=f"{firing.subject_kind}.escalated",
                ticket_id=subject.id if isinstance(subject, TicketFacts) else None,
                payload=_event(rules, rule, firing, firing_id, actions, now=now), now=now,
            )  # fmt: skip
        repo.set_actions(session, firing_id=firing_id, actions=actions)
        fired.append(Fired(firing_id, firing.rule_id, firing.subject_kind, firing.subject_id,
                           firing.condition_key, actions, deliveries))  # fmt: skip
    return fired


def _change_ticket(
    session: Session,
    rule: Rule,
    firing: Firing,
    firing_id: int,
    subject: TicketFacts | LeadFacts,
    *,
    now: datetime,
) -> list[dict[str, Any]]:
    """Raise the priority and hold for approval, as the rule says; return what was done."""
    if not isinstance(subject, TicketFacts):
        return []  # lead rules only notify (the rules refuse anything else)
    done: list[dict[str, Any]] = []
    for action in rule.then:
        if isinstance(action, RaisePriority):
            if is_raise(subject.priority, action.to):
                before = repo.raise_priority(
                    session, ticket_id=firing.subject_id, to=action.to, now=now
                )
                done.append({"action": "raise_priority", "from": before, "to": action.to})
            else:  # never lowered: an emergency stays an emergency
                done.append({"action": "raise_priority", "to": action.to,
                             "kept": subject.priority})  # fmt: skip
        elif isinstance(action, RequireApproval):
            is_new = repo.require_approval(
                session, ticket_id=firing.subject_id, firing_id=firing_id, now=now
            )
            done.append({"action": "require_approval",
                         "status": "pending" if is_new else "already_held"})  # fmt: skip
    return done


def _recipients(
    rules: EscalationRules, rule: Rule, subject: TicketFacts | LeadFacts
) -> list[dict[str, Any]]:
    """Return whom the rule's ``notify`` actions name: roles and supervisors, resolved."""
    recipients: list[dict[str, Any]] = []
    for action in rule.then:
        if not isinstance(action, Notify):
            continue
        if action.role is not None:
            recipients.append({"role": action.role})
        elif action.supervisor == REGION_SUPERVISOR:
            recipients.append({"supervisor": rules.supervisor_of(subject.region_id),
                               "of_region": subject.region_id})  # fmt: skip
        else:
            recipients.append({"supervisor": action.supervisor})
    return recipients


def _event(
    rules: EscalationRules,
    rule: Rule,
    firing: Firing,
    firing_id: int,
    actions: list[dict[str, Any]],
    *,
    now: datetime,
) -> dict[str, Any]:
    """Return the webhook body of a firing: the rule, the subject, the facts, what was done."""
    kind = firing.subject_kind
    return {
        "id": f"esc_{firing_id}",
        "type": f"{kind}.escalated",
        "created_at": now.isoformat(),
        "data": {
            f"{kind}_id": firing.subject_id, "firing_id": firing_id, "rule_id": rule.id,
            "rule_description": rule.description, "rules_version": rules.key,
            "condition": firing.condition_key, "facts": firing.facts,
            "notify": [a for a in actions if a["action"] == "notify"],
            "actions": [a for a in actions if a["action"] != "notify"],
        },
    }  # fmt: skip


# Approval before dispatch.
def check_dispatch_allowed(
    session: Session, *, ticket_id: int, now: datetime, settings: Settings
) -> None:
    """Refuse (409 ``approval_required``) to dispatch a ticket a rule holds for approval.

    The ticket rules are evaluated on it first, so that one due now holds it before it goes
    out rather than at the schedule's next pass (an order value the pass has not judged yet, a
    rule added since). A hold made here is committed before the refusal: the firing and its
    notification stand although this dispatch does not.
    """
    evaluate_ticket(session, ticket_id=ticket_id, now=now, settings=settings)
    held = repo.approval(session, ticket_id=ticket_id)
    if held is not None and held.status == "pending":
        session.commit()
        raise ApiError(
            409, "approval_required",
            f"ticket {ticket_id} waits for approval (escalation firing {held.firing_id}) before "
            f"dispatch: POST /v1/tickets/{ticket_id}/approval",
            {"ticket_id": ticket_id, "firing_id": held.firing_id},
        )  # fmt: skip


def approve(
    session: Session, *, ticket_id: int, approval_in: ApprovalCreate, key_id: str, now: datetime
) -> ApprovalRead:
    """Approve a held ticket for dispatch; approving it again changes nothing."""
    held = repo.approval(session, ticket_id=ticket_id, for_update=True)
    if held is None:
        raise ApiError(
            409, "no_approval_required", f"no escalation rule holds ticket {ticket_id}",
            {"ticket_id": ticket_id},
        )  # fmt: skip
    if held.status == "pending":
        held.status, held.approved_at = "approved", now
        held.approved_by_key_id, held.note = key_id, approval_in.note
        session.commit()
    return ApprovalRead.of(held)
