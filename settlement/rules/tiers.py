# ruff: noqa: RUF001 -- Chinese labels use full-width punctuation on purpose
"""Tiered rules: surge by the region's demand/supply ratio, volume by the order's rank in a period.

Both tier lists must be contiguous: each tier starts where the previous one ends, and only the
last may be open-ended. Volume tiers are *marginal*: the n-th completed order of the period is
priced at the tier containing n, and reaching a higher tier never re-prices earlier orders (so a
settled order stays settled). The order that crosses a boundary is the first of the new tier.

Past a closed last tier (volume 1-50, 51-100 and order 101; a surge ratio at or above the last
``until``) there is no tier. New cards must end both lists with an open tier
(:func:`open_end_problem`, checked at upload by ``settlement.check_open_ended_tiers``); a stored
card that does not still settles: the order carries on at the last tier's rate, and its label
says so ("volume tier 101+ (beyond the last tier, paid as 51-100)"), the same amount as before.
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
    """Tier ``i`` covers ratios ``lower[i] <= ratio < lower[i + 1]`` (ten-thousandths).

    ``upper`` are the tiers' own ``until`` (None: open); a ratio at or above a closed last tier's
    ``until`` is carried on at that tier's percent and labelled so.
    """

    lower: tuple[int, ...]
    upper: tuple[int | None, ...]

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
        until = self.upper[choice.option]
        if until is None or choice.quantity < until:
            return (
                f"高峰加价 +{percent}%（供需比 {ratio}）",
                f"surge +{percent}% (demand/supply {ratio})",
            )
        span = f"{_ratio(self.lower[choice.option])}-{_ratio(until)}"
        return (
            f"高峰加价 +{percent}%（供需比 {ratio}，超出最后一档，按 {span} 计）",
            f"surge +{percent}% (demand/supply {ratio}, beyond the last tier, paid as {span})",
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
        rate = fmt_coefficient(self.options[choice.option].rate + 1)
        head_zh = f"{_PERIOD_ZH[self.period]}第 {choice.quantity} 单，阶梯"
        head_en = f"order #{choice.quantity} of the {self.period}: volume tier"
        if last is None:
            return f"{head_zh} {first}+ 单 ×{rate}", f"{head_en} {first}+ x{rate}"
        if choice.quantity <= last:
            return f"{head_zh} {first}-{last} 单 ×{rate}", f"{head_en} {first}-{last} x{rate}"
        return (  # past a closed last tier (a stored card): carried on, and said so
            f"{head_zh} {last + 1}+ 单（超出最后一档，按 {first}-{last} 单计）×{rate}",
            f"{head_en} {last + 1}+ (beyond the last tier, paid as {first}-{last}) x{rate}",
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
    slot = SurgeSlot(
        rule_id, "surge", Arithmetic.COEFFICIENT, tuple(options), tuple(lower), tuple(upper)
    )
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


def open_end_problem(slot: Slot) -> TiersNotContiguous | None:
    """Return the error for a tier list whose last tier is closed, or None when it is open.

    Parsing accepts a closed last tier so that stored cards keep settling; uploads refuse it.
    """
    if isinstance(slot, VolumeSlot) and slot.last[-1] is not None:
        tier, first, last = len(slot.last) - 1, slot.first[-1], slot.last[-1]
        span, past, field = f"orders {first}-{last}", f"order {last + 1}", "last_order"
        fix = f"leave out its last_order, or add an open-ended tier from order {last + 1}"
    elif isinstance(slot, SurgeSlot) and slot.upper[-1] is not None:
        tier, first, last = len(slot.upper) - 1, slot.lower[-1], slot.upper[-1]
        span, past, field = (
            f"ratios {_ratio(first)}-{_ratio(last)}",
            f"a ratio of {_ratio(last)} or more",
            "until",
        )
        fix = "leave out its until"
    else:
        return None
    return TiersNotContiguous(
        f"{slot.rule_id}: the last tier (tier {tier}, {span}) is closed, so no tier covers "
        f"{past}; make the last tier open-ended: {fix}",
        rule=slot.rule_id,
        tier=tier,
        field=f"tiers[{tier}].{field}",
    )


def _ratio(scaled: int) -> str:
    return fmt_coefficient(Decimal(scaled) / RATIO_SCALE)


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
