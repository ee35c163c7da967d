# ruff: noqa: RUF001 -- Chinese labels use full-width punctuation on purpose
"""Distance supplement: a flat amount for an order whose trip is longer than a threshold.

``distance_subsidy`` pays per km beyond a free radius; this rule pays one fixed amount once the
trip (``travel_m``) is longer than ``beyond_m``, e.g. "a flat 20.00 per order beyond the standard
distance". The rule form (:class:`DistanceSupplement`) is a pure function of the order's distance
and service type, so the customer price list reuses it unchanged (:func:`read_supplement`): one
line with basis 1 (one order), rate = the amount, and a label stating the trip and the threshold.
"""

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from typing_extensions import override

from settlement.cardfields import Table, amount, check_keys, text, whole
from settlement.columns import ColumnContext, OrderColumns
from settlement.errors import InvalidRateCard
from settlement.order import CompletedOrder, OrderContext
from settlement.rules.rule import Rule
from settlement.slots import Arithmetic, Choice, IntArray, Option, RegionNames, Slot

_FIELDS = {"beyond_m", "amount"}
_OPTIONAL = {"service_types", "label_zh", "label_en"}
_DEFAULT_LABELS = ("远途补贴", "long-trip supplement")


@dataclass(frozen=True, slots=True)
class DistanceSupplement:
    """Pays ``amount`` once when the trip is longer than ``beyond_m`` metres.

    Parameters
    ----------
    beyond_m
        Threshold in whole metres; a trip of exactly ``beyond_m`` gets nothing.
    amount
        The flat amount, whole fen.
    service_types
        Only orders of these service types qualify; every order when empty.
    label_zh, label_en
        What the supplement is called in the line's label.
    """

    beyond_m: int
    amount: Decimal
    service_types: frozenset[str] = frozenset()
    label_zh: str = _DEFAULT_LABELS[0]
    label_en: str = _DEFAULT_LABELS[1]

    def applies(self, travel_m: int, service_type: str) -> bool:
        """Whether an order with this trip and service type gets the supplement.

        Examples
        --------
        >>> rule = DistanceSupplement(3000, Decimal("20.00"))
        >>> rule.applies(3000, "repair"), rule.applies(3001, "repair")
        (False, True)
        """
        is_type = not self.service_types or service_type in self.service_types
        return is_type and travel_m > self.beyond_m

    def explain(self, travel_m: int, currency: str) -> tuple[str, str]:
        """Return the (Chinese, English) label of the line for a trip of ``travel_m`` metres.

        Examples
        --------
        >>> DistanceSupplement(3000, Decimal("20.00")).explain(7250, "CNY")[1]
        'long-trip supplement: 7.25 km trip, beyond 3 km: flat 20.00 CNY'
        """
        trip, beyond, flat = _km(travel_m), _km(self.beyond_m), f"{self.amount:.2f} {currency}"
        return (
            f"{self.label_zh}：路程 {trip} 公里，超过 {beyond} 公里：定额 {flat}",
            f"{self.label_en}: {trip} km trip, beyond {beyond} km: flat {flat}",
        )


@dataclass(frozen=True)
class SupplementSlot(Slot):
    """One flat line per qualifying order; its quantity is the trip's metres, for the label."""

    form: DistanceSupplement
    currency: str

    @override
    def choose(self, order: CompletedOrder, context: OrderContext) -> Choice | None:
        if not self.form.applies(order.travel_m, order.service_type):
            return None
        return Choice(0, order.travel_m)

    @override
    def choose_columns(
        self, columns: OrderColumns, context: ColumnContext
    ) -> tuple[IntArray, IntArray]:
        qualifies = columns.travel_m > self.form.beyond_m
        if self.form.service_types:
            codes = [i for i, s in enumerate(columns.service_types) if s in self.form.service_types]
            qualifies &= np.isin(columns.service_type_codes, codes)
        return np.where(qualifies, 0, -1), columns.travel_m

    @override
    def label(self, choice: Choice, names: RegionNames) -> tuple[str, str]:
        return self.form.explain(choice.quantity, self.currency)


def read_supplement(table: Table, rule_id: str) -> DistanceSupplement:
    """Read ``beyond_m``, ``amount`` and the optional ``service_types`` and label pair.

    Only those keys (plus ``kind`` and ``id``) are allowed. The customer price list calls this on
    its own rule tables, so a supplement reads and validates the same in both documents.

    Raises
    ------
    InvalidRateCard
        Naming the rule and the field: a missing or unknown field, ``beyond_m`` not a whole
        number of metres >= 0, ``amount`` not a quoted decimal >= 0 in whole fen, an empty or
        repeated service type, or only one of ``label_zh`` and ``label_en``.
    """
    check_keys(table, rule_id, required={"kind", "id", *_FIELDS}, optional=_OPTIONAL)
    if ("label_zh" in table) != ("label_en" in table):
        missing = "label_en" if "label_zh" in table else "label_zh"
        raise InvalidRateCard(
            f"{rule_id}: give both label_zh and label_en or neither ({missing} is missing)",
            rule=rule_id,
            field=missing,
        )
    zh, en = (
        (text(table, "label_zh", rule_id), text(table, "label_en", rule_id))
        if "label_zh" in table
        else _DEFAULT_LABELS
    )
    return DistanceSupplement(
        beyond_m=whole(table, "beyond_m", rule_id),
        amount=amount(table["amount"], rule_id),
        service_types=_service_types(table, rule_id),
        label_zh=zh,
        label_en=en,
    )


def parse_distance_supplement(table: Table, rule_id: str, currency: str) -> Rule:
    """Parse a ``distance_supplement`` rule of a rate card."""
    form = read_supplement(table, rule_id)
    option = Option(form.amount, form.label_zh, form.label_en)
    slot = SupplementSlot(
        rule_id, "distance_supplement", Arithmetic.FLAT, (option,), form, currency
    )
    return Rule(rule_id, "distance_supplement", (slot,), service_types=form.service_types)


def _service_types(table: Table, rule_id: str) -> frozenset[str]:
    value = table.get("service_types", [])
    names = (
        [n for n in value if isinstance(n, str) and n.strip()] if isinstance(value, list) else []
    )
    if "service_types" in table and (not names or names != value or len(set(names)) < len(names)):
        raise InvalidRateCard(
            f"{rule_id}: service_types must be a non-empty list of distinct service types "
            "(leave it out to cover every order)",
            rule=rule_id,
            field="service_types",
        )
    return frozenset(names)


def _km(metres: int) -> str:
    """Format metres as kilometres without trailing zeros: 7250 -> ``"7.25"``, 0 -> ``"0"``."""
    return format(Decimal(metres).scaleb(-3).normalize(), "f")
