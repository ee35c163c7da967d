# ruff: noqa: RUF001 -- Chinese labels use full-width punctuation on purpose
"""The customer's bill: one job priced line by line under a customer price list.

Every line satisfies ``amount == round_half_up(quantity x rate)`` to the fen, so it can be
re-checked from the bill alone: a count times a unit price, one trip or one order times a flat
price, or (percent lines) the amount a percentage applies to times the percentage. The total is
the sum of the lines. Lines come in a fixed order: labour, travel, distance supplements, the
urgency surcharge, the after-hours surcharge, the value-tier discount, parts and materials.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

from settlement.cardfields import fmt_number
from settlement.errors import InvalidOrder, SettlementError
from settlement.localtime import zone
from settlement.money import Money, round_half_up_fen
from settlement.price_list import TIERS, Charge, PriceList, TravelBand

_ONE: Final = Decimal(1)
_PERCENT: Final = Decimal("0.01")
#: Line codes whose amounts are the services a surcharge or a discount applies to.
LABOUR_CODES: Final = frozenset({"labour", "labour_extra_units"})
SERVICE_CODES: Final = LABOUR_CODES | {"travel", "distance_supplement", "urgency", "after_hours"}


class UnpricedItem(SettlementError):
    """The price list has no price for the job's ticket type or for one of its materials."""

    code = "unpriced_item"


class PriceListNotInForce(SettlementError):
    """The service date (the list's time zone) is outside the price list's effective period."""

    code = "price_list_not_in_force"


@dataclass(frozen=True, slots=True)
class BillFacts:
    """What a bill looks at: the job as done.

    Parameters
    ----------
    ticket_id
        The ticket's id, for messages.
    ticket_type
        Key into the price list's labour table, e.g. ``"repair"``.
    service_at
        When service started (timezone-aware); after-hours windows use the list's zone.
    units
        Units of work, at least 1.
    travel_m
        The trip to the job in whole metres, as the technician's pay measures it.
    priority
        The ticket's priority: ``"normal"``, ``"urgent"`` or ``"emergency"``.
    materials
        ``(code, quantity)`` pairs of parts and materials used.
    """

    ticket_id: str
    ticket_type: str
    service_at: datetime
    units: int = 1
    travel_m: int = 0
    priority: str = "normal"
    materials: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        where = {"ticket_id": self.ticket_id}
        if self.service_at.utcoffset() is None:
            raise InvalidOrder(
                f"ticket {self.ticket_id}: service_at must be timezone-aware",
                field="service_at",
                **where,
            )
        for field, value, least in (("units", self.units, 1), ("travel_m", self.travel_m, 0)):
            if value < least:
                raise InvalidOrder(
                    f"ticket {self.ticket_id}: {field} must be >= {least}", field=field, **where
                )
        if any(quantity < 1 for _, quantity in self.materials):
            raise InvalidOrder(
                f"ticket {self.ticket_id}: material quantities must be >= 1",
                field="materials",
                **where,
            )


@dataclass(frozen=True, slots=True)
class BillLine:
    """One line of a bill: what it is (``label_*``), how it was computed (``basis_*``)."""

    code: str
    rule_id: str
    label_zh: str
    label_en: str
    basis_zh: str
    basis_en: str
    quantity: Decimal
    rate: Decimal
    amount: Money


@dataclass(frozen=True, slots=True)
class Bill:
    """The customer's bill for one job; its total is the sum of its lines."""

    ticket_id: str
    price_list_version: str
    currency: str
    local_service_at: datetime
    tier: str | None
    travel_m: int
    lines: tuple[BillLine, ...]

    @property
    def total(self) -> Money:
        """The sum of the lines, each already rounded to the fen."""
        return Money(
            sum((line.amount.amount for line in self.lines), Decimal("0.00")), self.currency
        )

    def subtotal(self, codes: frozenset[str]) -> Money:
        """Return the sum of the lines with one of ``codes``."""
        amounts = (line.amount.amount for line in self.lines if line.code in codes)
        return Money(sum(amounts, Decimal("0.00")), self.currency)


