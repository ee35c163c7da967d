"""Batch settlement: many orders at once in integer fen, identical to the per-order path.

Regions are located in one vectorised call, local times are computed per time zone, volume
ranks in one sort per batch (one pass per technician-period), and each slot of the card is
applied to all orders at once. Breakdowns are built on demand from the stored choices and
amounts, so a million orders cost a few arrays, not a million objects.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

from geo.coords import validate_lonlat
from geo.regions import Region, RegionIndex
from settlement.breakdown import LineItem, PayoutBreakdown, region_names
from settlement.columns import ColumnContext, OrderColumns
from settlement.errors import CardNotInForce
from settlement.localtime import local_day_and_second
from settlement.money import Money
from settlement.periods import nth_in_period, period_codes
from settlement.ratecard import RateCard
from settlement.rules.timing import day_number
from settlement.slots import Choice, IntArray, RegionNames, line_basis, line_fen

_EPOCH_DATE = np.datetime64("1970-01-01", "D")


@dataclass(frozen=True, eq=False)
class BatchSettlement:
    """The result of :func:`settle_batch`: per slot and order, the option, quantity and amount.

    ``options[s, i]`` is the option slot ``s`` chose for order ``i`` (-1: no line);
    ``amounts_fen[s, i]`` the line's amount in fen (0 when there is no line).
    """

    card: RateCard
    columns: OrderColumns
    context: ColumnContext
    options: NDArray[np.int32]
    quantities: IntArray
    amounts_fen: IntArray
    service_day: IntArray
    names: RegionNames

    def __len__(self) -> int:
        return len(self.columns)

    @property
    def total_fen(self) -> IntArray:
        """Each order's total in fen (the sum of its lines)."""
        total: IntArray = self.amounts_fen.sum(axis=0)
        return total

    def region_id(self, i: int) -> str | None:
        """Return the most specific region of order ``i`` (None outside every region)."""
        position = int(self.context.region_index[i])
        return None if position < 0 else self.context.region_ids[position]

    def breakdown(self, i: int) -> PayoutBreakdown:
        """Build the full breakdown of order ``i`` (the same as the per-order path gives)."""
        columns, card = self.columns, self.card
        version = card.version_label
        options = self.options[:, i].tolist()
        quantities = self.quantities[:, i].tolist()
        amounts_fen = self.amounts_fen[:, i].tolist()
        subtotal_fen = 0
        lines = []
        for slot, option, quantity, fen in zip(
            card.slots, options, quantities, amounts_fen, strict=True
        ):
            if option < 0:
                continue
            choice = Choice(option, quantity)
            label_zh, label_en = slot.label(choice, self.names)
            lines.append(
                LineItem(
                    code=slot.code,
                    label_zh=label_zh,
                    label_en=label_en,
                    basis=line_basis(slot.arithmetic, quantity, Decimal(subtotal_fen).scaleb(-2)),
                    rate=slot.options[option].rate,
                    amount=Money.from_fen(fen, card.currency),
                    rule_id=slot.rule_id,
                    rate_card_version=version,
                )
            )
            subtotal_fen += fen
        return PayoutBreakdown(
            order_id=str(columns.order_ids[i]),
            technician_id=columns.technician_ids[columns.technician_codes[i]],
            service_type=columns.service_types[columns.service_type_codes[i]],
            region_id=self.region_id(i),
            service_date=(_EPOCH_DATE + int(self.service_day[i])).item(),
            nth_in_period=int(self.context.nth_in_period[i]),
            rate_card_version=version,
            currency=card.currency,
            lines=tuple(lines),
        )

    def breakdowns(self) -> Iterator[PayoutBreakdown]:
        """Yield every order's breakdown, in input order."""
        for i in range(len(self)):
            yield self.breakdown(i)


