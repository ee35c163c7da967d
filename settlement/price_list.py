"""Customer price lists: what a customer pays for a job, versioned like a rate card.

A price list is parsed from a plain table (what ``tomllib``/``json`` return); the format is
documented in ``docs/customer-bill.md``. Its sections are fixed, and so is the order in which
a bill applies them (:func:`settlement.bill.price_bill`): labour, travel, distance supplements,
urgency and after-hours surcharges, the value-tier discount, then parts and materials.
Numbers follow the rate card's rules: quoted decimals, whole fen, nothing negative.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import pairwise
from typing import Final
from zoneinfo import ZoneInfoNotFoundError

from settlement.cardfields import (
    Table,
    amount,
    calendar_date,
    check_keys,
    decimal,
    labels,
    list_of,
    table_of,
    text,
    whole,
)
from settlement.errors import InvalidMoney, InvalidRateCard, SettlementError
from settlement.localtime import zone
from settlement.money import check_currency
from settlement.ratecard import content_hash
from settlement.rules.supplement import DistanceSupplement, read_supplement

#: The customer value tiers a discount may name.
TIERS: Final = ("A", "B", "C")
#: The ticket priorities above ``normal``, which an urgency surcharge may name.
URGENT_PRIORITIES: Final = ("urgent", "emergency")
_DAY_S: Final = 86_400
_CLOCK: Final = re.compile(r"([01]\d|2[0-4]):([0-5]\d)")
_HUNDRED: Final = Decimal(100)


class InvalidPriceList(SettlementError):
    """A price list is malformed; ``details`` name the entry (``rule``) and the ``field``."""

    code = "invalid_price_list"


@dataclass(frozen=True, slots=True)
class Labour:
    """The price of a ticket type's work.

    ``unit_price`` is paid per unit, or only for the first unit when ``extra_unit_price`` is
    given: then every further unit costs that.
    """

    unit_price: Decimal
    extra_unit_price: Decimal | None
    label_zh: str
    label_en: str


@dataclass(frozen=True, slots=True)
class TravelBand:
    """A trip longer than ``from_m`` and at most ``until_m`` metres costs ``price``.

    The first band starts at 0 and also covers a trip of 0 m; ``until_m`` None: open-ended.
    """

    from_m: int
    until_m: int | None
    price: Decimal

    def covers(self, travel_m: int) -> bool:
        """Whether a trip of ``travel_m`` metres falls in this band."""
        above = travel_m > self.from_m or travel_m == self.from_m == 0
        return above and (self.until_m is None or travel_m <= self.until_m)


@dataclass(frozen=True, slots=True)
class Charge:
    """A surcharge or discount: ``percent`` of the services so far, or a flat ``amount``."""

    percent: Decimal | None
    amount: Decimal | None
    label_zh: str
    label_en: str


@dataclass(frozen=True, slots=True)
class AfterHours:
    """A surcharge for a service starting in the local window ``[start_s, end_s)``.

    A window whose end is before its start runs past midnight (``20:00``-``08:00``).
    """

    start_s: int
    end_s: int
    charge: Charge

    def covers(self, second_of_day: int) -> bool:
        """Whether a service starting at this local second of the day is in the window."""
        if self.start_s < self.end_s:
            return self.start_s <= second_of_day < self.end_s
        return second_of_day >= self.start_s or second_of_day < self.end_s


@dataclass(frozen=True, slots=True)
class Part:
    """A part or material sold at ``unit_price`` each."""

    unit_price: Decimal
    label_zh: str
    label_en: str


@dataclass(frozen=True, eq=False)
class PriceList:
    """A parsed, validated customer price list."""

    id: str
    version: int
    currency: str
    effective_from: date
    effective_until: date | None
    time_zone: str
    labour: Mapping[str, Labour]
    travel: tuple[TravelBand, ...]
    supplements: tuple[tuple[str, DistanceSupplement], ...]
    urgency: Mapping[str, Charge]
    after_hours: tuple[AfterHours, ...]
    discounts: Mapping[str, Charge]
    parts: Mapping[str, Part]
    content_hash: str

    @property
    def version_label(self) -> str:
        """``"<id>@v<version>"``: what every bill records as its price-list version."""
        return f"{self.id}@v{self.version}"

    def is_in_force(self, local_date: date) -> bool:
        """Whether the list prices a service on ``local_date`` (the list's time zone)."""
        return self.effective_from <= local_date and (
            self.effective_until is None or local_date < self.effective_until
        )


def parse_price_list(table: Mapping[str, object]) -> PriceList:
    """Parse and validate a price list from its plain-table form.

    Raises
    ------
    InvalidPriceList
        Naming the entry and the field: a missing or unknown field, a float or negative price,
        an unknown currency or time zone, travel bands that overlap, leave a gap or end closed,
        overlapping after-hours windows, a discount above 100 % or for an unknown tier.
    """
    try:
        return _parse(table)
    except (InvalidRateCard, InvalidMoney) as err:
        raise InvalidPriceList(str(err), **err.details) from err


def _parse(table: Mapping[str, object]) -> PriceList:
    check_keys(
        table,
        "price_list",
        required={"id", "version", "currency", "effective_from", "labour", "travel"},
        optional={
            "name", "effective_until", "time_zone", "supplements", "urgency", "after_hours",
            "discounts", "parts",
        },
    )  # fmt: skip
    currency = _currency(table)
    effective_from = calendar_date(table["effective_from"], "price_list", "effective_from")
    effective_until = None
    if "effective_until" in table:
        effective_until = calendar_date(table["effective_until"], "price_list", "effective_until")
        if effective_until <= effective_from:
            raise InvalidPriceList(
                "price_list: effective_until must be after effective_from",
                rule="price_list",
                field="effective_until",
            )
    labour = _labour(table["labour"])
    return PriceList(
        id=text(table, "id", "price_list"),
        version=whole(table, "version", "price_list", minimum=1),
        currency=currency,
        effective_from=effective_from,
        effective_until=effective_until,
        time_zone=_time_zone(table),
        labour=labour,
        travel=_travel(table["travel"]),
        supplements=_supplements(table.get("supplements", []), set(labour)),
        urgency=_urgency(table.get("urgency", {})),
        after_hours=_after_hours(table.get("after_hours", [])),
        discounts=_discounts(table.get("discounts", {})),
        parts=_parts(table.get("parts", {})),
        content_hash=content_hash(table),
    )


def _labour(value: object) -> dict[str, Labour]:
    entries = table_of(value, "labour")
    if not entries:
        raise InvalidPriceList("labour must price at least one ticket type", field="labour")
    labour = {}
    for ticket_type, entry in entries.items():
        where = f"labour.{ticket_type}"
        entry = table_of(entry, where)
        check_keys(
            entry,
            where,
            required={"unit_price", "label_zh", "label_en"},
            optional={"extra_unit_price"},
        )
        extra = entry.get("extra_unit_price")
        labour[ticket_type] = Labour(
            unit_price=amount(entry["unit_price"], where, "unit_price"),
            extra_unit_price=None if extra is None else amount(extra, where, "extra_unit_price"),
            label_zh=labels(entry, where)[0],
            label_en=labels(entry, where)[1],
        )
    return labour


def _travel(value: object) -> tuple[TravelBand, ...]:
    """Read ``travel.bands``: from 0 m, each starting where the previous ends, the last open."""
    travel = table_of(value, "travel")
    check_keys(travel, "travel", required={"bands"}, optional=set())
    bands = []
    for i, entry in enumerate(list_of(travel["bands"], "travel.bands")):
        where = f"travel.bands[{i}]"
        entry = table_of(entry, where)
        check_keys(entry, where, required={"from_m", "price"}, optional={"until_m"})
        from_m = whole(entry, "from_m", where)
        until_m = whole(entry, "until_m", where, minimum=from_m + 1) if "until_m" in entry else None
        bands.append(TravelBand(from_m, until_m, amount(entry["price"], where, "price")))
    if not bands or bands[0].from_m != 0:
        raise InvalidPriceList(
            "travel.bands: the first band must start at from_m = 0", field="travel.bands[0].from_m"
        )
    for i, (before, after) in enumerate(pairwise(bands), start=1):
        if before.until_m is None:
            problem = f"band {i - 1} is open-ended, so this band overlaps it"
        elif after.from_m != before.until_m:
            gap_or_overlap = "overlaps it" if after.from_m < before.until_m else "leaves a gap"
            problem = f"band {i - 1} ends at {before.until_m} m: this {gap_or_overlap}"
        else:
            continue
        raise InvalidPriceList(
            f"travel.bands[{i}]: starts at {after.from_m} m but {problem}; each band starts "
            "where the previous one ends",
            field=f"travel.bands[{i}].from_m",
        )
    if (last := bands[-1]).until_m is not None:
        raise InvalidPriceList(
            f"travel.bands[{len(bands) - 1}]: the last band ends at {last.until_m} m, so a longer "
            "trip has no price; leave out its until_m, or add an open-ended band from there",
            field=f"travel.bands[{len(bands) - 1}].until_m",
        )
    return tuple(bands)


def _supplements(
    value: object, ticket_types: set[str]
) -> tuple[tuple[str, DistanceSupplement], ...]:
    supplements = []
    for i, entry in enumerate(list_of(value, "supplements")):
        entry = table_of(entry, f"supplements[{i}]")
        rule_id = text(entry, "id", f"supplements[{i}]")
        if entry.get("kind") != "distance_supplement":
            raise InvalidPriceList(
                f'{rule_id}: kind must be "distance_supplement"', rule=rule_id, field="kind"
            )
        form = read_supplement(entry, rule_id)
        if unknown := sorted(form.service_types - ticket_types):
            raise InvalidPriceList(
                f"{rule_id}: ticket type {unknown[0]!r} has no labour price",
                rule=rule_id,
                field="service_types",
            )
        supplements.append((rule_id, form))
    ids = [rule_id for rule_id, _ in supplements]
    if duplicate := next((i for i in ids if ids.count(i) > 1), None):
        raise InvalidPriceList(f"supplement id {duplicate!r} is used twice", field="supplements")
    return tuple(supplements)


def _charge(entry: Table, where: str, max_percent: Decimal | None) -> Charge:
    check_keys(entry, where, required={"label_zh", "label_en"}, optional={"percent", "amount"})
    if ("percent" in entry) == ("amount" in entry):
        raise InvalidPriceList(
            f"{where}: give exactly one of percent or amount", rule=where, field="percent"
        )
    percent = None
    if "percent" in entry:
        percent = decimal(entry["percent"], where, "percent", places=2, minimum=Decimal(0))
        if max_percent is not None and percent > max_percent:
            raise InvalidPriceList(
                f"{where}: percent must be at most {max_percent}: {entry['percent']!r}",
                rule=where,
                field="percent",
            )
    flat = amount(entry["amount"], where) if "amount" in entry else None
    zh, en = labels(entry, where)
    return Charge(percent, flat, zh, en)


def _charges(value: object, section: str, max_percent: Decimal | None) -> dict[str, Charge]:
    entries = table_of(value, section)
    return {
        key: _charge(table_of(entry, f"{section}.{key}"), f"{section}.{key}", max_percent)
        for key, entry in entries.items()
    }


def _urgency(value: object) -> dict[str, Charge]:
    urgency = _charges(value, "urgency", max_percent=None)
    if unknown := sorted(set(urgency) - set(URGENT_PRIORITIES)):
        raise InvalidPriceList(
            f"urgency.{unknown[0]}: not an urgent priority; use {', '.join(URGENT_PRIORITIES)}",
            rule=f"urgency.{unknown[0]}",
            field="urgency",
        )
    return urgency


def _discounts(value: object) -> dict[str, Charge]:
    discounts = _charges(value, "discounts", max_percent=_HUNDRED)
    if unknown := sorted(set(discounts) - set(TIERS)):
        raise InvalidPriceList(
            f"discounts.{unknown[0]}: unknown customer tier; tiers are {', '.join(TIERS)}",
            rule=f"discounts.{unknown[0]}",
            field="discounts",
        )
    if flat := sorted(tier for tier, charge in discounts.items() if charge.percent is None):
        raise InvalidPriceList(
            f"discounts.{flat[0]}: a discount is a percent of the services, not an amount",
            rule=f"discounts.{flat[0]}",
            field="amount",
        )
    return discounts


def _after_hours(value: object) -> tuple[AfterHours, ...]:
    windows = []
    for i, entry in enumerate(list_of(value, "after_hours")):
        where = f"after_hours[{i}]"
        entry = dict(table_of(entry, where))
        start = _second(entry.pop("from", None), where, "from")
        end = _second(entry.pop("until", None), where, "until")
        if start == end:
            raise InvalidPriceList(f"{where}: the window is empty", rule=where, field="until")
        windows.append(AfterHours(start, end, _charge(entry, where, max_percent=None)))
    pieces = sorted(
        piece
        for i, w in enumerate(windows)
        for piece in (
            [(w.start_s, w.end_s, i)]
            if w.start_s < w.end_s
            else [(w.start_s, _DAY_S, i), (0, w.end_s, i)]
        )
    )
    for (_, end, i), (start, _, j) in pairwise(pieces):
        if start < end:
            raise InvalidPriceList(
                f"after_hours[{max(i, j)}]: overlaps after_hours[{min(i, j)}]",
                rule=f"after_hours[{max(i, j)}]",
                field="from",
            )
    return tuple(windows)


def _second(clock: object, where: str, field: str) -> int:
    """Parse ``"HH:MM"`` (``"24:00"`` allowed) into a second of the day."""
    match = _CLOCK.fullmatch(clock) if isinstance(clock, str) else None
    seconds = int(match[1]) * 3600 + int(match[2]) * 60 if match else -1
    if not 0 <= seconds <= _DAY_S:
        raise InvalidPriceList(
            f"{where}: {field} must be a local time HH:MM, not {clock!r}", rule=where, field=field
        )
    return seconds % _DAY_S


def _parts(value: object) -> dict[str, Part]:
    parts = {}
    for code, entry in table_of(value, "parts").items():
        where = f"parts.{code}"
        entry = table_of(entry, where)
        check_keys(entry, where, required={"unit_price", "label_zh", "label_en"}, optional=set())
        zh, en = labels(entry, where)
        parts[code] = Part(amount(entry["unit_price"], where, "unit_price"), zh, en)
    return parts


def _currency(table: Mapping[str, object]) -> str:
    try:
        return check_currency(text(table, "currency", "price_list"))
    except InvalidMoney as err:
        raise InvalidPriceList(f"price_list: {err}", field="currency") from err


def _time_zone(table: Mapping[str, object]) -> str:
    name = text(table, "time_zone", "price_list", default="Asia/Shanghai")
    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise InvalidPriceList(
            f"price_list: unknown time zone {name!r}", field="time_zone"
        ) from err
    return name
