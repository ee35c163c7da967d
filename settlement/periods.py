"""Counting a technician's completed orders within a volume period (day, ISO week, month).

Periods are calendar periods in the card's time zone; weeks start on Monday. Within a period a
technician's orders are numbered 1, 2, ... by service time (to the whole second), ties broken by
order id, so the numbering does not depend on the order the input arrives in.
"""

from collections.abc import Mapping, Sequence
from datetime import date, datetime

import numpy as np
from numpy.typing import NDArray

from settlement.localtime import epoch_seconds, zone
from settlement.order import CompletedOrder

IntArray = NDArray[np.int64]


def order_key(service_at: datetime, order_id: str) -> tuple[int, str]:
    """Return what orders are numbered by within a period: whole seconds of service, then id.

    Every path that ranks orders (this module's, and the service's when it settles one order)
    uses it, so two orders in the same second get the same tiers everywhere.

    >>> from datetime import UTC
    >>> early = order_key(datetime(2026, 12, 3, 9, 0, 0, 900_000, tzinfo=UTC), "7")
    >>> late = order_key(datetime(2026, 12, 3, 9, 0, 0, 100_000, tzinfo=UTC), "12")
    >>> sorted([early, late]) == [late, early]  # same second: the id decides, as text
    True
    """
    return epoch_seconds(service_at), order_id


def period_key(local_date: date, period: str) -> str:
    """Return a readable key of the period containing ``local_date``.

    Examples
    --------
    >>> period_key(date(2026, 11, 22), "week"), period_key(date(2026, 11, 22), "month")
    ('2026-W47', '2026-11')
    """
    if period == "day":
        return local_date.isoformat()
    if period == "week":
        year, week, _ = local_date.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{local_date.year}-{local_date.month:02d}"


def period_codes(local_day: IntArray, period: str) -> IntArray:
    """Return an integer per order that is equal exactly when the periods are equal."""
    if period == "day":
        return local_day
    if period == "week":
        return (local_day + 3) // 7  # 1970-01-01 was a Thursday: day + 3 counts from a Monday
    return local_day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def nth_in_period(
    technician_codes: IntArray,
    period: IntArray,
    service_at_s: IntArray,
    order_ids: NDArray[np.str_],
) -> IntArray:
    """Return each order's 1-based rank among its technician's orders of the same period."""
    n = len(order_ids)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    id_rank = np.empty(n, dtype=np.int64)
    id_rank[np.argsort(order_ids, kind="stable")] = np.arange(n)
    order = np.lexsort((id_rank, service_at_s, period, technician_codes))
    tech, per = technician_codes[order], period[order]
    starts = np.ones(n, dtype=np.bool_)
    starts[1:] = (tech[1:] != tech[:-1]) | (per[1:] != per[:-1])
    start_positions = np.flatnonzero(starts)
    group_start = start_positions[np.cumsum(starts) - 1]
    nth = np.empty(n, dtype=np.int64)
    nth[order] = np.arange(n) - group_start + 1
    return nth


def number_orders(
    orders: Sequence[CompletedOrder], period: str, time_zone: str
) -> Mapping[str, int]:
    """Return order id -> rank in its technician's period (the per-order reference path)."""
    ranked = sorted(
        orders,
        key=lambda o: (
            o.technician_id,
            period_key(o.service_at.astimezone(zone(time_zone)).date(), period),
            *order_key(o.service_at, o.order_id),
        ),
    )
    numbers: dict[str, int] = {}
    previous: tuple[str, str] | None = None
    count = 0
    for order in ranked:
        group = (
            order.technician_id,
            period_key(order.service_at.astimezone(zone(time_zone)).date(), period),
        )
        count = count + 1 if group == previous else 1
        previous = group
        numbers[order.order_id] = count
    return numbers