def price_bill(facts: BillFacts, price_list: PriceList, tier: str | None) -> Bill:
    """Price one job under ``price_list`` for a customer of value tier ``tier`` (or None).

    Raises
    ------
    PriceListNotInForce
        If the service date (the list's time zone) is outside its effective period.
    UnpricedItem
        If the list has no labour price for the ticket type or no price for a material.
    InvalidOrder
        If ``tier`` is not one of A, B, C or None.
    """
    local_at = facts.service_at.astimezone(zone(price_list.time_zone))
    if not price_list.is_in_force(local_at.date()):
        raise PriceListNotInForce(
            f"ticket {facts.ticket_id} on {local_at.date()} is outside the effective period of "
            f"price list {price_list.version_label}",
            ticket_id=facts.ticket_id,
            price_list_version=price_list.version_label,
        )
    if tier is not None and tier not in TIERS:
        raise InvalidOrder(f"unknown customer tier {tier!r}", field="tier", tier=tier)
    pricing = _Pricing(price_list, facts, local_at)
    pricing.labour()
    pricing.travel()
    pricing.supplements()
    pricing.surcharges()
    if tier is not None and tier in price_list.discounts:
        pricing.discount(tier, price_list.discounts[tier])
    pricing.parts()
    return Bill(
        ticket_id=facts.ticket_id,
        price_list_version=price_list.version_label,
        currency=price_list.currency,
        local_service_at=local_at,
        tier=tier,
        travel_m=facts.travel_m,
        lines=tuple(pricing.lines),
    )


