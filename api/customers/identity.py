"""Linking submitted people to customers: every ticket and lead of a source comes through here.

:func:`link_people` loads the customers a batch could match (one query per 500 people), lets
the pure :class:`~api.customers.rules.Directory` decide each person in order, then writes the
new customers, the identifiers they bring and the merge suggestions, inside a savepoint.

Races: an identifier is unique per source, kind and value. Two transactions that both found no
customer for the same new phone both try to store it; the second waits for the first, is
refused by the unique index, rolls back to its savepoint and decides again, now seeing the
first one's customer, and links to it. SQLite writers take turns (``BEGIN IMMEDIATE``).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.customers import repository as repo
from api.customers.rules import Directory, Identifier, Person, Suggestion

ATTEMPTS = 3  # a lost race is decided again; a third loss in a row is a real conflict


def link_people(
    session: Session, *, source: str, people: Sequence[Person | None], now: datetime
) -> list[int | None]:
    """Return the customer id of each person (``None`` stays ``None``), creating customers.

    Writes without committing; raises ``IntegrityError`` only after ``ATTEMPTS`` lost races.
    """
    for attempt in range(1, ATTEMPTS + 1):
        plan = _plan(session, source, people)
        if not plan.has_writes:
            return plan.resolved()
        try:
            with session.begin_nested():
                return _write(session, source, plan, now)
        except IntegrityError:
            if attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # the loop returns or raises


def one_statement_link(
    session: Session, *, source: str, person: Person
) -> int | repo.NewCustomer | None:
    """Return how ``person`` links when one statement can do it, else None (without writing).

    For a path that writes in one statement (a keyed ticket on PostgreSQL): the customer's id
    when linking writes nothing (a returning customer, known by every identifier they bring,
    with nothing to suggest); the new customer to create when that is all there is to write
    (nobody shares an identifier, nobody of the name lives nearby).
    """
    plan = _plan(session, source, [person])
    if not plan.has_writes:
        return plan.ids[0]
    if len(plan.new) == 1 and not plan.identifiers and not plan.suggestions:
        return next(iter(plan.new.values()))
    return None


@dataclass
class _Plan:
    """The decisions for a batch, before the new customers have ids (they hold -2, -3, ...)."""

    ids: list[int | None]
    new: dict[int, repo.NewCustomer] = field(default_factory=dict)
    identifiers: list[tuple[int, Identifier]] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)

    @property
    def has_writes(self) -> bool:
        return bool(self.new or self.identifiers or self.suggestions)

    def resolved(self, real: dict[int, int] | None = None) -> list[int | None]:
        real = real or {}
        return [None if i is None else real.get(i, i) for i in self.ids]


def _plan(session: Session, source: str, people: Sequence[Person | None]) -> _Plan:
    given = [p for p in people if p is not None]
    directory = Directory(repo.candidates(session, source=source, people=given) if given else [])
    plan = _Plan(ids=[])
    for person in people:
        if person is None:
            plan.ids.append(None)
            continue
        decision = directory.decide(person)
        customer_id = decision.customer_id
        if customer_id is None:
            customer_id = -2 - len(plan.new)
            plan.new[customer_id] = repo.NewCustomer(
                person, tuple((k.value, v) for k, v in decision.new_identifiers)
            )
        else:
            plan.identifiers += [(customer_id, i) for i in decision.new_identifiers]
        plan.suggestions += directory.apply(person, decision, customer_id=customer_id)
        plan.ids.append(customer_id)
    return plan


def _write(session: Session, source: str, plan: _Plan, now: datetime) -> list[int | None]:
    stored = repo.insert_customers(
        session, source=source, customers=list(plan.new.values()), now=now
    )
    real = dict(zip(plan.new, stored, strict=True))
    repo.add_identifiers(
        session,
        source=source,
        rows=[(real.get(c, c), kind.value, value) for c, (kind, value) in plan.identifiers],
        now=now,
    )
    suggestions = []
    for s in plan.suggestions:
        suggestions.append(
            Suggestion.of(real.get(s.first, s.first), real.get(s.second, s.second), s.evidence)
        )
    repo.add_suggestions(session, source=source, suggestions=suggestions, now=now)
    return plan.resolved(real)
