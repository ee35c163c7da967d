"""Rate cards: a versioned, validated list of rules applied in the order the card gives.

A card is parsed from a plain table (what ``tomllib``/``json`` return); the file format is
documented in ``docs/rate-card.md``. Once a version has priced an order it is immutable: callers
keep the content hash of every used version and :func:`check_unchanged` refuses edits.
"""

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Final
from zoneinfo import ZoneInfoNotFoundError

from settlement.cardfields import Table, calendar_date, check_keys, list_of, table_of, text, whole
from settlement.errors import (
    InvalidMoney,
    InvalidRateCard,
    RateCardVersionUsed,
    UnknownRegionInCard,
)
from settlement.localtime import zone
from settlement.money import check_currency
from settlement.rules.coefficients import parse_difficulty, parse_region_coefficient
from settlement.rules.fees import (
    parse_base_fee,
    parse_material_deduction,
    parse_review_bonus,
    parse_urgency_bonus,
)
from settlement.rules.rule import Rule, RuleParser
from settlement.rules.supplement import parse_distance_supplement
from settlement.rules.tiers import (
    Period,
    VolumeSlot,
    open_end_problem,
    parse_surge,
    parse_volume,
)
from settlement.rules.timing import parse_calendar, parse_seasonal, parse_time_of_day
from settlement.rules.travel import parse_crossing_subsidy, parse_distance_subsidy
from settlement.slots import Slot

RULE_KINDS: Final[Mapping[str, RuleParser]] = {
    "base_fee": parse_base_fee,
    "region_coefficient": parse_region_coefficient,
    "difficulty": parse_difficulty,
    "time_of_day": parse_time_of_day,
    "calendar": parse_calendar,
    "seasonal": parse_seasonal,
    "surge": parse_surge,
    "volume_tier": parse_volume,
    "urgency_bonus": parse_urgency_bonus,
    "distance_subsidy": parse_distance_subsidy,
    "distance_supplement": parse_distance_supplement,
    "crossing_subsidy": parse_crossing_subsidy,
    "review_bonus": parse_review_bonus,
    "material_deduction": parse_material_deduction,
}
_SINGLETON_KINDS: Final = ("base_fee", "volume_tier", "region_coefficient")


@dataclass(frozen=True, eq=False)
class RateCard:
    """A parsed, validated rate card; ``rules`` are in application order."""

    id: str
    version: int
    currency: str
    effective_from: date
    effective_until: date | None
    time_zone: str
    rules: tuple[Rule, ...]
    content_hash: str

    @property
    def version_label(self) -> str:
        """``"<id>@v<version>"``: what every line item records as its rate-card version."""
        return f"{self.id}@v{self.version}"

    @cached_property
    def slots(self) -> tuple[Slot, ...]:
        """Every slot of every rule, in application order."""
        return tuple(slot for rule in self.rules for slot in rule.slots)

    @property
    def volume_period(self) -> Period | None:
        """The period volume tiers count orders in, or None without a volume rule."""
        periods = [s.period for s in self.slots if isinstance(s, VolumeSlot)]
        return periods[0] if periods else None

    @property
    def region_ids(self) -> frozenset[str]:
        """Every region id a rule names."""
        return frozenset().union(*(rule.region_ids for rule in self.rules))

    def is_in_force(self, local_date: date) -> bool:
        """Whether the card prices a service on ``local_date`` (the card's time zone)."""
        return self.effective_from <= local_date and (
            self.effective_until is None or local_date < self.effective_until
        )


def parse_rate_card(table: Mapping[str, object]) -> RateCard:
    """Parse and validate a rate card from its plain-table form.

    Raises
    ------
    InvalidRateCard
        Or a subclass, with a message naming the rule (by id) and the field at fault.
    """
    check_keys(
        table,
        "card",
        required={"id", "version", "currency", "effective_from", "rules"},
        optional={"effective_until", "time_zone", "name"},
    )
    currency = _currency(table)
    effective_from = calendar_date(table["effective_from"], "card", "effective_from")
    effective_until = (
        calendar_date(table["effective_until"], "card", "effective_until")
        if "effective_until" in table
        else None
    )
    if effective_until is not None and effective_until <= effective_from:
        raise InvalidRateCard(
            "card: effective_until must be after effective_from", field="effective_until"
        )
    rules = tuple(
        _parse_rule(entry, i, currency) for i, entry in enumerate(list_of(table["rules"], "card"))
    )
    _check_rule_set(rules)
    return RateCard(
        id=text(table, "id", "card"),
        version=whole(table, "version", "card", minimum=1),
        currency=currency,
        effective_from=effective_from,
        effective_until=effective_until,
        time_zone=_time_zone(table),
        rules=rules,
        content_hash=content_hash(table),
    )


