"""The parsed form shared by every rule kind."""

from collections.abc import Callable
from dataclasses import dataclass

from settlement.cardfields import Table
from settlement.slots import Slot


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of a card: its id, kind, slots (in order) and the region ids it names.

    The region ids are checked against the regions when those are given. ``service_types`` are
    the types the rule names: the base fee's are those it prices, and any other rule's must be
    among them (a rule restricted to a type without a base fee would silently never apply).
    """

    id: str
    kind: str
    slots: tuple[Slot, ...]
    region_ids: frozenset[str] = frozenset()
    service_types: frozenset[str] = frozenset()


#: ``parse(table, rule_id, currency) -> Rule`` for one rule kind.
RuleParser = Callable[[Table, str, str], Rule]