def settle_batch(
    card: RateCard, columns: OrderColumns, regions: RegionIndex | None
) -> BatchSettlement:
    """Settle all ``columns`` under ``card``.

    Raises
    ------
    CardNotInForce
        If an order's service date is outside the card's effective period (first one named).
    InvalidOrder
        If a rule cannot price an order (first one named), as the per-order path would.
    """
    service_day, _ = local_day_and_second(columns.service_at_s, card.time_zone)
    _check_in_force(card, columns, service_day)
    context = _context(card, columns, regions, service_day)
    slots = card.slots
    n = len(columns)
    options = np.empty((len(slots), n), dtype=np.int32)
    quantities = np.empty((len(slots), n), dtype=np.int64)
    amounts = np.empty((len(slots), n), dtype=np.int64)
    subtotal = np.zeros(n, dtype=np.int64)
    for s, slot in enumerate(slots):
        option, quantity = slot.choose_columns(columns, context)
        rate = slot.scaled_rates()[option]  # index -1 hits the trailing 0
        amount = np.where(option >= 0, line_fen(slot.arithmetic, rate, quantity, subtotal), 0)
        subtotal += amount
        options[s], quantities[s], amounts[s] = option, quantity, amount
    return BatchSettlement(
        card, columns, context, options, quantities, amounts, service_day, region_names(regions)
    )


def _check_in_force(card: RateCard, columns: OrderColumns, service_day: IntArray) -> None:
    outside = service_day < day_number(card.effective_from)
    if card.effective_until is not None:
        outside |= service_day >= day_number(card.effective_until)
    if outside.any():
        first = int(np.argmax(outside))
        raise CardNotInForce(
            f"order {columns.order_ids[first]} on {_EPOCH_DATE + int(service_day[first])} is "
            f"outside the effective period of rate card {card.version_label}",
            order_id=str(columns.order_ids[first]),
            rate_card_version=card.version_label,
        )


def _context(
    card: RateCard, columns: OrderColumns, regions: RegionIndex | None, service_day: IntArray
) -> ColumnContext:
    n = len(columns)
    region_list = regions.regions if regions is not None else ()
    region_ids = tuple(r.id for r in region_list)
    region_index = np.full(n, -1, dtype=np.int64)
    origin_index = np.full(n, -1, dtype=np.int64)
    if regions is None:
        validate_lonlat(columns.lons, columns.lats)  # locate_indices checks them otherwise
    else:
        region_index = regions.locate_indices(columns.lons, columns.lats)
        has_origin = ~np.isnan(columns.origin_lons)
        origin_index[has_origin] = regions.locate_indices(
            columns.origin_lons[has_origin], columns.origin_lats[has_origin]
        )
    local_day, local_second = _local_times(card, columns, region_index, region_list)
    period = card.volume_period
    nth = (
        nth_in_period(
            columns.technician_codes,
            period_codes(service_day, period),
            columns.service_at_s,
            columns.order_ids,
        )
        if period is not None
        else np.ones(n, dtype=np.int64)
    )
    return ColumnContext(
        region_ids=region_ids,
        chains=_chains(region_ids, [r.parent_id for r in region_list]),
        region_index=region_index,
        origin_index=origin_index,
        local_day=local_day,
        local_second=local_second,
        nth_in_period=nth,
    )


def _local_times(
    card: RateCard, columns: OrderColumns, region_index: IntArray, region_list: tuple[Region, ...]
) -> tuple[IntArray, IntArray]:
    """Local day and second per order, in its region's zone (the card's zone outside)."""
    zones = [r.time_zone for r in region_list] + [card.time_zone]
    zone_names = sorted(set(zones))
    zone_of_order = np.asarray([zone_names.index(z) for z in zones], dtype=np.int64)[region_index]
    local_day = np.empty(len(columns), dtype=np.int64)
    local_second = np.empty(len(columns), dtype=np.int64)
    for code, name in enumerate(zone_names):
        in_zone = zone_of_order == code
        if in_zone.all():
            local_day[:], local_second[:] = local_day_and_second(columns.service_at_s, name)
        elif in_zone.any():
            local_day[in_zone], local_second[in_zone] = local_day_and_second(
                columns.service_at_s[in_zone], name
            )
    return local_day, local_second


def _chains(
    region_ids: tuple[str, ...], parent_ids: list[str | None]
) -> tuple[tuple[int, ...], ...]:
    """Each region's position followed by its ancestors' (as ``region_chain`` walks them)."""
    position = {region_id: i for i, region_id in enumerate(region_ids)}
    chains = []
    for start in range(len(region_ids)):
        chain = [start]
        parent = parent_ids[start]
        while parent in position and len(chain) < len(region_ids):
            chain.append(position[parent])
            parent = parent_ids[position[parent]]
        chains.append(tuple(chain))
    return tuple(chains)