def content_hash(table: Mapping[str, object]) -> str:
    """Return the SHA-256 of the card's canonical JSON (key order and whitespace ignored)."""
    canonical = json.dumps(table, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_regions(card: RateCard, region_ids: Collection[str]) -> None:
    """Refuse a card that names a region id not among ``region_ids``."""
    known = set(region_ids)
    for rule in card.rules:
        unknown = sorted(rule.region_ids - known)
        if unknown:
            raise UnknownRegionInCard(
                f"rule {rule.id!r} names unknown region id {unknown[0]!r}",
                rule=rule.id,
                region_ids=unknown,
            )


def check_unchanged(card: RateCard, used_versions: Mapping[tuple[str, int], str]) -> None:
    """Refuse a card whose (id, version) already priced orders under different content.

    ``used_versions`` maps (card id, version) to the content hash recorded when first used.
    """
    recorded = used_versions.get((card.id, card.version))
    if recorded is not None and recorded != card.content_hash:
        raise RateCardVersionUsed(
            f"rate card {card.version_label} has already priced orders and cannot be edited; "
            "publish it as a new version",
            card_id=card.id,
            version=card.version,
        )


def check_open_ended_tiers(card: RateCard) -> None:
    """Refuse a card whose volume or surge tiers end with a closed tier (for new uploads).

    Parsing accepts such a card, so a version stored before this check keeps settling: an order
    past its last tier is paid at that tier's rate and labelled as carried on.

    Raises
    ------
    TiersNotContiguous
        Naming the rule and the tier, and how to make the last tier open-ended.
    """
    for slot in card.slots:
        if (problem := open_end_problem(slot)) is not None:
            raise problem


def _parse_rule(entry: object, position: int, currency: str) -> Rule:
    table: Table = table_of(entry, f"rules[{position}]")
    rule_id = text(table, "id", f"rules[{position}]")
    kind = text(table, "kind", rule_id)
    if kind not in RULE_KINDS:
        raise InvalidRateCard(
            f"{rule_id}: unknown rule kind {kind!r}; known: {sorted(RULE_KINDS)}",
            rule=rule_id,
            field="kind",
        )
    return RULE_KINDS[kind](table, rule_id, currency)


def _check_rule_set(rules: tuple[Rule, ...]) -> None:
    ids = [rule.id for rule in rules]
    if duplicate := next((i for i in ids if ids.count(i) > 1), None):
        raise InvalidRateCard(f"rule id {duplicate!r} is used twice", rule=duplicate)
    kinds = [rule.kind for rule in rules]
    for kind in _SINGLETON_KINDS:
        if kinds.count(kind) > 1:
            raise InvalidRateCard(f"a card has at most one {kind} rule", field="rules")
    if "base_fee" not in kinds:
        raise InvalidRateCard("a card needs a base_fee rule", field="rules")
    base = next(rule for rule in rules if rule.kind == "base_fee")
    for rule in rules:
        if unknown := sorted(rule.service_types - base.service_types):
            raise InvalidRateCard(
                f"{rule.id}: service type {unknown[0]!r} has no base fee in rule {base.id!r}",
                rule=rule.id,
                field="service_types",
            )


def _currency(table: Mapping[str, object]) -> str:
    try:
        return check_currency(text(table, "currency", "card"))
    except InvalidMoney as err:
        raise InvalidRateCard(f"card: {err}", field="currency") from err


def _time_zone(table: Mapping[str, object]) -> str:
    name = text(table, "time_zone", "card", default="Asia/Shanghai")
    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise InvalidRateCard(f"card: unknown time zone {name!r}", field="time_zone") from err
    return name
