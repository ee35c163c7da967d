"""Escalation and approval rules: when a ticket or a lead calls for someone's attention.

The rules are data (``data/escalation_rules.toml``, format in docs/escalations.md), versioned.
Each rule has one *condition* (``when``) and one or more *actions* (``then``):

- conditions: ``overdue_min`` (a ticket at least this many minutes past its SLA deadline),
  ``at_risk`` (a ticket's SLA at-risk flag, :func:`api.tickets.rules.sla_flags`),
  ``failed_times`` (a ticket that has gone to ``failed`` at least this many times) and
  ``lead_unanswered_min`` (a lead this many minutes past its first-response deadline with no
  response) and ``order_value_min`` (a ticket not yet dispatched whose quote, the customer
  price list's price of its work, is at least this much); a ticket condition may be narrowed to
  tickets of some ``priority``;
- actions: ``notify`` (a role, or a supervisor: a named one or the region's, through the webhook
  outbox), ``raise_priority`` (never lowers) and ``require_approval`` (no dispatch before a
  dispatcher approves).

A rule fires once per subject (ticket or lead) and condition. Rules can loop: one raises a
ticket's priority into another's ``priority`` filter, which raises it into the first's; such a
document is refused (:func:`_refuse_priority_loops`).

Pure: the rules arrive as a parsed table, the subjects as values, the time as an argument.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from api.tickets.rules import sla_flags

RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")]
SupervisorId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][\w.-]{0,63}$")]
Minutes = Annotated[int, Field(ge=0, le=30 * 24 * 60)]
#: An amount in the price list's major unit, quoted as in price lists and rate cards ("2000.00"):
#: a TOML float could not say 0.10 exactly.
QuotedAmount = Annotated[str, Field(pattern=r"^[0-9]{1,9}(\.[0-9]{1,2})?$")]
Priority = Literal["normal", "urgent", "emergency"]
PRIORITY_RANK: dict[str, int] = {"normal": 0, "urgent": 1, "emergency": 2}
SubjectKind = Literal["ticket", "lead"]
NotifyRole = Literal["admin", "dispatcher"]
#: ``notify.supervisor`` of this value means the supervisor of the subject's region.
REGION_SUPERVISOR = "region"
#: The ``supervisors`` key that covers every region not named.
ANY_REGION = "*"


class InvalidEscalationRules(ValueError):
    """A rules document that cannot be used; ``field`` is the dotted path of the culprit."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    """When a rule fires: exactly one condition, optionally only for tickets of ``priority``."""

    overdue_min: Minutes | None = None
    at_risk: Literal[True] | None = None
    failed_times: Annotated[int, Field(ge=1, le=100)] | None = None
    lead_unanswered_min: Minutes | None = None
    order_value_min: QuotedAmount | None = None
    priority: Annotated[list[Priority], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> Self:
        named = [k for k in CONDITIONS if getattr(self, k) is not None]
        if len(named) != 1:
            raise ValueError(f"name exactly one condition of {', '.join(CONDITIONS)}")
        if self.priority is not None and self.subject_kind == "lead":
            raise ValueError("`priority` narrows ticket conditions; leads have no priority")
        return self

    @property
    def key(self) -> str:
        """The condition's name: a rule fires once per subject and condition key."""
        return next(k for k in CONDITIONS if getattr(self, k) is not None)

    @property
    def subject_kind(self) -> SubjectKind:
        """What the condition watches."""
        return "lead" if self.lead_unanswered_min is not None else "ticket"


CONDITIONS = ("overdue_min", "at_risk", "failed_times", "lead_unanswered_min", "order_value_min")
#: Statuses in which a ticket's order value is judged: before it is dispatched, while holding it
#: for approval can still keep it from going out.
BEFORE_DISPATCH = ("new", "scheduled")


class Notify(_Strict):
    """Tell a ``role``, or a ``supervisor`` (``"region"``: the subject's region's)."""

    action: Literal["notify"]
    role: NotifyRole | None = None
    supervisor: SupervisorId | None = None

    @model_validator(mode="after")
    def _one_recipient(self) -> Self:
        if (self.role is None) == (self.supervisor is None):
            raise ValueError("notify needs either `role` or `supervisor`")
        return self


class RaisePriority(_Strict):
    """Raise the ticket's priority to ``to`` (a ticket already there or above keeps its own)."""

    action: Literal["raise_priority"]
    to: Priority


class RequireApproval(_Strict):
    """Hold the ticket from dispatch until staff approve it."""

    action: Literal["require_approval"]


Action = Annotated[Notify | RaisePriority | RequireApproval, Field(discriminator="action")]


