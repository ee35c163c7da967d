"""Escalation bodies: the rules in force, recorded firings, a ticket's approval."""

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from api.db.tables import EscalationFiringRow, TicketApprovalRow
from api.escalations.rules import EscalationRules, Rule
from api.schemas import Strict


class RuleRead(BaseModel):
    """One rule: what makes it fire and what it does, as the rules file says."""

    id: str
    description: str
    subject_kind: Literal["ticket", "lead"]
    condition: str = Field(description="the condition's key: a rule fires once per subject and key")
    when: dict[str, Any]
    then: list[dict[str, Any]]

    @classmethod
    def of(cls, rule: Rule) -> Self:
        return cls(
            id=rule.id, description=rule.description, subject_kind=rule.when.subject_kind,
            condition=rule.when.key, when=rule.when.model_dump(exclude_none=True),
            then=[action.model_dump(exclude_none=True) for action in rule.then],
        )  # fmt: skip


class EscalationRulesRead(BaseModel):
    """The escalation rules in force."""

    id: str
    version: int
    key: str = Field(description="`id@version`, recorded with every firing")
    supervisors: dict[str, str] = Field(description="region id (or `*`) -> its supervisor")
    rules: list[RuleRead]

    @classmethod
    def of(cls, rules: EscalationRules) -> Self:
        return cls(id=rules.id, version=rules.version, key=rules.key,
                   supervisors=dict(rules.supervisors),
                   rules=[RuleRead.of(rule) for rule in rules.rules])  # fmt: skip


class FiringRead(BaseModel):
    """A rule that fired: on what, why (the facts), and what it did."""

    id: int
    rule_id: str
    rules_version: str
    subject_kind: Literal["ticket", "lead"]
    subject_id: int
    condition_key: str
    facts: dict[str, Any]
    actions: list[dict[str, Any]]
    fired_at: datetime

    @classmethod
    def of(cls, row: EscalationFiringRow) -> Self:
        return cls(
            id=row.id, rule_id=row.rule_id, rules_version=row.rules_version,
            subject_kind="lead" if row.subject_kind == "lead" else "ticket",
            subject_id=row.subject_id, condition_key=row.condition_key, facts=row.facts,
            actions=row.actions, fired_at=row.fired_at,
        )  # fmt: skip


class FiringList(BaseModel):
    items: list[FiringRead]


class ApprovalCreate(Strict):
    """Approve a ticket an escalation rule holds from dispatch."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"note": "Called the customer: the third visit is on."}]}
    )

    note: str | None = Field(default=None, max_length=500, description="why, for the record")


class ApprovalRead(BaseModel):
    """A ticket's approval: held (`pending`) or released for dispatch (`approved`)."""

    ticket_id: int
    status: Literal["pending", "approved"]
    firing_id: int = Field(description="the escalation firing that required it")
    required_at: datetime
    approved_at: datetime | None
    approved_by_key_id: str | None
    note: str | None

    @classmethod
    def of(cls, row: TicketApprovalRow) -> Self:
        return cls(
            ticket_id=row.ticket_id, status="approved" if row.status == "approved" else "pending",
            firing_id=row.firing_id, required_at=row.required_at, approved_at=row.approved_at,
            approved_by_key_id=row.approved_by_key_id, note=row.note,
        )  # fmt: skip
