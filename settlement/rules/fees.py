# ruff: noqa: RUF001 -- Chinese labels use full-width punctuation on purpose
"""Fee rules: base fee per service type and unit, urgency/review bonuses, material deductions."""

from dataclasses import dataclass

import numpy as np
from typing_extensions import override

from settlement.cardfields import Table, amount, check_keys, labels, table_of
from settlement.columns import ColumnContext, OrderColumns
from settlement.errors import InvalidOrder, InvalidRateCard
from settlement.order import CompletedOrder, OrderContext
from settlement.rules.rule import Rule
from settlement.slots import Arithmetic, Choice, IntArray, Option, RegionNames, Slot


@dataclass(frozen=True)
class BaseFeeSlot(Slot):
    """The fee for the order's service type; an unknown service type is refused."""

    service_types: tuple[str, ...]

    @override
    def choose(self, order: CompletedOrder, context: OrderContext) -> Choice | None:
        if order.service_type not in self.service_types:
            raise _unknown_service_type(order.service_type, order.order_id, self.rule_id)
        return Choice(self.service_types.index(order.service_type))

    @override
    def choose_columns(
        self, columns: OrderColumns, context: ColumnContext
    ) -> tuple[IntArray, IntArray]:
        option = _service_type_options(self.service_types, columns)
        if (option < 0).any():
            first = int(np.argmax(option < 0))
            name = columns.service_types[columns.service_type_codes[first]]
            raise _unknown_service_type(name, str(columns.order_ids[first]), self.rule_id)
        return option, np.ones(len(columns), dtype=np.int64)


@dataclass(frozen=True)
class UnitFeeSlot(Slot):
    """The fee per unit beyond the first, for service types that have one."""

    service_types: tuple[str, ...]
    currency: str

    @override
    def choose(self, order: CompletedOrder, context: OrderContext) -> Choice | None:
        if order.service_type not in self.service_types or order.units < 2:
            return None
        return Choice(self.service_types.index(order.service_type), order.units - 1)

    @override
    def choose_columns(
        self, columns: OrderColumns, context: ColumnContext
    ) -> tuple[IntArray, IntArray]:
        option = _service_type_options(self.service_types, columns)
        extra_units = columns.units - 1
        return np.where(extra_units > 0, option, -1), extra_units

    @override
    def label(self, choice: Choice, names: RegionNames) -> tuple[str, str]:
        option = self.options[choice.option]
        rate = f"{option.rate:.2f} {self.currency}"
        return (
            f"{option.label_zh}：另加 {choice.quantity} 件 × {rate}",
            f"{option.label_en}: {choice.quantity} additional unit(s) at {rate} each",
        )


@dataclass(frozen=True)
class UrgencySlot(Slot):
    """A fixed bonus for urgent orders."""

    @override
    def choose(self, order: CompletedOrder, context: OrderContext) -> Choice | None:
        return Choice(0) if order.is_urgent else None

    @override
    def choose_columns(
        self, columns: OrderColumns, context: ColumnContext
    ) -> tuple[IntArray, IntArray]:
        return np.where(columns.is_urgent, 0, -1), np.ones(len(columns), dtype=np.int64)


@dataclass(frozen=True)
class RatingSlot(Slot):
    """A bonus by customer rating; ``ratings[i]`` is the rating option ``i`` pays for."""

    ratings: tuple[int, ...]

    @override
    def choose(self, order: CompletedOrder, context: OrderContext) -> Choice | None:
        if order.rating not in self.ratings:
            return None
        return Choice(self.ratings.index(order.rating))

    @override
    def choose_columns(
        self, columns: OrderColumns, context: ColumnContext
    ) -> tuple[IntArray, IntArray]:
        lookup = np.full(6, -1, dtype=np.int64)  # ratings 0 (none) .. 5
        for option, rating in enumerate(self.ratings):
            lookup[rating] = option
        return lookup[columns.rating], np.ones(len(columns), dtype=np.int64)


@dataclass(frozen=True)
class MaterialSlot(Slot):
    """A deduction per unit of one material listed on the order."""

    material_code: str
    currency: str

    @override
    def choose(self, order: CompletedOrder, context: OrderContext) -> Choice | None:
        quantity = sum(q for code, q in order.materials if code == self.material_code)
        return Choice(0, quantity) if quantity else None

    @override
    def choose_columns(
        self, columns: OrderColumns, context: ColumnContext
    ) -> tuple[IntArray, IntArray]:
        quantity = columns.material(self.material_code)
        return np.where(quantity > 0, 0, -1), quantity

    @override
    def label(self, choice: Choice, names: RegionNames) -> tuple[str, str]:
        option = self.options[0]
        price = f"{-option.rate:.2f} {self.currency}"
        return (
            f"扣除{option.label_zh} {choice.quantity} × {price}",
            f"deduction: {choice.quantity} x {option.label_en} at {price}",
        )