class Rule(_Strict):
    """One rule: its id, what makes it fire, what it does."""

    id: RuleId
    description: Annotated[str, Field(max_length=500)] = ""
    when: Condition
    then: Annotated[list[Action], Field(min_length=1, max_length=10)]

    @model_validator(mode="after")
    def _actions_fit_subject(self) -> Self:
        if self.when.subject_kind == "lead":
            for action in self.then:
                if not isinstance(action, Notify):
                    raise ValueError(f"{action.action} acts on tickets; this rule fires on leads")
        return self


class EscalationRules(_Strict):
    """A version of the escalation rules, with the supervisors of the regions."""

    id: RuleId
    version: Annotated[int, Field(ge=1)]
    supervisors: dict[Annotated[str, Field(min_length=1, max_length=64)], SupervisorId] = Field(
        default={}, description="region id (or `*`) -> its supervisor"
    )
    rules: Annotated[list[Rule], Field(max_length=200)] = []

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        ids = [rule.id for rule in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError("rule ids must be unique")
        return self

    @property
    def key(self) -> str:
        """``id@version``: what every firing records."""
        return f"{self.id}@{self.version}"

    def rule(self, rule_id: str) -> Rule | None:
        """Return the rule ``rule_id``, if these rules have it."""
        return next((r for r in self.rules if r.id == rule_id), None)

    def supervisor_of(self, region_id: str | None) -> str | None:
        """Return the supervisor of ``region_id`` (else of every region, else None)."""
        if region_id is not None and region_id in self.supervisors:
            return self.supervisors[region_id]
        return self.supervisors.get(ANY_REGION)


def parse_rules(table: Mapping[str, object]) -> EscalationRules:
    """Validate a parsed rules table; the error names the first offending field."""
    try:
        rules = EscalationRules.model_validate(table)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"] if part not in ACTION_TAGS) or "rules"
        raise InvalidEscalationRules(f"{field}: {first['msg']}", field=field) from err
    _refuse_region_supervisor_without_supervisors(rules)
    _refuse_priority_loops(rules)
    return rules


# Pydantic names the chosen member of a tagged union in an error's location; a path names fields.
ACTION_TAGS = frozenset({"notify", "raise_priority", "require_approval"})


def _refuse_region_supervisor_without_supervisors(rules: EscalationRules) -> None:
    for i, rule in enumerate(rules.rules):
        for j, action in enumerate(rule.then):
            is_region = isinstance(action, Notify) and action.supervisor == REGION_SUPERVISOR
            if is_region and not rules.supervisors:
                field = f"rules.{i}.then.{j}.supervisor"
                message = "the region's supervisor needs a `supervisors` table"
                raise InvalidEscalationRules(f"{field}: {message}", field=field)


def _refuse_priority_loops(rules: EscalationRules) -> None:
    """Refuse rules that raise a ticket's priority back and forth between them.

    Rule A *leads to* rule B when A raises priority to a level B's ``priority`` filter names:
    A's firing makes B fire. A cycle of such rules keeps changing the priority, each rule
    undoing another's work, which no ordering of firings can settle.
    """
    raises = {
        rule.id: (i, j, action.to)
        for i, rule in enumerate(rules.rules)
        for j, action in enumerate(rule.then)
        if isinstance(action, RaisePriority)
    }
    leads_to = {
        rule_id: [
            other.id for other in rules.rules
            if other.id != rule_id and other.id in raises
            and other.when.priority is not None and to in other.when.priority
        ]
        for rule_id, (_, _, to) in raises.items()
    }  # fmt: skip
    for start in leads_to:
        if (cycle := _cycle_from(start, leads_to)) is not None:
            i, j, _ = raises[cycle[0]]
            steps = " -> ".join(f"{r} (raises to {raises[r][2]})" for r in cycle)
            field = f"rules.{i}.then.{j}.to"
            message = f"rules loop on priority: {steps} -> {cycle[0]}"
            raise InvalidEscalationRules(f"{field}: {message}", field=field)


def _cycle_from(start: str, leads_to: Mapping[str, Sequence[str]]) -> list[str] | None:
    """Return a path of rules from ``start`` back to ``start``, if there is one."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        rule_id, path = stack.pop()
        for nxt in leads_to.get(rule_id, ()):
            if nxt == start:
                return path
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


@dataclass(frozen=True, slots=True)
class OrderValue:
    """A ticket's quote: its work priced by the customer price list in force when it is due."""

    amount: Decimal
    currency: str
    price_list_version: str
    priced_for: datetime


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """What the rules look at on a ticket (``order_value``: None when it has no quote)."""

    id: int
    source: str
    status: str
    priority: str
    region_id: str | None
    sla_due_at: datetime | None
    failed_count: int
    order_value: OrderValue | None = None


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """What the rules look at on a lead."""

    id: int
    source: str
    region_id: str | None
    first_response_due_at: datetime | None
    first_responded_at: datetime | None


@dataclass(frozen=True, slots=True)
class Firing:
    """A rule that fired on a subject, and the facts that made it fire."""

    rule_id: str
    subject_kind: SubjectKind
    subject_id: int
    condition_key: str
    facts: dict[str, object]


def evaluate(
    rules: EscalationRules,
    *,
    tickets: Iterable[TicketFacts],
    leads: Iterable[LeadFacts],
    now: datetime,
    at_risk_margin: timedelta,
    already_fired: frozenset[tuple[str, SubjectKind, int, str]] = frozenset(),
) -> list[Firing]:
    """Return every rule firing on ``tickets`` and ``leads`` at ``now``, rules in their order.

    ``already_fired`` holds ``(rule id, subject kind, subject id, condition key)`` of firings
    recorded before: a rule fires once per subject and condition.
    """
    tickets, leads = list(tickets), list(leads)
    firings = []
    for rule in rules.rules:
        subjects: list[TicketFacts] | list[LeadFacts] = (
            leads if rule.when.subject_kind == "lead" else tickets
        )
        for subject in subjects:
            key = (rule.id, rule.when.subject_kind, subject.id, rule.when.key)
            if key in already_fired:
                continue
            facts = (
                _lead_facts(rule.when, subject, now)
                if isinstance(subject, LeadFacts)
                else _ticket_facts(rule.when, subject, now, at_risk_margin)
            )
            if facts is not None:
                firings.append(Firing(rule.id, rule.when.subject_kind, subject.id, rule.when.key,
                                      facts))  # fmt: skip
    return firings


def _ticket_facts(
    when: Condition, ticket: TicketFacts, now: datetime, margin: timedelta
) -> dict[str, object] | None:
    if when.priority is not None and ticket.priority not in when.priority:
        return None
    at_risk, overdue = sla_flags(
        status=ticket.status, sla_due_at=ticket.sla_due_at, now=now, at_risk_margin=margin
    )
    base: dict[str, object] = {
        "ticket_id": ticket.id, "status": ticket.status, "priority": ticket.priority,
        "region_id": ticket.region_id, "evaluated_at": now.isoformat(),
    }  # fmt: skip
    if when.overdue_min is not None and overdue and ticket.sla_due_at is not None:
        late_min = int((now - ticket.sla_due_at).total_seconds() // 60)
        if late_min >= when.overdue_min:
            return base | {"sla_due_at": ticket.sla_due_at.isoformat(), "overdue_min": late_min,
                           "threshold_min": when.overdue_min}  # fmt: skip
    if when.at_risk and at_risk and ticket.sla_due_at is not None:
        return base | {"sla_due_at": ticket.sla_due_at.isoformat(),
                       "at_risk_margin_min": int(margin.total_seconds() // 60)}  # fmt: skip
    if when.failed_times is not None and ticket.failed_count >= when.failed_times:
        return base | {"failed_count": ticket.failed_count, "threshold": when.failed_times}
    value = ticket.order_value
    if (
        when.order_value_min is not None and value is not None
        and ticket.status in BEFORE_DISPATCH and value.amount >= Decimal(when.order_value_min)
    ):  # fmt: skip
        return base | {"order_value": str(value.amount), "currency": value.currency,
                       "threshold": when.order_value_min,
                       "price_list_version": value.price_list_version,
                       "priced_for": value.priced_for.isoformat()}  # fmt: skip
    return None


def _lead_facts(when: Condition, lead: LeadFacts, now: datetime) -> dict[str, object] | None:
    due = lead.first_response_due_at
    if when.lead_unanswered_min is None or due is None or lead.first_responded_at is not None:
        return None
    late_min = int((now - due).total_seconds() // 60)
    if now <= due or late_min < when.lead_unanswered_min:
        return None
    return {
        "lead_id": lead.id, "region_id": lead.region_id, "first_response_due_at": due.isoformat(),
        "unanswered_min": late_min, "threshold_min": when.lead_unanswered_min,
        "evaluated_at": now.isoformat(),
    }  # fmt: skip


def is_raise(current: str, target: str) -> bool:
    """Whether moving ``current`` priority to ``target`` raises it.

    >>> is_raise("normal", "urgent"), is_raise("emergency", "urgent")
    (True, False)
    """
    return PRIORITY_RANK[target] > PRIORITY_RANK.get(current, -1)
