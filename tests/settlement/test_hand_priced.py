# ruff: noqa: RUF001 -- Chinese labels use full-width punctuation on purpose
"""Orders priced by hand, line by line, through the whole payout (``settlement.settle_orders``).

Each expected figure is worked out in the comments from the card alone; the batch path
(``settlement.settle_batch``) must give the same breakdowns. Regions are the hand-built boxes of
``conftest.py``: ``west`` (x1.30 here) and ``east-outer`` (x1.20).
"""

import tomllib
from datetime import UTC, datetime

import pytest

from settlement import (
    CardNotInForce,
    CompletedOrder,
    OrderColumns,
    PayoutBreakdown,
    RateCard,
    check_open_ended_tiers,
    parse_rate_card,
    settle_batch,
    settle_orders,
)

from .conftest import card_table

WEST = {"lon": 121.2, "lat": 31.2}
EAST_OUTER = {"lon": 121.8, "lat": 31.0}

# The seed's smart-lock week, as finance would publish it: a version in force for one week
# (Monday to Monday) that supersedes the year's card for those days. The week adds "a flat
# 20.00 per order beyond the standard distance" (the 3 km free radius) for smart-lock jobs,
# on top of the usual per-km subsidy. docs/rate-card.md shows the same card.
SMART_LOCK_WEEK = """
id = "smart-lock-week"
version = 1
currency = "CNY"
effective_from = 2026-03-09
effective_until = 2026-03-16
time_zone = "Asia/Shanghai"

[[rules]]
kind = "base_fee"
id = "base"

[rules.fees.smart_lock_install]
fee = "60.00"
unit_fee = "35.00"
label_zh = "智能锁安装"
label_en = "smart-lock installation"

[rules.fees.repair]
fee = "70.00"
label_zh = "上门维修"
label_en = "repair"

[[rules]]
kind = "region_coefficient"
id = "region"
outside = "refuse"
coefficients = { "west" = "1.30", "east" = "1.10", "east-outer" = "1.20" }

[[rules]]
kind = "volume_tier"
id = "volume"
period = "week"
tiers = [
  { first_order = 1, last_order = 2, coefficient = "1.00" },
  { first_order = 3, coefficient = "1.05" },
]

[[rules]]
kind = "urgency_bonus"
id = "urgent"
amount = "15.00"

[[rules]]
kind = "distance_subsidy"
id = "distance"
free_radius_m = 3000
per_km = "0.80"

[[rules]]
kind = "distance_supplement"
id = "smart-lock-far"
beyond_m = 3000
amount = "20.00"
service_types = ["smart_lock_install"]
label_zh = "智能锁周远途补贴"
label_en = "smart-lock week long trip"
"""


def order(order_id: str, local: str, **fields: object) -> CompletedOrder:
    """An order of technician t1 at a Shanghai wall-clock time ``"2026-03-09 09:00"``."""
    at = datetime.fromisoformat(f"{local}+08:00").astimezone(UTC)
    values: dict[str, object] = {"service_type": "smart_lock_install"} | WEST | fields
    return CompletedOrder(order_id=order_id, technician_id="t1", service_at=at, **values)


def settle(card: RateCard, orders: list[CompletedOrder], regions) -> dict[str, PayoutBreakdown]:
    """Settle through the reference path, check the batch path agrees, key by order id."""
    settled = settle_orders(card, orders, regions)
    assert list(settle_batch(card, OrderColumns.from_orders(orders), regions).breakdowns()) == (
        settled
    )
    return {b.order_id: b for b in settled}


def lines(breakdown: PayoutBreakdown) -> list[tuple[str, str, str, str]]:
    """(code, basis, rate, amount) of every line, as text."""
    return [(ln.code, str(ln.basis), str(ln.rate), str(ln.amount.amount)) for ln in breakdown.lines]


@pytest.fixture(scope="module")
def week_card() -> RateCard:
    card = parse_rate_card(tomllib.loads(SMART_LOCK_WEEK))
    check_open_ended_tiers(card)  # what an upload checks: its last volume tier is open
    return card


