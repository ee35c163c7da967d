"""Payout breakdowns: one order priced line by line, each line explained and re-checkable."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from geo.regions import Region, RegionIndex
from settlement.errors import CardNotInForce
from settlement.localtime import zone
from settlement.money import Money
from settlement.order import CompletedOrder, OrderContext
from settlement.periods import number_orders
from settlement.ratecard import RateCard
from settlement.slots import Choice, RegionNames, Slot, line_amount


@dataclass(frozen=True, slots=True)
class LineItem:
    """One line of a breakdown; ``amount == round_half_up(basis * rate)`` to the fen.

    ``basis`` is the running subtotal for a coefficient line (``rate`` = coefficient - 1), a
    count for a per-unit line, or kilometres for a per-km line.
    """

    code: str
    label_zh: str
    label_en: str
    basis: Decimal
    rate: Decimal
    amount: Money
    rule_id: str
    rate_card_version: str


@dataclass(frozen=True, slots=True)
class PayoutBreakdown:
    """The payout of one order: its lines in application order; the total is their sum."""

    order_id: str
    technician_id: str
    service_type: str
    region_id: str | None
    service_date: date
    nth_in_period: int
    rate_card_version: str
    currency: str
    lines: tuple[LineItem, ...]

    @property
    def total(self) -> Money:
        """The sum of the lines (each already rounded to the fen, all in ``currency``)."""
        return Money(
            sum((line.amount.amount for line in self.lines), Decimal("0.00")), self.currency
        )


def region_names(regions: RegionIndex | None) -> RegionNames:
    """Return region id -> (Chinese name, English name) for labels."""
    return {} if regions is None else {r.id: (r.name_zh, r.name_en) for r in regions}


def region_chain(regions: RegionIndex, region_id: str | None) -> tuple[Region, ...]:
    """Return the region and its ancestors (by ``parent_id``, while they are in the index)."""
    chain: list[Region] = []
    known = {r.id for r in regions}
    while region_id is not None and region_id in known and len(chain) < len(known):
        region = regions.get(region_id)
        chain.append(region)
        region_id = region.parent_id
    return tuple(chain)


def order_context(
    card: RateCard, order: CompletedOrder, regions: RegionIndex | None, nth_in_period: int = 1
) -> OrderContext:
    """Locate the job (and trip origin) and express the service time in the job's zone."""
    chain: tuple[Region, ...] = ()
    origin: tuple[Region, ...] = ()
    if regions is not None:
        chain = region_chain(regions, regions.locate([order.lon], [order.lat])[0])
        if order.origin_lon is not None and order.origin_lat is not None:
            origin_id = regions.locate([order.origin_lon], [order.origin_lat])[0]
            origin = region_chain(regions, origin_id)
    time_zone = chain[0].time_zone if chain else card.time_zone
    local_at = order.service_at.astimezone(zone(time_zone))
    return OrderContext(chain, origin, local_at, nth_in_period)


def price_order(
    card: RateCard, order: CompletedOrder, context: OrderContext, names: RegionNames
) -> PayoutBreakdown:
    """Price one order under ``card``: the reference (Decimal) path.

    Raises
    ------
    CardNotInForce
        If the service date (card time zone) is outside the card's effective period.
    InvalidOrder
        If a rule cannot price the order (unknown service type, outside every region, ...).
    """
    service_date = order.service_at.astimezone(zone(card.time_zone)).date()
    if not card.is_in_force(service_date):
        raise CardNotInForce(
            f"order {order.order_id} on {service_date} is outside the effective period of "
            f"rate card {card.version_label}",
            order_id=order.order_id,
            rate_card_version=card.version_label,
        )
    subtotal = Money.zero(card.currency)
    lines = []
    for slot in card.slots:
        choice = slot.choose(order, context)
        if choice is not None:
            line = make_line(card, slot, choice, subtotal, names)
            subtotal += line.amount
            lines.append(line)
    return PayoutBreakdown(
        order_id=order.order_id,
        technician_id=order.technician_id,
        service_type=order.service_type,
        region_id=context.region_chain[0].id if context.region_chain else None,
        service_date=service_date,
        nth_in_period=context.nth_in_period,
        rate_card_version=card.version_label,
        currency=card.currency,
        lines=tuple(lines),
    )


def make_line(
    card: RateCard, slot: Slot, choice: Choice, subtotal: Money, names: RegionNames
) -> LineItem:
    """Build the line a slot yields for ``choice`` on top of the running ``subtotal``."""
    rate = slot.options[choice.option].rate
    basis, amount = line_amount(slot.arithmetic, rate, choice.quantity, subtotal)
    label_zh, label_en = slot.label(choice, names)
    return LineItem(
        code=slot.code,
        label_zh=label_zh,
        label_en=label_en,
        basis=basis,
        rate=rate,
        amount=amount,
        rule_id=slot.rule_id,
        rate_card_version=card.version_label,
    )


def settle_orders(
    card: RateCard, orders: Sequence[CompletedOrder], regions: RegionIndex | None
) -> list[PayoutBreakdown]:
    """Price orders one by one, numbering each technician's orders per volume period.

    This is the readable reference path; :func:`settlement.batch.settle_batch` is the fast one
    and gives identical breakdowns.
    """
    period = card.volume_period
    numbers: Mapping[str, int] = (
        number_orders(orders, period, card.time_zone) if period is not None else {}
    )
    names = region_names(regions)
    return [
        price_order(card, o, order_context(card, o, regions, numbers.get(o.order_id, 1)), names)
        for o in orders
    ]
