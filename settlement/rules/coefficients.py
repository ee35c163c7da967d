# ruff: noqa: RUF001 -- Chinese labels use full-width punctuation on purpose
"""Coefficient rules that depend on where and what: region (geofence) and difficulty."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
from typing_extensions import override

from settlement.cardfields import (
    COEFFICIENT_PLACES,
    Table,
    check_keys,
    coefficient,
    fmt_coefficient,
    labels,
    table_of,
    text,
)
from settlement.columns import ColumnContext, OrderColumns
from settlement.errors import InvalidRateCard, OrderOutsideRegions
from settlement.order import CompletedOrder, OrderContext
from settlement.rules.rule import Rule
from settlement.slots import Arithmetic, Choice, IntArray, Option, RegionNames, Slot

_UNPRICED = -2  # inside a region, but neither it nor an ancestor has a coefficient


@dataclass(frozen=True)
class RegionSlot(Slot):
    """The coefficient of the most specific priced region in the job's region chain.

    ``options[i]`` prices ``region_ids[i]``; when ``has_fallback`` the last option is the card's
    declared fallback for jobs outside every priced region. Without it such jobs are refused.
    """

    region_ids: tuple[str, ...]
    has_fallback: bool

    @override
    def choose(self, order: CompletedOrder, context: OrderContext) -> Choice | None:
        for region_id in context.region_ids:
            if region_id in self.region_ids:
                return Choice(self.region_ids.index(region_id))
        if self.has_fallback:
            return Choice(len(self.options) - 1)
        raise self._refusal(order.order_id, context.region_ids[:1])

    @override
    def choose_columns(
        self, columns: OrderColumns, context: ColumnContext
    ) -> tuple[IntArray, IntArray]:
        fallback = len(self.options) - 1 if self.has_fallback else _UNPRICED
        per_region = [self._first_priced(chain, context.region_ids) for chain in context.chains]
        priced = [fallback if p == _UNPRICED else p for p in per_region]
        table = np.asarray([*priced, fallback], dtype=np.int64)  # index -1: outside
        option = table[context.region_index]
        if (option == _UNPRICED).any():
            first = int(np.argmax(option == _UNPRICED))
            position = int(context.region_index[first])
            found = () if position < 0 else (context.region_ids[position],)
            raise self._refusal(str(columns.order_ids[first]), found)
        return option, np.ones(len(columns), dtype=np.int64)

    @override
    def label(self, choice: Choice, names: RegionNames) -> tuple[str, str]:
        rate = fmt_coefficient(self.options[choice.option].rate + 1)
        if self.has_fallback and choice.option == len(self.options) - 1:
            return f"区域系数 {rate}（不在任何计价区域内，兜底）", (
                f"region coefficient {rate} (fallback: outside every priced region)"
            )
        region_id = self.region_ids[choice.option]
        zh, en = names.get(region_id, (region_id, region_id))
        option = self.options[choice.option]
        return f"区域系数 {rate}（{zh}{option.label_zh}）", (
            f"region coefficient {rate} ({en}{option.label_en})"
        )

    def _first_priced(self, chain: tuple[int, ...], region_ids: tuple[str, ...]) -> int:
        for position in chain:
            if region_ids[position] in self.region_ids:
                return self.region_ids.index(region_ids[position])
        return _UNPRICED

    def _refusal(self, order_id: str, found: tuple[str, ...]) -> OrderOutsideRegions:
        where = (
            f"in region {found[0]!r}, which has no coefficient" if found else "outside every region"
        )
        return OrderOutsideRegions(
            f"order {order_id} is {where} and rule {self.rule_id!r} declares no fallback",
            order_id=order_id,
            rule=self.rule_id,
            region_id=found[0] if found else None,
        )


@dataclass(frozen=True)
class KeyedCoefficientSlot(Slot):
    """A difficulty coefficient for one flag, or per service type."""

    flag: str | None
    service_types: tuple[str, ...] = ()

    @override
    def choose(self, order: CompletedOrder, context: OrderContext) -> Choice | None:
        if self.flag is not None:
            return Choice(0) if self.flag in order.flags else None
        if order.service_type in self.service_types:
            return Choice(self.service_types.index(order.service_type))
        return None

    @override
    def choose_columns(
        self, columns: OrderColumns, context: ColumnContext
    ) -> tuple[IntArray, IntArray]:
        ones = np.ones(len(columns), dtype=np.int64)
        if self.flag is not None:
            return np.where(columns.flag(self.flag), 0, -1), ones
        lookup = [
            self.service_types.index(s) if s in self.service_types else -1
            for s in columns.service_types
        ]
        return np.asarray([*lookup, -1], dtype=np.int64)[columns.service_type_codes], ones

    @override
    def label(self, choice: Choice, names: RegionNames) -> tuple[str, str]:
        option = self.options[choice.option]
        rate = fmt_coefficient(option.rate + 1)
        return f"难度系数 ×{rate}（{option.label_zh}）", f"difficulty x{rate} ({option.label_en})"


def parse_region_coefficient(table: Table, rule_id: str, currency: str) -> Rule:
    """Parse region coefficients, given directly and/or derived from weighted indicators.

    ``outside = "refuse"``, or ``"fallback"`` with ``fallback_coefficient``.
    """
    check_keys(
        table,
        rule_id,
        required={"kind", "id", "outside"},
        optional={"coefficients", "indicator_weights", "indicators", "fallback_coefficient"},
    )
    priced: dict[str, Option] = {}
    for region_id, value in table_of(table.get("coefficients", {}), rule_id).items():
        priced[region_id] = Option(
            coefficient(value, rule_id, f"coefficients.{region_id}") - 1, "", ""
        )
    for region_id, derived in _derived_coefficients(table, rule_id).items():
        if region_id in priced:
            raise InvalidRateCard(
                f"{rule_id}: region {region_id!r} has both a coefficient and indicators",
                rule=rule_id,
                field=f"indicators.{region_id}",
            )
        priced[region_id] = Option(derived - 1, "，按指标加权", ", from weighted indicators")
    if not priced:
        raise InvalidRateCard(f"{rule_id}: no region has a coefficient", rule=rule_id)
    outside = text(table, "outside", rule_id)
    options = list(priced.values())
    if outside == "fallback":
        fallback = coefficient(table.get("fallback_coefficient"), rule_id, "fallback_coefficient")
        options.append(Option(fallback - 1, "", ""))
    elif outside != "refuse" or "fallback_coefficient" in table:
        raise InvalidRateCard(
            f'{rule_id}: outside must be "refuse", or "fallback" with fallback_coefficient',
            rule=rule_id,
            field="outside",
        )
    slot = RegionSlot(
        rule_id,
        "region_coefficient",
        Arithmetic.COEFFICIENT,
        tuple(options),
        tuple(priced),
        outside == "fallback",
    )
    return Rule(rule_id, "region_coefficient", (slot,), frozenset(priced))


def parse_difficulty(table: Table, rule_id: str, currency: str) -> Rule:
    """``service_types.<type>`` and ``flags.<flag>``: ``{coefficient, label_zh, label_en}``."""
    check_keys(table, rule_id, required={"kind", "id"}, optional={"service_types", "flags"})
    slots: list[Slot] = []
    service_types = table_of(table.get("service_types", {}), f"{rule_id}.service_types")
    if service_types:
        options = tuple(
            _labelled_coefficient(e, f"{rule_id}.service_types.{k}")
            for k, e in service_types.items()
        )
        slots.append(
            KeyedCoefficientSlot(
                rule_id, "difficulty", Arithmetic.COEFFICIENT, options, None, tuple(service_types)
            )
        )
    for flag, entry in table_of(table.get("flags", {}), f"{rule_id}.flags").items():
        option = _labelled_coefficient(entry, f"{rule_id}.flags.{flag}")
        slots.append(
            KeyedCoefficientSlot(rule_id, "difficulty", Arithmetic.COEFFICIENT, (option,), flag)
        )
    if not slots:
        raise InvalidRateCard(f"{rule_id}: give service_types or flags", rule=rule_id)
    return Rule(rule_id, "difficulty", tuple(slots))


def _labelled_coefficient(entry: object, where: str) -> Option:
    entry = table_of(entry, where)
    check_keys(entry, where, required={"coefficient", "label_zh", "label_en"}, optional=set())
    zh, en = labels(entry, where)
    return Option(coefficient(entry["coefficient"], where) - 1, zh, en)


def _derived_coefficients(table: Table, rule_id: str) -> dict[str, Decimal]:
    """Coefficient = sum of weight x indicator, rounded half-up to four decimals."""
    if "indicators" not in table:
        return {}
    weights = {
        name: coefficient(value, rule_id, f"indicator_weights.{name}")
        for name, value in table_of(
            table.get("indicator_weights"), f"{rule_id}.indicator_weights"
        ).items()
    }
    if sum(weights.values()) != 1:
        raise InvalidRateCard(
            f"{rule_id}: indicator_weights must sum to 1, not {sum(weights.values())}",
            rule=rule_id,
            field="indicator_weights",
        )
    derived = {}
    quantum = Decimal(1).scaleb(-COEFFICIENT_PLACES)
    for region_id, values in table_of(table["indicators"], f"{rule_id}.indicators").items():
        where = f"{rule_id}.indicators.{region_id}"
        values = table_of(values, where)
        check_keys(values, where, required=set(weights), optional=set())
        total = sum(weights[name] * coefficient(values[name], where, name) for name in weights)
        derived[region_id] = Decimal(total).quantize(quantum, rounding=ROUND_HALF_UP)
    return derived