def test_smart_lock_week_by_hand(week_card, regions):
    week = [
        # A: Monday, two locks, 7.25 km from the last stop: the week's 1st order.
        order("A", "2026-03-09 09:00", units=2, travel_m=7250),
        # B: Monday, one lock, exactly at the standard distance: the 2nd.
        order("B", "2026-03-09 14:00", travel_m=3000),
        # C: Tuesday, a repair 9 km away: the 3rd (volume x1.05 from here on).
        order("C", "2026-03-10 10:00", service_type="repair", travel_m=9000),
        # D: Wednesday, urgent lock beyond the outer ring, 1 m past the standard distance: 4th.
        order("D", "2026-03-11 11:00", is_urgent=True, travel_m=3001, **EAST_OUTER),
    ]
    paid = settle(week_card, list(reversed(week)), regions)  # input order does not matter

    # A: 60.00 fee + 1 extra lock x 35.00 = 95.00; west x1.3: 95.00 x 0.30 = 28.50 -> 123.50;
    # order #1 of the week x1.0: 0.00; 7250 - 3000 = 4250 m = 4.25 km x 0.80 = 3.40 -> 126.90;
    # beyond 3000 m: flat 20.00 (basis 1 order, not scaled by the region) -> 146.90.
    assert lines(paid["A"]) == [
        ("base_fee", "1", "60.00", "60.00"),
        ("unit_fee", "1", "35.00", "35.00"),
        ("region_coefficient", "95.00", "0.30", "28.50"),
        ("volume_tier", "123.50", "0.00", "0.00"),
        ("distance_subsidy", "4.250", "0.80", "3.40"),
        ("distance_supplement", "1", "20.00", "20.00"),
    ]
    assert str(paid["A"].total.amount) == "146.90"
    supplement = paid["A"].lines[-1]
    assert (supplement.rule_id, supplement.rate_card_version) == (
        "smart-lock-far",
        "smart-lock-week@v1",
    )
    assert (
        supplement.label_en
        == "smart-lock week long trip: 7.25 km trip, beyond 3 km: flat 20.00 CNY"
    )
    assert supplement.label_zh == "智能锁周远途补贴：路程 7.25 公里，超过 3 公里：定额 20.00 CNY"

    # B: 60.00; x1.3: 18.00 -> 78.00; #2 x1.0: 0.00. 3000 m is not beyond 3000 m: no
    # distance line of either kind.
    assert [code for code, *_ in lines(paid["B"])] == [
        "base_fee",
        "region_coefficient",
        "volume_tier",
    ]
    assert str(paid["B"].total.amount) == "78.00"

    # C: 70.00; x1.3: 21.00 -> 91.00; #3 x1.05: 91.00 x 0.05 = 4.55 -> 95.55;
    # 6 km x 0.80 = 4.80 -> 100.35. A repair gets no smart-lock supplement.
    assert lines(paid["C"])[-2:] == [
        ("volume_tier", "91.00", "0.05", "4.55"),
        ("distance_subsidy", "6.000", "0.80", "4.80"),
    ]
    assert str(paid["C"].total.amount) == "100.35"

    # D: 60.00; east-outer x1.2: 12.00 -> 72.00; #4 x1.05: 3.60 -> 75.60; urgent 15.00 ->
    # 90.60; 1 m = 0.001 km x 0.80 = 0.0008 -> 0.00; 1 m beyond is beyond: flat 20.00 -> 110.60.
    assert lines(paid["D"]) == [
        ("base_fee", "1", "60.00", "60.00"),
        ("region_coefficient", "60.00", "0.20", "12.00"),
        ("volume_tier", "72.00", "0.05", "3.60"),
        ("urgency_bonus", "1", "15.00", "15.00"),
        ("distance_subsidy", "0.001", "0.80", "0.00"),
        ("distance_supplement", "1", "20.00", "20.00"),
    ]
    assert str(paid["D"].total.amount) == "110.60"
    assert paid["D"].lines[-1].label_en.startswith("smart-lock week long trip: 3.001 km trip")

    # The week: 146.90 + 78.00 + 100.35 + 110.60 = 435.85
    assert str(sum(b.total.amount for b in paid.values())) == "435.85"


