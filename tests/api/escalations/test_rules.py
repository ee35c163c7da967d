"""Escalation rules, pure: each condition fires as documented and once, the shipped file parses,
and a broken document names the offending field (unknown keys, wrong actions, priority loops)."""

import tomllib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from api.config import PROJECT_ROOT
from api.escalations.rules import (
    EscalationRules,
    InvalidEscalationRules,
    LeadFacts,
    OrderValue,
    TicketFacts,
    evaluate,
    parse_rules,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
MARGIN = timedelta(minutes=120)


def document(*rules: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": "esc", "version": 1, "supervisors": {"*": "sup-duty", "310115": "sup-pudong"},
            "rules": list(rules)} | extra  # fmt: skip


def rule(rule_id: str, when: dict[str, Any], *then: dict[str, Any]) -> dict[str, Any]:
    return {"id": rule_id, "when": when,
            "then": list(then) or [{"action": "notify", "role": "dispatcher"}]}  # fmt: skip


def ticket(**overrides: Any) -> TicketFacts:
    values: dict[str, Any] = {
        "id": 1, "source": "shop", "status": "scheduled", "priority": "normal",
        "region_id": "310115", "sla_due_at": NOW - timedelta(minutes=45), "failed_count": 0,
    }  # fmt: skip
    return TicketFacts(**(values | overrides))


def lead(**overrides: Any) -> LeadFacts:
    values: dict[str, Any] = {
        "id": 7, "source": "shop", "region_id": None,
        "first_response_due_at": NOW - timedelta(minutes=90), "first_responded_at": None,
    }  # fmt: skip
    return LeadFacts(**(values | overrides))


def fire(rules: EscalationRules, **subjects: Any) -> list[tuple[str, int, str]]:
    firings = evaluate(rules, tickets=subjects.get("tickets", []), leads=subjects.get("leads", []),
                       now=NOW, at_risk_margin=MARGIN)  # fmt: skip
    return [(f.rule_id, f.subject_id, f.condition_key) for f in firings]


def test_the_shipped_rules_parse_and_escalate_an_overdue_ticket() -> None:
    with (PROJECT_ROOT / "data" / "escalation_rules.toml").open("rb") as handle:
        rules = parse_rules(tomllib.load(handle))
    overdue = rules.rule("overdue-30")
    assert overdue is not None
    assert [a.action for a in overdue.then] == ["notify", "raise_priority"]
    assert fire(rules, tickets=[ticket()]) == [("overdue-30", 1, "overdue_min")]


@pytest.mark.parametrize(
    ("late_min", "fires"), [(29, False), (30, True), (45, True), (-5, False)]
)  # fmt: skip
def test_overdue_fires_from_its_threshold(late_min: int, fires: bool) -> None:
    rules = parse_rules(document(rule("late", {"overdue_min": 30})))
    due = NOW - timedelta(minutes=late_min)
    assert bool(fire(rules, tickets=[ticket(sla_due_at=due)])) is fires


def test_a_closed_or_deadline_free_ticket_never_escalates() -> None:
    rules = parse_rules(document(rule("late", {"overdue_min": 0}), rule("risk", {"at_risk": True})))
    assert fire(rules, tickets=[ticket(status="completed"), ticket(id=2, sla_due_at=None)]) == []


def test_at_risk_follows_the_sla_flag() -> None:
    rules = parse_rules(document(rule("risk", {"at_risk": True})))
    soon, later = NOW + timedelta(minutes=30), NOW + timedelta(minutes=300)
    tickets = [ticket(id=1, sla_due_at=soon), ticket(id=2, sla_due_at=later), ticket(id=3)]
    assert fire(rules, tickets=tickets) == [("risk", 1, "at_risk")]


def test_failed_counts_failures_and_records_the_facts() -> None:
    rules = parse_rules(document(rule("twice", {"failed_times": 2})))
    firings = evaluate(rules, tickets=[ticket(id=1, failed_count=1), ticket(id=2, failed_count=2)],
                       leads=[], now=NOW, at_risk_margin=MARGIN)  # fmt: skip
    assert [(f.subject_id, f.facts["failed_count"], f.facts["threshold"]) for f in firings] == [
        (2, 2, 2)
    ]


def test_an_order_value_fires_at_its_threshold_before_dispatch_only() -> None:
    rules = parse_rules(document(rule("large", {"order_value_min": "2000.00"})))

    def quoted(amount: str) -> OrderValue:
        return OrderValue(Decimal(amount), "CNY", "prices@v1", NOW + timedelta(hours=3))

    subjects = [
        ticket(id=1, order_value=quoted("1999.99")), ticket(id=2, order_value=quoted("2000.00")),
        ticket(id=3, status="new", order_value=quoted("8000.00")),
        ticket(id=4, status="dispatched", order_value=quoted("8000.00")),
        ticket(id=5, order_value=None),  # no price list could quote it
    ]  # fmt: skip
    firings = evaluate(rules, tickets=subjects, leads=[], now=NOW, at_risk_margin=MARGIN)
    assert [f.subject_id for f in firings] == [2, 3]
    assert {k: firings[0].facts[k] for k in ("order_value", "currency", "threshold")} == {
        "order_value": "2000.00", "currency": "CNY", "threshold": "2000.00"
    }  # fmt: skip


def test_a_lead_unanswered_past_its_deadline_escalates_until_answered() -> None:
    rules = parse_rules(document(rule("lead", {"lead_unanswered_min": 60})))
    answered = lead(id=8, first_responded_at=NOW - timedelta(minutes=100))
    recent = lead(id=9, first_response_due_at=NOW - timedelta(minutes=10))
    assert fire(rules, leads=[lead(), answered, recent]) == [("lead", 7, "lead_unanswered_min")]


def test_priority_narrows_a_condition() -> None:
    rules = parse_rules(document(rule("late", {"overdue_min": 30, "priority": ["normal"]})))
    assert fire(rules, tickets=[ticket(id=1), ticket(id=2, priority="urgent")]) == [
        ("late", 1, "overdue_min")
    ]


def test_a_rule_fires_once_per_subject_and_condition() -> None:
    rules = parse_rules(document(rule("late", {"overdue_min": 30})))
    firings = evaluate(rules, tickets=[ticket()], leads=[], now=NOW, at_risk_margin=MARGIN,
                       already_fired=frozenset({("late", "ticket", 1, "overdue_min")}))  # fmt: skip
    assert firings == []


def test_the_region_supervisor_resolves_by_region_then_default() -> None:
    rules = parse_rules(document())
    assert rules.supervisor_of("310115") == "sup-pudong"
    assert rules.supervisor_of("320508") == "sup-duty"
    assert rules.supervisor_of(None) == "sup-duty"


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        (document(rule("a", {"overdue_mins": 30})), "rules.0.when.overdue_mins"),
        (document(rule("a", {"overdue_min": 30}), rule("b", {"overdue_min": -1})),
         "rules.1.when.overdue_min"),
        (document(rule("a", {})), "rules.0.when"),
        (document(rule("a", {"overdue_min": 3, "at_risk": True})), "rules.0.when"),
        (document(rule("a", {"overdue_min": 3}, {"action": "page"})), "rules.0.then.0"),
        (document(rule("a", {"overdue_min": 3}, {"action": "notify", "rol": "x"})),
         "rules.0.then.0.rol"),
        (document(rule("a", {"overdue_min": 3}, {"action": "notify"})), "rules.0.then.0"),
        (document(rule("a", {"overdue_min": 3}, {"action": "raise_priority", "to": "asap"})),
         "rules.0.then.0.to"),
        (document(rule("a", {"lead_unanswered_min": 3}, {"action": "require_approval"})),
         "rules.0"),
        (document(rule("a", {"overdue_min": 3}), rule("a", {"at_risk": True})), "rules"),
        (document(rule("a", {"overdue_min": 3}), colour="red"), "colour"),
        (document(rule("a", {"order_value_min": 2000.0})), "rules.0.when.order_value_min"),
        (document(rule("a", {"order_value_min": "-5.00"})), "rules.0.when.order_value_min"),
        (document(rule("a", {"order_value_min": "1.005"})), "rules.0.when.order_value_min"),
        (document(rule("a", {"overdue_min": 3}, {"action": "notify", "supervisor": "region"}),
                  supervisors={}), "rules.0.then.0.supervisor"),
    ],
)  # fmt: skip
def test_a_broken_document_names_the_field(broken: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidEscalationRules) as caught:
        parse_rules(broken)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_rules_that_raise_priority_back_and_forth_are_a_loop() -> None:
    up = rule("up", {"overdue_min": 30, "priority": ["normal"]},
              {"action": "raise_priority", "to": "urgent"})  # fmt: skip
    back = rule("back", {"at_risk": True, "priority": ["urgent"]},
                {"action": "raise_priority", "to": "normal"})  # fmt: skip
    with pytest.raises(InvalidEscalationRules) as caught:
        parse_rules(document(up, back))
    assert caught.value.field == "rules.0.then.0.to"
    assert "loop" in str(caught.value) and "up" in str(caught.value) and "back" in str(caught.value)


def test_a_chain_of_raises_is_no_loop() -> None:
    up = rule("up", {"overdue_min": 30, "priority": ["normal"]},
              {"action": "raise_priority", "to": "urgent"})  # fmt: skip
    further = rule("further", {"overdue_min": 120, "priority": ["urgent"]},
                   {"action": "raise_priority", "to": "emergency"})  # fmt: skip
    assert [r.id for r in parse_rules(document(up, further)).rules] == ["up", "further"]
