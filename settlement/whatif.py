"""What-if: price the same past orders under a candidate card and compare with the current one."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from geo.regions import RegionIndex
from settlement.batch import settle_batch
from settlement.columns import OrderColumns
from settlement.errors import InvalidMoney
from settlement.money import Money
from settlement.ratecard import RateCard

IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Comparison:
    """Current vs candidate cost of one group of orders (a region, service type, technician)."""

    key: str
    order_count: int
    current: Money
    candidate: Money

    @property
    def delta(self) -> Money:
        """Candidate minus current."""
        return self.candidate - self.current


@dataclass(frozen=True, slots=True)
class WhatIf:
    """The comparison of two cards over the same orders.

    ``paid_more``/``paid_less`` count technicians whose total rises/falls; ``gained``/``lost``
    are the sums of those rises and falls; ``largest_gain``/``largest_loss`` the extremes.
    """

    current_version: str
    candidate_version: str
    total: Comparison
    by_region: tuple[Comparison, ...]
    by_service_type: tuple[Comparison, ...]
    by_technician: tuple[Comparison, ...]
    paid_more: int
    paid_less: int
    unchanged: int
    gained: Money
    lost: Money
    largest_gain: Money
    largest_loss: Money


def simulate(
    current: RateCard,
    candidate: RateCard,
    columns: OrderColumns,
    regions: RegionIndex | None,
) -> WhatIf:
    """Settle ``columns`` under both cards and compare totals per group."""
    if current.currency != candidate.currency:
        raise InvalidMoney(
            f"cannot compare a {current.currency} card with a {candidate.currency} card",
            currencies=[current.currency, candidate.currency],
        )
    before = settle_batch(current, columns, regions)
    after = settle_batch(candidate, columns, regions)
    old_fen, new_fen = before.total_fen, after.total_fen
    currency = current.currency
    region_ids = (*before.context.region_ids, "(outside every region)")
    region_codes = np.where(
        before.context.region_index < 0, len(region_ids) - 1, before.context.region_index
    )
    by_tech = _grouped(columns.technician_codes, columns.technician_ids, old_fen, new_fen, currency)
    deltas = np.asarray([c.delta.to_fen() for c in by_tech], dtype=np.int64)
    rises, falls = deltas[deltas > 0], deltas[deltas < 0]
    return WhatIf(
        current_version=current.version_label,
        candidate_version=candidate.version_label,
        total=Comparison(
            "total",
            len(columns),
            Money.from_fen(int(old_fen.sum()), currency),
            Money.from_fen(int(new_fen.sum()), currency),
        ),
        by_region=_grouped(region_codes, region_ids, old_fen, new_fen, currency),
        by_service_type=_grouped(
            columns.service_type_codes, columns.service_types, old_fen, new_fen, currency
        ),
        by_technician=by_tech,
        paid_more=len(rises),
        paid_less=len(falls),
        unchanged=len(deltas) - len(rises) - len(falls),
        gained=Money.from_fen(int(rises.sum()), currency),
        lost=Money.from_fen(int(falls.sum()), currency),
        largest_gain=Money.from_fen(int(rises.max(initial=0)), currency),
        largest_loss=Money.from_fen(int(falls.min(initial=0)), currency),
    )


def _grouped(
    codes: IntArray, names: Sequence[str], old_fen: IntArray, new_fen: IntArray, currency: str
) -> tuple[Comparison, ...]:
    size = len(names)
    count = np.bincount(codes, minlength=size)
    old = np.zeros(size, dtype=np.int64)
    new = np.zeros(size, dtype=np.int64)
    np.add.at(old, codes, old_fen)
    np.add.at(new, codes, new_fen)
    return tuple(
        Comparison(
            names[g],
            int(count[g]),
            Money.from_fen(int(old[g]), currency),
            Money.from_fen(int(new[g]), currency),
        )
        for g in range(size)
        if count[g]
    )
