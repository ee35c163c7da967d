# ruff: noqa: RUF001 -- Chinese labels use full-width punctuation on purpose
"""Tiered rules: surge by the region's demand/supply ratio, volume by the order's rank in a period.

Both tier lists must be contiguous: each tier starts where the previous one ends, and only the
last may be open-ended. Volume tiers are *marginal*: the n-th completed order of the period is
priced at the tier containing n, and reaching a higher tier never re-prices earlier orders (so a
settled order stays settled). The order that crosses a boundary is the first of the new tier.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal, cast

import numpy as np
from typing_extensions import override

from settlement.cardfields import (
    Table,
    check_keys,
    coefficient,
    decimal,
    fmt_coefficient,
    fmt_number,
    list_of,
    table_of,
    text,
    whole,
)
from settlement.columns import RATIO_SCALE, ColumnContext, OrderColumns, ratio_to_scaled
from settlement.errors import InvalidRateCard, TiersNotContiguous
from settlement.order import CompletedOrder, OrderContext
from settlement.rules.rule import Rule
from settlement.slots import Arithmetic, Choice, IntArray, Option, RegionNames, Slot

Period = Literal["day", "week", "month"]
PERIODS: Final = ("day", "week", "month")
_PERIOD_ZH: Final = {"day": "当日", "week": "本周", "month": "本月"}


@dataclass(frozen=True)
class SurgeSlot(Slot):
    """Tier ``i`` covers ratios ``lower[i] <= ratio < lower[i + 1]`` (ten-thousandths)."""

    lower: tuple[int, ...]

    @override
    def choose(self, order: CompletedOrder, context: OrderContext) -> Choice | None:
        if order.demand_supply_ratio is None:
            return None
        scaled = ratio_to_scaled(order.demand_supply_ratio)
        tier = int(np.searchsorted(self.lower, scaled, side="right")) - 1
        return Choice(tier, scaled) if tier >= 0 else None

    @override
    def choose_columns(
        self, columns: OrderColumns, context: ColumnContext
    ) -> tuple[IntArray, IntArray]:
        scaled = columns.ratio_scaled
        tier = np.searchsorted(np.asarray(self.lower), scaled, side="right") - 1
        return np.where(scaled < 0, -1, tier).astype(np.int64), scaled

    @override
    def label(self, choice: Choice, names: RegionNames) -> tuple[str, str]:
        percent = fmt_number(self.options[choice.option].rate * 100)
        ratio = fmt_coefficient(Decimal(choice.quantity) / RATIO_SCALE)
        return (
            f"高峰加价 +{percent}%（供需比 {ratio}）",
            f"surge +{percent}% (demand/supply {ratio})",
        )


@dataclass(frozen=True)
class VolumeSlot(Slot):
    """Tier ``i`` prices the n-th order of the period for ``first[i] <= n < first[i + 1]``."""

    first: tuple[int, ...]
    last: tuple[int | None, ...]
    period: Period

    @override
    def choose(self, order: CompletedOrder, context: OrderContext) -> Choice | None:
        n = context.nth_in_period
        return Choice(int(np.searchsorted(self.first, n, side="right")) - 1, n)

    @override
    def choose_columns(
        self, columns: OrderColumns, context: ColumnContext
    ) -> tuple[IntArray, IntArray]:
        n = context.nth_in_period
        tier = np.searchsorted(np.asarray(self.first), n, side="right") - 1
        return tier.astype(np.int64), n

    @override
    def label(self, choice: Choice, names: RegionNames) -> tuple[str, str]:
        first, last = self.first[choice.option], self.last[choice.option]
        span = f"{first}-{last}" if last is not None else f"{first}+"
        rate = fmt_coefficient(self.options[choice.option].rate + 1)
        return (
            f"{_PERIOD_ZH[self.period]}第 {choice.quantity} 单，阶梯 {span} 单 ×{rate}",
            f"order #{choice.quantity} of the {self.period}: volume tier {span} x{rate}",
        )


def parse_surge(table: Table, rule_id: str, currency: str) -> Rule:
    """Parse ``tiers = [{from, until?, percent}, ...]`` on the demand/supply ratio."""
    check_keys(table, rule_id, required={"kind", "id", "tiers"}, optional=set())
    lower, upper, options = [], [], []
    for i, entry in enumerate(list_of(table["tiers"], f"{rule_id}.tiers")):
        where = f"{rule_id}.tiers[{i}]"
        entry = table_of(entry, where)
        check_keys(entry, where, required={"from", "percent"}, optional={"until"})
        low = decimal(entry["from"], where, "from", places=4, minimum=Decimal(0))
        high = entry.get("until")
        lower.append(int(low * RATIO_SCALE))
        upper.append(
            None
            if high is None
            else int(decimal(high, where, "until", places=4, minimum=Decimal(0)) * RATIO_SCALE)
        )
        percent = decimal(entry["percent"], where, "percent", places=2, minimum=Decimal(0))
        options.append(Option(percent / 100, "", ""))
    _check_contiguous(lower, upper, rule_id, step=0)
    slot = SurgeSlot(rule_id, "surge", Arithmetic.COEFFICIENT, tuple(options), tuple(lower))
    return Rule(rule_id, "surge", (slot,))


def parse_volume(table: Table, rule_id: str, currency: str) -> Rule:
    """Parse ``period`` and ``tiers = [{first_order, last_order?, coefficient}, ...]``."""
    check_keys(table, rule_id, required={"kind", "id", "period", "tiers"}, optional=set())
    period = cast("Period", text(table, "period", rule_id))
    if period not in PERIODS:
        raise InvalidRateCard(
            f"{rule_id}: period must be one of {PERIODS}, not {period!r}",
            rule=rule_id,
            field="period",
        )
    first, last, options = [], [], []
    for i, entry in enumerate(list_of(table["tiers"], f"{rule_id}.tiers")):
        where = f"{rule_id}.tiers[{i}]"
        entry = table_of(entry, where)
        check_keys(entry, where, required={"first_order", "coefficient"}, optional={"last_order"})
        first.append(whole(entry, "first_order", where, minimum=1))
        last.append(whole(entry, "last_order", where, minimum=1) if "last_order" in entry else None)
        options.append(Option(coefficient(entry["coefficient"], where) - 1, "", ""))
    if first and first[0] != 1:
        raise TiersNotContiguous(
            f"{rule_id}: the first tier must start at order 1, not {first[0]}", rule=rule_id, tier=0
        )
    _check_contiguous(first, last, rule_id, step=1)
    slot = VolumeSlot(
        rule_id,
        "volume_tier",
        Arithmetic.COEFFICIENT,
        tuple(options),
        tuple(first),
        tuple(last),
        period,
    )
    return Rule(rule_id, "volume_tier", (slot,))


def _check_contiguous(
    lower: list[int], upper: list[int | None], rule_id: str, *, step: int
) -> None:
    """Check each tier starts ``step`` after the previous upper bound; only the last is open."""
    if not lower:
        raise InvalidRateCard(f"{rule_id}: at least one tier is required", rule=rule_id)
    for i, (low, high) in enumerate(zip(lower, upper, strict=True)):
        if high is not None and high < low + (1 - step):
            raise TiersNotContiguous(
                f"{rule_id}: tier {i} ends before it starts", rule=rule_id, tier=i
            )
        if i + 1 == len(lower):
            break
        if high is None:
            raise TiersNotContiguous(
                f"{rule_id}: only the last tier may be open-ended (tier {i} is)",
                rule=rule_id,
                tier=i,
            )
        following = lower[i + 1]
        if following != high + step:
            problem = "overlaps" if following < high + step else "leaves a gap after"
            raise TiersNotContiguous(
                f"{rule_id}: tier {i + 1} {problem} tier {i}", rule=rule_id, tier=i + 1
            )