def test_smart_lock_week_ends_on_monday(week_card, regions):
    with pytest.raises(CardNotInForce, match="order E on 2026-03-16"):
        settle_orders(week_card, [order("E", "2026-03-16 00:00", travel_m=7250)], regions)


def test_supplement_before_the_region_is_scaled_by_it(regions):
    # The order is data: moved above the region rule, the 20.00 joins the subtotal first.
    table = tomllib.loads(SMART_LOCK_WEEK)
    table["rules"].insert(1, table["rules"].pop())
    card = parse_rate_card(table)
    paid = settle(card, [order("A", "2026-03-09 09:00", units=2, travel_m=7250)], regions)
    # 60.00 + 35.00 + 20.00 = 115.00; x1.3: 34.50 -> 149.50; #1: 0.00; 4.25 km: 3.40 -> 152.90
    assert [ln.code for ln in paid["A"].lines][:4] == [
        "base_fee",
        "unit_fee",
        "distance_supplement",
        "region_coefficient",
    ]
    assert str(paid["A"].lines[3].amount.amount) == "34.50"
    assert str(paid["A"].total.amount) == "152.90"


def month_of_repairs() -> list[CompletedOrder]:
    """150 repairs of t1 in November 2026, one an hour from 2 November 08:00 Shanghai."""
    start = datetime(2026, 11, 2, 0, tzinfo=UTC).timestamp()
    return [
        CompletedOrder(
            order_id=f"r{n:03d}",
            technician_id="t1",
            service_type="repair",
            service_at=datetime.fromtimestamp(start + (n - 1) * 3600, UTC),
            **WEST,
        )
        for n in range(1, 151)
    ]


def volume_card(last_tier: dict[str, object]) -> RateCard:
    """A repair at 80.00 and monthly tiers 1-50 x1.00, 51-... x1.05 (+ ``last_tier``)."""
    table = card_table()
    base, volume = table["rules"][0], next(r for r in table["rules"] if r["id"] == "volume")
    volume["tiers"] = [
        {"first_order": 1, "last_order": 50, "coefficient": "1.00"},
        {"first_order": 51, "coefficient": "1.05"} | last_tier,
    ]
    table["rules"] = [base, volume]
    return parse_rate_card(table)


@pytest.mark.parametrize(
    ("last_tier", "past_the_end"),
    [
        # A stored card closed at 100 (uploads now refuse it): order 101 on carries on, labelled.
        ({"last_order": 100}, "101+ (beyond the last tier, paid as 51-100) x1.05"),
        # The card as an upload must now write it: the last tier open-ended.
        ({}, "51+ x1.05"),
    ],
)
def test_a_month_past_the_last_volume_tier_by_hand(last_tier, past_the_end):
    card = volume_card(last_tier)
    paid = settle(card, list(reversed(month_of_repairs())), None)

    def tier(n: int) -> tuple[str, str, str]:
        b = paid[f"r{n:03d}"]
        assert b.nth_in_period == n
        label = b.lines[-1].label_en.removeprefix(f"order #{n} of the month: volume tier ")
        return label, str(b.lines[-1].amount.amount), str(b.total.amount)

    # #50: 80.00 x (1.00 - 1) = 0.00 -> 80.00; #51 and #100: 80.00 x 0.05 = 4.00 -> 84.00
    assert tier(50) == ("1-50 x1.0", "0.00", "80.00")
    assert tier(100) == (("51-100" if last_tier else "51+") + " x1.05", "4.00", "84.00")
    # #101 and #150: the same 4.00 -> 84.00 under either card; only the words differ.
    assert tier(101) == (past_the_end, "4.00", "84.00")
    assert tier(150) == (past_the_end, "4.00", "84.00")
    # The month: 50 x 80.00 + 100 x 84.00 = 4,000.00 + 8,400.00 = 12,400.00
    assert str(sum(b.total.amount for b in paid.values())) == "12400.00"
