"""Statements per technician per period, and cost by region and component for finance."""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from settlement.batch import BatchSettlement
from settlement.breakdown import PayoutBreakdown
from settlement.ledger import EntryKind, Ledger, LedgerEntry
from settlement.localtime import zone
from settlement.money import Money
from settlement.periods import period_key


@dataclass(frozen=True, slots=True)
class Statement:
    """One technician's earnings over one period.

    ``by_component`` sums line amounts per line code; ``tier_reached`` is the English label of
    the volume-tier line of the period's last order (None without volume tiers);
    ``payable`` is ``earnings`` plus the period's ledger adjustments.
    """

    technician_id: str
    period: str
    period_key: str
    order_count: int
    earnings: Money
    by_component: tuple[tuple[str, Money], ...]
    tier_reached: str | None
    adjustments: tuple[LedgerEntry, ...]
    payable: Money


def statements(
    breakdowns: Iterable[PayoutBreakdown],
    period: str,
    currency: str,
    ledger: Ledger | None = None,
    time_zone: str = "Asia/Shanghai",
) -> list[Statement]:
    """Group breakdowns by technician and period (by service date) into statements.

    Ledger adjustments are assigned to the period of their date in ``time_zone``.
    """
    groups: dict[tuple[str, str], list[PayoutBreakdown]] = defaultdict(list)
    for b in breakdowns:
        groups[(b.technician_id, period_key(b.service_date, period))].append(b)
    adjustments: dict[tuple[str, str], list[LedgerEntry]] = defaultdict(list)
    for entry in ledger.entries if ledger is not None else ():
        if entry.kind is EntryKind.ADJUSTMENT:
            key = period_key(entry.at.astimezone(zone(time_zone)).date(), period)
            adjustments[(entry.technician_id, key)].append(entry)
    keys = sorted(groups.keys() | adjustments.keys())
    return [
        _statement(tech, period, key, groups[(tech, key)], adjustments[(tech, key)], currency)
        for tech, key in keys
    ]


def _statement(
    technician_id: str,
    period: str,
    key: str,
    breakdowns: Sequence[PayoutBreakdown],
    adjustments: Sequence[LedgerEntry],
    currency: str,
) -> Statement:
    zero = Money.zero(currency)
    by_component: dict[str, Money] = {}
    for b in breakdowns:
        for line in b.lines:
            by_component[line.code] = by_component.get(line.code, zero) + line.amount
    earnings = sum((b.total for b in breakdowns), zero)
    last = max(breakdowns, key=lambda b: b.nth_in_period, default=None)
    tier = (
        next((ln.label_en for ln in last.lines if ln.code == "volume_tier"), None) if last else None
    )
    adjusted = sum((e.amount for e in adjustments), zero)
    return Statement(
        technician_id=technician_id,
        period=period,
        period_key=key,
        order_count=len(breakdowns),
        earnings=earnings,
        by_component=tuple(sorted(by_component.items())),
        tier_reached=tier,
        adjustments=tuple(adjustments),
        payable=earnings + adjusted,
    )


@dataclass(frozen=True, slots=True)
class RegionCost:
    """Finance view: what one line code cost in one region (None: outside every region)."""

    region_id: str | None
    code: str
    amount: Money
    line_count: int


def cost_by_region(settled: BatchSettlement) -> list[RegionCost]:
    """Sum every line amount of a batch by (most specific region, line code)."""
    context = settled.context
    region_count = len(context.region_ids) + 1  # the last bucket is "outside"
    bucket = np.where(context.region_index < 0, region_count - 1, context.region_index)
    slots = settled.card.slots
    codes = sorted({slot.code for slot in slots})
    fen = np.zeros((len(codes), region_count), dtype=np.int64)
    count = np.zeros((len(codes), region_count), dtype=np.int64)
    for s, slot in enumerate(slots):
        row = codes.index(slot.code)
        has_line = settled.options[s] >= 0
        np.add.at(fen[row], bucket, settled.amounts_fen[s])
        count[row] += np.bincount(bucket[has_line], minlength=region_count)
    region_ids: list[str | None] = [*context.region_ids, None]
    return [
        RegionCost(
            region_ids[r],
            code,
            Money.from_fen(int(fen[c, r]), settled.card.currency),
            int(count[c, r]),
        )
        for c, code in enumerate(codes)
        for r in range(region_count)
        if count[c, r]
    ]
