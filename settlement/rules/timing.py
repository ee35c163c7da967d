# ruff: noqa: RUF001 -- Chinese labels use full-width punctuation on purpose
"""Rules that depend on the local service time: time of day, weekend/holiday, seasonal periods.

Local time is the service time in the job region's IANA zone (the card's zone outside every
region). Windows are half-open, ``[from, until)``: 06:00:00 is inside 06:00-08:00, 08:00:00 is
not; a window whose ``until`` is earlier than its ``from`` runs past midnight.
"""

import re
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise

import numpy as np
from typing_extensions import override

from settlement.cardfields import (
    Table,
    amount,
    calendar_date,
    check_keys,
    coefficient,
    fmt_coefficient,
    labels,
    list_of,
    table_of,
    text,
)
from settlement.columns import ColumnContext, OrderColumns
from settlement.errors import InvalidRateCard, TiersNotContiguous
from settlement.order import CompletedOrder, OrderContext
from settlement.rules.rule import Rule
from settlement.slots import Arithmetic, Choice, IntArray, Option, RegionNames, Slot

_EPOCH = date(1970, 1, 1)
_DAY_S = 86_400
_CLOCK = re.compile(r"([01]\d|2[0-4]):([0-5]\d)(?::([0-5]\d))?")


def day_number(day: date) -> int:
    """Return ``day`` as days since 1970-01-01 (the columnar date)."""
    return (day - _EPOCH).days


@dataclass(frozen=True)
class TimeOfDaySlot(Slot):
    """A coefficient for the window ``[start_s[i], end_s[i])`` of local seconds of the day."""

    start_s: tuple[int, ...]
    end_s: tuple[int, ...]

    @override
    def choose(self, order: CompletedOrder, context: OrderContext) -> Choice | None:
        local = context.local_at
        second = local.hour * 3600 + local.minute * 60 + local.second
        for option, (start, end) in enumerate(zip(self.start_s, self.end_s, strict=True)):
            if (start <= second < end) if start < end else (second >= start or second < end):
                return Choice(option)
        return None

    @override
    def choose_columns(
        self, columns: OrderColumns, context: ColumnContext
    ) -> tuple[IntArray, IntArray]:
        second = context.local_second
        option = np.full(len(columns), -1, dtype=np.int64)
        for i, (start, end) in enumerate(zip(self.start_s, self.end_s, strict=True)):
            inside = (
                (second >= start) & (second < end)
                if start < end
                else (second >= start) | (second < end)
            )
            option[inside] = i
        return option, np.ones(len(columns), dtype=np.int64)

    @override
    def label(self, choice: Choice, names: RegionNames) -> tuple[str, str]:
        option = self.options[choice.option]
        span = f"{_clock(self.start_s[choice.option])}-{_clock(self.end_s[choice.option])}"
        rate = fmt_coefficient(option.rate + 1)
        return f"{option.label_zh} {span} ×{rate}", f"{option.label_en} {span} x{rate}"


@dataclass(frozen=True)
class CalendarSlot(Slot):
    """Holiday coefficient (option 0) on listed dates, else weekend coefficient (option 1).

    A weekend is a Saturday or Sunday that is not a listed make-up working day (调休).
    """

    holidays: frozenset[int]
    working_days: frozenset[int]

    @override
    def choose(self, order: CompletedOrder, context: OrderContext) -> Choice | None:
        local_date = context.local_at.date()
        day = day_number(local_date)
        if day in self.holidays:
            return Choice(0, day)
        if local_date.weekday() >= 5 and day not in self.working_days:
            return Choice(1, day)
        return None

    @override
    def choose_columns(
        self, columns: OrderColumns, context: ColumnContext
    ) -> tuple[IntArray, IntArray]:
        day = context.local_day
        is_weekend = ((day + 3) % 7 >= 5) & ~np.isin(day, list(self.working_days))
        option = np.where(is_weekend, 1, -1)
        option[np.isin(day, list(self.holidays))] = 0
        return option, day

    @override
    def label(self, choice: Choice, names: RegionNames) -> tuple[str, str]:
        option = self.options[choice.option]
        when = (_EPOCH + timedelta(days=choice.quantity)).isoformat()
        rate = fmt_coefficient(option.rate + 1)
        return f"{option.label_zh} ×{rate}（{when}）", f"{option.label_en} x{rate} ({when})"


@dataclass(frozen=True)
class SeasonalSlot(Slot):
    """A coefficient or subsidy for local dates ``first_day..last_day`` (inclusive).

    It applies in the listed regions and their sub-regions; everywhere when ``regions`` is empty.
    """

    regions: frozenset[str]
    first_day: int
    last_day: int
    currency: str

    @override
    def choose(self, order: CompletedOrder, context: OrderContext) -> Choice | None:
        day = day_number(context.local_at.date())
        in_regions = not self.regions or bool(self.regions & set(context.region_ids))
        return Choice(0) if in_regions and self.first_day <= day <= self.last_day else None

    @override
    def choose_columns(
        self, columns: OrderColumns, context: ColumnContext
    ) -> tuple[IntArray, IntArray]:
        applies = (context.local_day >= self.first_day) & (context.local_day <= self.last_day)
        if self.regions:
            applies &= context.in_any(self.regions, context.region_index)
        return np.where(applies, 0, -1), np.ones(len(columns), dtype=np.int64)

    @override
    def label(self, choice: Choice, names: RegionNames) -> tuple[str, str]:
        option = self.options[0]
        if self.arithmetic is Arithmetic.COEFFICIENT:
            rate = fmt_coefficient(option.rate + 1)
            return f"{option.label_zh} ×{rate}", f"{option.label_en} x{rate}"
        subsidy = f"{option.rate:.2f} {self.currency}"
        return f"{option.label_zh} +{subsidy}", f"{option.label_en} +{subsidy}"