def parse_base_fee(table: Table, rule_id: str, currency: str) -> Rule:
    """``fees.<service_type> = {fee, unit_fee?, label_zh, label_en}``."""
    check_keys(table, rule_id, required={"kind", "id", "fees"}, optional=set())
    fees = table_of(table["fees"], f"{rule_id}.fees")
    if not fees:
        raise InvalidRateCard(f"{rule_id}: fees must name at least one service type", rule=rule_id)
    base_options, unit_options, unit_types = [], [], []
    for service_type, entry in fees.items():
        where = f"{rule_id}.fees.{service_type}"
        entry = table_of(entry, where)
        check_keys(entry, where, required={"fee", "label_zh", "label_en"}, optional={"unit_fee"})
        zh, en = labels(entry, where)
        fee = amount(entry["fee"], where, "fee")
        base_options.append(Option(fee, f"基础费：{zh}", f"base fee: {en}"))
        if "unit_fee" in entry:
            unit_options.append(Option(amount(entry["unit_fee"], where, "unit_fee"), zh, en))
            unit_types.append(service_type)
    slots: list[Slot] = [
        BaseFeeSlot(rule_id, "base_fee", Arithmetic.PER_UNIT, tuple(base_options), tuple(fees))
    ]
    if unit_options:
        slots.append(
            UnitFeeSlot(
                rule_id,
                "unit_fee",
                Arithmetic.PER_UNIT,
                tuple(unit_options),
                tuple(unit_types),
                currency,
            )
        )
    return Rule(rule_id, "base_fee", tuple(slots), service_types=frozenset(fees))


def parse_urgency_bonus(table: Table, rule_id: str, currency: str) -> Rule:
    """``amount`` paid once for an urgent order."""
    check_keys(table, rule_id, required={"kind", "id", "amount"}, optional=set())
    bonus = amount(table["amount"], rule_id)
    option = Option(
        bonus, f"加急奖励 {bonus:.2f} {currency}", f"urgency bonus {bonus:.2f} {currency}"
    )
    return Rule(
        rule_id,
        "urgency_bonus",
        (UrgencySlot(rule_id, "urgency_bonus", Arithmetic.PER_UNIT, (option,)),),
    )


def parse_review_bonus(table: Table, rule_id: str, currency: str) -> Rule:
    """``by_rating = {"5" = "5.00", "4" = "2.00"}``: a bonus per customer rating."""
    check_keys(table, rule_id, required={"kind", "id", "by_rating"}, optional=set())
    by_rating = table_of(table["by_rating"], f"{rule_id}.by_rating")
    ratings, options = [], []
    for key, value in by_rating.items():
        if key not in {"1", "2", "3", "4", "5"}:
            raise InvalidRateCard(
                f"{rule_id}: ratings are 1..5, not {key!r}", rule=rule_id, field="by_rating"
            )
        bonus = amount(value, rule_id, f"by_rating.{key}")
        ratings.append(int(key))
        options.append(
            Option(
                bonus,
                f"好评奖励（{key} 星）{bonus:.2f} {currency}",
                f"review bonus ({key} stars) {bonus:.2f} {currency}",
            )
        )
    slot = RatingSlot(rule_id, "review_bonus", Arithmetic.PER_UNIT, tuple(options), tuple(ratings))
    return Rule(rule_id, "review_bonus", (slot,))


def parse_material_deduction(table: Table, rule_id: str, currency: str) -> Rule:
    """``materials.<code> = {price, label_zh, label_en}``: deducted per unit used."""
    check_keys(table, rule_id, required={"kind", "id", "materials"}, optional=set())
    slots: list[Slot] = []
    for code, entry in table_of(table["materials"], f"{rule_id}.materials").items():
        where = f"{rule_id}.materials.{code}"
        entry = table_of(entry, where)
        check_keys(entry, where, required={"price", "label_zh", "label_en"}, optional=set())
        zh, en = labels(entry, where)
        option = Option(-amount(entry["price"], where, "price"), zh, en)
        slots.append(
            MaterialSlot(
                rule_id, "material_deduction", Arithmetic.PER_UNIT, (option,), code, currency
            )
        )
    return Rule(rule_id, "material_deduction", tuple(slots))


def _service_type_options(service_types: tuple[str, ...], columns: OrderColumns) -> IntArray:
    lookup = [service_types.index(s) if s in service_types else -1 for s in columns.service_types]
    return np.asarray([*lookup, -1], dtype=np.int64)[columns.service_type_codes]


def _unknown_service_type(service_type: str, order_id: str, rule_id: str) -> InvalidOrder:
    return InvalidOrder(
        f"order {order_id}: service type {service_type!r} has no base fee in rule {rule_id!r}",
        order_id=order_id,
        field="service_type",
        rule=rule_id,
    )
