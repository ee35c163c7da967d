from datetime import UTC, date, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.order import CompletedOrder
from settlement.periods import nth_in_period, number_orders, period_codes, period_key

EPOCH = date(1970, 1, 1)


@given(st.dates(date(2000, 1, 1), date(2100, 1, 1)), st.dates(date(2000, 1, 1), date(2100, 1, 1)))
def test_period_codes_agree_with_period_keys(a, b):
    days = np.array([(a - EPOCH).days, (b - EPOCH).days], dtype=np.int64)
    for period in ("day", "week", "month"):
        codes = period_codes(days, period)
        assert (codes[0] == codes[1]) == (period_key(a, period) == period_key(b, period))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["t1", "t2"]), st.integers(0, 90 * 86400), st.integers(0, 999)),
        min_size=1,
        max_size=30,
        unique_by=lambda row: row[2],
    )
)
def test_vectorised_ranks_equal_reference_ranks(rows):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    orders = [
        CompletedOrder(f"o{i:03d}", tech, "repair", start + timedelta(seconds=s), 121.4, 31.2)
        for tech, s, i in rows
    ]
    expected = number_orders(orders, "month", "Asia/Shanghai")
    seconds = np.array([s + int(start.timestamp()) for _, s, _ in rows], dtype=np.int64)
    local_day = (seconds + 8 * 3600) // 86400
    technicians = np.array([int(tech[1]) for tech, _, _ in rows], dtype=np.int64)
    ids = np.array([o.order_id for o in orders], dtype=np.str_)
    nth = nth_in_period(technicians, period_codes(local_day, "month"), seconds, ids)
    assert dict(zip(ids.tolist(), nth.tolist(), strict=True)) == expected