class _Pricing:
    """The lines of one bill as they are added, section by section."""

    def __init__(self, price_list: PriceList, facts: BillFacts, local_at: datetime) -> None:
        self.price_list = price_list
        self.facts = facts
        self.local_at = local_at
        self.lines: list[BillLine] = []

    def add(
        self, code: str, rule_id: str, labels: tuple[str, str], basis: tuple[str, str],
        quantity: Decimal, rate: Decimal,
    ) -> None:  # fmt: skip
        amount = Money(round_half_up_fen(quantity * rate), self.price_list.currency)
        self.lines.append(BillLine(code, rule_id, *labels, *basis, quantity, rate, amount))

    def money(self, value: Decimal) -> str:
        return f"{value:.2f} {self.price_list.currency}"

    def labour(self) -> None:
        facts, rule_id = self.facts, f"labour.{self.facts.ticket_type}"
        labour = self.price_list.labour.get(facts.ticket_type)
        if labour is None:
            raise UnpricedItem(
                f"price list {self.price_list.version_label} has no labour price for ticket "
                f"type {facts.ticket_type!r}",
                field="type",
                ticket_type=facts.ticket_type,
            )
        labels = (labour.label_zh, labour.label_en)
        if labour.extra_unit_price is None:
            self._per_unit("labour", rule_id, labels, facts.units, labour.unit_price)
            return
        self._per_unit("labour", rule_id, labels, 1, labour.unit_price)
        if facts.units > 1:
            extra = (f"{labour.label_zh}（追加）", f"{labour.label_en}, additional units")
            self._per_unit(
                "labour_extra_units", rule_id, extra, facts.units - 1, labour.extra_unit_price
            )

    def _per_unit(
        self, code: str, rule_id: str, labels: tuple[str, str], count: int, price: Decimal
    ) -> None:
        basis = f"{count} × {self.money(price)}"
        self.add(code, rule_id, labels, (basis, basis), Decimal(count), price)

    def travel(self) -> None:
        travel_m = self.facts.travel_m
        index, band = next(
            (i, b) for i, b in enumerate(self.price_list.travel) if b.covers(travel_m)
        )
        trip = _km(travel_m)
        zh_band, en_band = _band_span(band)
        basis = (f"路程 {trip} 公里，{zh_band}档", f"{trip} km trip, band {en_band}")
        self.add(
            "travel", f"travel.bands[{index}]", ("上门路程费", "travel"), basis, _ONE, band.price
        )

    def supplements(self) -> None:
        for rule_id, form in self.price_list.supplements:
            if form.applies(self.facts.travel_m, self.facts.ticket_type):
                trip, beyond = _km(self.facts.travel_m), _km(form.beyond_m)
                flat = self.money(form.amount)
                basis = (
                    f"路程 {trip} 公里，超过 {beyond} 公里：定额 {flat}",
                    f"{trip} km trip, beyond {beyond} km: flat {flat}",
                )
                labels = (form.label_zh, form.label_en)
                self.add("distance_supplement", rule_id, labels, basis, _ONE, form.amount)

    def surcharges(self) -> None:
        if (urgency := self.price_list.urgency.get(self.facts.priority)) is not None:
            priority = {"urgent": "加急", "emergency": "紧急"}.get(self.facts.priority, "")
            when = (f"{priority}工单", f"{self.facts.priority} ticket")
            self._charge("urgency", f"urgency.{self.facts.priority}", urgency, when)
        second = self.local_at.hour * 3600 + self.local_at.minute * 60 + self.local_at.second
        for i, window in enumerate(self.price_list.after_hours):
            if window.covers(second):
                span, start = _span(window.start_s, window.end_s), self.local_at.strftime("%H:%M")
                when = (f"{start} 开始服务，属 {span}", f"service at {start}, within {span}")
                self._charge("after_hours", f"after_hours[{i}]", window.charge, when)

    def _charge(self, code: str, rule_id: str, charge: Charge, when: tuple[str, str]) -> None:
        labels = (charge.label_zh, charge.label_en)
        if charge.percent is None:
            assert charge.amount is not None, "a charge has a percent or an amount"
            flat = self.money(charge.amount)
            basis = (f"{when[0]}：定额 {flat}", f"{when[1]}: flat {flat}")
            self.add(code, rule_id, labels, basis, _ONE, charge.amount)
            return
        labour = self._sum(LABOUR_CODES)
        pct, of = fmt_number(charge.percent), self.money(labour)
        basis = (f"{when[0]}：人工费 {of} 的 {pct}%", f"{when[1]}: {pct}% of labour {of}")
        self.add(code, rule_id, labels, basis, labour, charge.percent * _PERCENT)

    def discount(self, tier: str, charge: Charge) -> None:
        assert charge.percent is not None, "discounts are percentages"
        services = self._sum(SERVICE_CODES)
        pct, of = fmt_number(charge.percent), self.money(services)
        basis = (
            f"{tier} 级客户：服务费 {of} 优惠 {pct}%",
            f"customer tier {tier}: {pct}% off services {of}",
        )
        labels = (charge.label_zh, charge.label_en)
        self.add(
            "discount", f"discounts.{tier}", labels, basis, services, -charge.percent * _PERCENT
        )

    def parts(self) -> None:
        used: Counter[str] = Counter()
        for code, quantity in self.facts.materials:
            used[code] += quantity
        for code, quantity in used.items():
            part = self.price_list.parts.get(code)
            if part is None:
                raise UnpricedItem(
                    f"price list {self.price_list.version_label} has no price for material "
                    f"{code!r}",
                    field="materials",
                    material_code=code,
                )
            labels = (part.label_zh, part.label_en)
            self._per_unit("part", f"parts.{code}", labels, quantity, part.unit_price)

    def _sum(self, codes: frozenset[str]) -> Decimal:
        return sum(
            (line.amount.amount for line in self.lines if line.code in codes), Decimal("0.00")
        )


def _km(metres: int) -> str:
    """Format metres as kilometres without trailing zeros: 7250 -> ``"7.25"``."""
    return fmt_number(Decimal(metres).scaleb(-3))


def _band_span(band: TravelBand) -> tuple[str, str]:
    """Name a band in both languages: ``up to 5 km``, ``5-15 km``, ``over 15 km``."""
    low = _km(band.from_m)
    if band.until_m is None:
        return f"{low} 公里以上", f"over {low} km"
    high = _km(band.until_m)
    if band.from_m == 0:
        return f"{high} 公里以内", f"up to {high} km"
    return f"{low}–{high} 公里", f"{low}–{high} km"


def _span(start_s: int, end_s: int) -> str:
    return "–".join(f"{s // 3600:02d}:{s % 3600 // 60:02d}" for s in (start_s, end_s))