def parse_time_of_day(table: Table, rule_id: str, currency: str) -> Rule:
    """Parse ``windows = [{from, until, coefficient, label_zh, label_en}, ...]``."""
    check_keys(table, rule_id, required={"kind", "id", "windows"}, optional=set())
    starts, ends, options = [], [], []
    for i, entry in enumerate(list_of(table["windows"], f"{rule_id}.windows")):
        where = f"{rule_id}.windows[{i}]"
        entry = table_of(entry, where)
        check_keys(
            entry,
            where,
            required={"from", "until", "coefficient", "label_zh", "label_en"},
            optional=set(),
        )
        starts.append(_seconds(text(entry, "from", where), where, "from"))
        ends.append(_seconds(text(entry, "until", where), where, "until"))
        zh, en = labels(entry, where)
        options.append(Option(coefficient(entry["coefficient"], where) - 1, zh, en))
    _check_disjoint(starts, ends, rule_id)
    slot = TimeOfDaySlot(
        rule_id, "time_of_day", Arithmetic.COEFFICIENT, tuple(options), tuple(starts), tuple(ends)
    )
    return Rule(rule_id, "time_of_day", (slot,))


def parse_calendar(table: Table, rule_id: str, currency: str) -> Rule:
    """Parse weekend and holiday coefficients, the holiday list and make-up working days."""
    check_keys(
        table,
        rule_id,
        required={"kind", "id", "weekend_coefficient", "holiday_coefficient"},
        optional={"holidays", "working_days"},
    )
    holidays = _days(table.get("holidays", []), rule_id, "holidays")
    working_days = _days(table.get("working_days", []), rule_id, "working_days")
    if clash := sorted(holidays & working_days):
        when = (_EPOCH + timedelta(days=clash[0])).isoformat()
        raise InvalidRateCard(
            f"{rule_id}: {when} is both a holiday and a working day", rule=rule_id, field="holidays"
        )
    options = (
        Option(coefficient(table["holiday_coefficient"], rule_id) - 1, "节假日", "public holiday"),
        Option(coefficient(table["weekend_coefficient"], rule_id) - 1, "周末", "weekend"),
    )
    slot = CalendarSlot(
        rule_id, "calendar", Arithmetic.COEFFICIENT, options, holidays, working_days
    )
    return Rule(rule_id, "calendar", (slot,))


def parse_seasonal(table: Table, rule_id: str, currency: str) -> Rule:
    """Parse ``periods = [{from, until, regions?, coefficient | subsidy, label_zh, label_en}]``."""
    check_keys(table, rule_id, required={"kind", "id", "periods"}, optional=set())
    slots: list[Slot] = []
    region_ids: set[str] = set()
    for i, entry in enumerate(list_of(table["periods"], f"{rule_id}.periods")):
        where = f"{rule_id}.periods[{i}]"
        entry = table_of(entry, where)
        check_keys(
            entry,
            where,
            required={"from", "until", "label_zh", "label_en"},
            optional={"regions", "coefficient", "subsidy"},
        )
        first = day_number(calendar_date(entry["from"], where, "from"))
        last = day_number(calendar_date(entry["until"], where, "until"))
        if last < first:
            raise InvalidRateCard(f"{where}: until is before from", rule=rule_id, field="until")
        regions = frozenset(str(r) for r in list_of(entry.get("regions", []), where))
        region_ids |= regions
        zh, en = labels(entry, where)
        if ("coefficient" in entry) == ("subsidy" in entry):
            raise InvalidRateCard(
                f"{where}: give exactly one of coefficient or subsidy",
                rule=rule_id,
                field="subsidy",
            )
        if "coefficient" in entry:
            arithmetic, rate = Arithmetic.COEFFICIENT, coefficient(entry["coefficient"], where) - 1
        else:
            arithmetic, rate = Arithmetic.PER_UNIT, amount(entry["subsidy"], where, "subsidy")
        option = Option(rate, zh, en)
        slots.append(
            SeasonalSlot(rule_id, "seasonal", arithmetic, (option,), regions, first, last, currency)
        )
    return Rule(rule_id, "seasonal", tuple(slots), frozenset(region_ids))


def _seconds(clock: str, where: str, field: str) -> int:
    """Parse ``HH:MM`` or ``HH:MM:SS`` (``24:00`` allowed) into a second of the day."""
    match = _CLOCK.fullmatch(clock)
    total = -1
    if match:
        hours, minutes, seconds = (int(g or 0) for g in match.groups())
        total = hours * 3600 + minutes * 60 + seconds
    if not 0 <= total <= _DAY_S:
        raise InvalidRateCard(
            f"{where}: {field} must be HH:MM or HH:MM:SS, not {clock!r}", rule=where, field=field
        )
    return total % _DAY_S


def _check_disjoint(starts: list[int], ends: list[int], rule_id: str) -> None:
    """Refuse empty or overlapping windows (gaps are fine: those hours have no coefficient)."""
    pieces = []
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        if start == end:
            raise TiersNotContiguous(f"{rule_id}: window {i} is empty", rule=rule_id, window=i)
        pieces += [(start, end, i)] if start < end else [(start, _DAY_S, i), (0, end, i)]
    pieces.sort()
    for (_, end, i), (start, _, j) in pairwise(pieces):
        if start < end:
            raise TiersNotContiguous(
                f"{rule_id}: windows {i} and {j} overlap", rule=rule_id, windows=[i, j]
            )


def _days(values: object, rule_id: str, field: str) -> frozenset[int]:
    return frozenset(
        day_number(calendar_date(v, rule_id, field)) for v in list_of(values, f"{rule_id}.{field}")
    )


def _clock(second: int) -> str:
    hours, rest = divmod(second, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")
