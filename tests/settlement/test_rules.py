"""Every rule kind at its boundaries, through both the per-order and the batch path."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from settlement.batch import settle_batch
from settlement.breakdown import PayoutBreakdown, order_context, price_order, region_names
from settlement.columns import OrderColumns
from settlement.money import Money
from settlement.ratecard import RateCard, parse_rate_card

from .conftest import card_table

BERLIN = {"lon": 13.4, "lat": 52.5}
EAST_OUTER = {"lon": 121.8, "lat": 31.0}


def settle(card, regions, order, nth=1) -> PayoutBreakdown:
    """Price one order both ways, check they agree, and return the breakdown."""
    single = price_order(
        card, order, order_context(card, order, regions, nth), region_names(regions)
    )
    if nth == 1:
        assert settle_batch(card, OrderColumns.from_orders([order]), regions).breakdown(0) == single
    return single


def line(breakdown, code):
    found = [ln for ln in breakdown.lines if ln.code == code]
    return found[0] if found else None


@pytest.mark.parametrize(
    ("utc", "window"),
    [
        (datetime(2026, 11, 17, 22, 0, 0, tzinfo=UTC), "early morning"),  # 06:00:00 exactly
        (datetime(2026, 11, 17, 23, 59, 59, tzinfo=UTC), "early morning"),  # 07:59:59
        (datetime(2026, 11, 18, 0, 0, 0, tzinfo=UTC), None),  # 08:00:00 is outside
        (datetime(2026, 11, 17, 21, 59, 59, 999999, tzinfo=UTC), "night"),  # 05:59:59.999999
        (datetime(2026, 11, 17, 14, 0, 0, tzinfo=UTC), "night"),  # 22:00 starts the night
    ],
)
def test_time_of_day_boundaries_in_shanghai(card, regions, make_order, utc, window):
    found = line(settle(card, regions, make_order(service_at=utc)), "time_of_day")
    assert (found.label_en.split(" 0")[0].split(" 2")[0] if found else None) == window


@pytest.mark.parametrize(
    ("utc", "is_early_morning"),
    [
        (datetime(2026, 3, 28, 5, 0, tzinfo=UTC), True),  # Sat 06:00 CET (UTC+1)
        (datetime(2026, 3, 29, 4, 0, tzinfo=UTC), True),  # Sun 06:00 CEST: clocks went forward
        (datetime(2026, 3, 29, 5, 0, tzinfo=UTC), True),  # 07:00 CEST
        (datetime(2026, 3, 29, 6, 0, tzinfo=UTC), False),  # 08:00 CEST
        (datetime(2026, 10, 25, 4, 0, tzinfo=UTC), False),  # 05:00 CET: clocks went back
        (datetime(2026, 10, 25, 5, 0, tzinfo=UTC), True),  # 06:00 CET
    ],
)
def test_time_of_day_follows_dst_in_berlin(card, regions, make_order, utc, is_early_morning):
    berlin = settle(card, regions, make_order(service_at=utc, **BERLIN))
    found = line(berlin, "time_of_day")
    assert (found is not None and found.label_en.startswith("early morning")) == is_early_morning
    # The same instant in Shanghai (no DST) is the afternoon: no time-of-day line.
    assert line(settle(card, regions, make_order(service_at=utc)), "time_of_day") is None


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        (datetime(2026, 9, 30, 16, 30, tzinfo=UTC), "public holiday"),  # 10-01 00:30 local
        (datetime(2026, 9, 30, 15, 30, tzinfo=UTC), None),  # 09-30 23:30 local, a Wednesday
        (datetime(2026, 10, 10, 4, 0, tzinfo=UTC), None),  # Saturday, a make-up working day
        (datetime(2026, 10, 17, 4, 0, tzinfo=UTC), "weekend"),  # an ordinary Saturday
    ],
)
def test_calendar_uses_local_date(card, regions, make_order, utc, expected):
    found = line(settle(card, regions, make_order(service_at=utc)), "calendar")
    assert (found.label_en.split(" x")[0] if found else None) == expected


def test_holiday_line_names_the_date(card, regions, make_order):
    b = settle(card, regions, make_order(service_at=datetime(2026, 10, 1, 4, tzinfo=UTC)))
    assert line(b, "calendar").label_en == "public holiday x2.0 (2026-10-01)"
    assert line(b, "calendar").label_zh == "节假日 ×2.0（2026-10-01）"  # noqa: RUF001


@pytest.mark.parametrize(
    ("nth", "rate"), [(1, "0"), (2, "0"), (3, "0.05"), (4, "0.05"), (5, "0.10"), (99, "0.10")]
)
def test_volume_tier_edges(card, regions, make_order, nth, rate):
    assert line(settle(card, regions, make_order(), nth), "volume_tier").rate == Decimal(rate)


@pytest.mark.parametrize(
    ("ratio", "percent"),
    [
        (None, None),
        ("1.1999", None),
        ("1.2", "5"),
        ("1.4999", "5"),
        ("1.5", "10"),
        ("2.0", "20"),
        ("9", "20"),
    ],
)
def test_surge_tier_edges(card, regions, make_order, ratio, percent):
    order = make_order(demand_supply_ratio=None if ratio is None else Decimal(ratio))
    found = line(settle(card, regions, order), "surge")
    assert (found.label_en.split("%")[0].removeprefix("surge +") if found else None) == percent


def test_seasonal_matches_sub_regions_and_inclusive_dates(card, regions, make_order):
    last_day = datetime(2026, 8, 31, 15, 59, tzinfo=UTC)  # 23:59 local on the last day
    inside = settle(card, regions, make_order(service_at=last_day, **EAST_OUTER))
    assert line(inside, "seasonal").label_en == "heat subsidy +5.00 CNY"
    assert line(settle(card, regions, make_order(service_at=last_day)), "seasonal") is None
    after = datetime(2026, 8, 31, 16, 0, tzinfo=UTC)
    assert (
        line(settle(card, regions, make_order(service_at=after, **EAST_OUTER)), "seasonal") is None
    )


def test_rainy_season_coefficient_below_one_reduces(card, regions, make_order):
    b = settle(card, regions, make_order(service_at=datetime(2026, 6, 17, 4, tzinfo=UTC)))
    assert line(b, "seasonal").amount == Money(Decimal("-5.20"))  # 104.00 x (0.95 - 1)


@pytest.mark.parametrize(
    ("travel_m", "amount"), [(3000, None), (3001, "0.00"), (3007, "0.01"), (9500, "5.20")]
)
def test_distance_subsidy_beyond_free_radius(card, regions, make_order, travel_m, amount):
    found = line(settle(card, regions, make_order(travel_m=travel_m)), "distance_subsidy")
    assert (str(found.amount.amount) if found else None) == amount


def test_distance_cap(regions, make_order):
    table = card_table()
    next(r for r in table["rules"] if r["id"] == "distance")["cap_m"] = 10_000
    b = settle(parse_rate_card(table), regions, make_order(travel_m=50_000))
    assert line(b, "distance_subsidy").amount == Money(Decimal("8.00"))


@pytest.mark.parametrize(
    ("origin", "crosses"),
    [((121.2, 31.2), True), ((121.6, 31.0), False), (None, False), ((100.0, 10.0), False)],
)
def test_crossing_subsidy(card, regions, make_order, origin, crosses):
    lon, lat = origin if origin else (None, None)
    order = make_order(origin_lon=lon, origin_lat=lat, **EAST_OUTER)
    labels = [ln.label_en for ln in settle(card, regions, order).lines]
    assert ("river crossing +8.00 CNY" in labels) == crosses


@pytest.mark.parametrize(
    ("origin", "job", "crosses"),
    [
        ((121.6, 31.0), (121.8, 31.0), True),  # east -> east-outer, over the line at 121.75
        ((121.8, 31.0), (121.6, 31.0), True),  # and back
        ((121.75, 31.0), (121.8, 31.0), True),  # starting on the line counts
        ((121.6, 31.0), (121.7, 31.0), False),  # stops short of the line
        ((121.6, 31.5), (121.8, 31.5), False),  # passes beyond the line's end
    ],
)
def test_line_crossing_subsidy(card, regions, make_order, origin, job, crosses):
    order = make_order(origin_lon=origin[0], origin_lat=origin[1], lon=job[0], lat=job[1])
    labels = [ln.label_en for ln in settle(card, regions, order).lines]
    assert ("creek crossing +3.00 CNY" in labels) == crosses


def test_crossing_either_way(card, regions, make_order):
    order = make_order(origin_lon=121.8, origin_lat=31.0)  # east-outer -> west
    assert line(settle(card, regions, order), "crossing_subsidy").amount == Money(Decimal("8.00"))


@pytest.mark.parametrize(("rating", "bonus"), [(None, None), (3, None), (4, "2.00"), (5, "5.00")])
def test_review_bonus(card, regions, make_order, rating, bonus):
    found = line(settle(card, regions, make_order(rating=rating)), "review_bonus")
    assert (str(found.amount.amount) if found else None) == bonus


def test_unit_fee_and_service_type_difficulty(card, regions, make_order):
    b = settle(card, regions, make_order(service_type="lock_install", units=3))
    assert (
        line(b, "unit_fee").label_en == "lock installation: 2 additional unit(s) at 30.00 CNY each"
    )
    assert line(b, "unit_fee").amount == Money(Decimal("60.00"))
    assert line(b, "difficulty").label_en == "difficulty x1.05 (locks)"


def test_material_deduction_can_make_total_negative(card, regions, make_order):
    b = settle(card, regions, make_order(materials=(("filter", 10),)))
    assert b.total == Money(Decimal("104.00")) - Money(Decimal("125.00"))
    assert line(b, "material_deduction").label_en == "deduction: 10 x filter at 12.50 CNY"


@pytest.mark.parametrize(
    ("service_type", "travel_m", "amount"),
    [
        ("lock_install", 5000, None),  # exactly the threshold is not beyond it
        ("lock_install", 5001, "20.00"),
        ("lock_install", 40_000, "20.00"),  # flat: the same however far
        ("repair", 9000, None),  # the rule names lock_install only
    ],
)
def test_distance_supplement_beyond_threshold(
    card, regions, make_order, service_type, travel_m, amount
):
    order = make_order(service_type=service_type, travel_m=travel_m)
    found = line(settle(card, regions, order), "distance_supplement")
    assert (str(found.amount.amount) if found else None) == amount
    if found:
        assert (found.basis, found.rate, found.rule_id) == (
            Decimal(1),
            Decimal("20.00"),
            "far-locks",
        )


def test_distance_supplement_label_states_trip_and_threshold(card, regions, make_order):
    b = settle(card, regions, make_order(service_type="lock_install", travel_m=7250))
    found = line(b, "distance_supplement")
    assert found.label_en == "long-trip supplement: 7.25 km trip, beyond 5 km: flat 20.00 CNY"
    assert found.label_zh == "远途补贴：路程 7.25 公里，超过 5 公里：定额 20.00 CNY"  # noqa: RUF001


def _volume_card(last_tier: dict[str, object]) -> RateCard:
    """The test card with volume tiers 1-50 x1.00 and 51-... x1.05 (+ ``last_tier`` fields)."""
    table = card_table()
    next(r for r in table["rules"] if r["id"] == "volume")["tiers"] = [
        {"first_order": 1, "last_order": 50, "coefficient": "1.00"},
        {"first_order": 51, "coefficient": "1.05"} | last_tier,
    ]
    return parse_rate_card(table)


CARRIED_ON = "101+ (beyond the last tier, paid as 51-100)"


@pytest.mark.parametrize(
    ("nth", "span", "rate"),
    [
        (50, "1-50 x1.0", "0"),
        (100, "51-100 x1.05", "0.05"),
        (101, f"{CARRIED_ON} x1.05", "0.05"),
        (150, f"{CARRIED_ON} x1.05", "0.05"),
    ],
)
def test_stored_card_with_closed_last_tier_carries_on_and_says_so(
    regions, make_order, nth, span, rate
):
    card = _volume_card({"last_order": 100})  # parses: a stored card must keep settling
    found = line(settle(card, regions, make_order(), nth), "volume_tier")
    assert found.label_en == f"order #{nth} of the month: volume tier {span}"
    assert found.rate == Decimal(rate)
    if nth > 100:
        assert "阶梯 101+ 单（超出最后一档，按 51-100 单计）×1.05" in found.label_zh  # noqa: RUF001


@pytest.mark.parametrize("nth", [100, 101, 150])
def test_open_ended_last_tier_label(regions, make_order, nth):
    found = line(settle(_volume_card({}), regions, make_order(), nth), "volume_tier")
    assert found.label_en == f"order #{nth} of the month: volume tier 51+ x1.05"


def test_surge_past_a_closed_last_tier_carries_on_and_says_so(regions, make_order):
    table = card_table()
    next(r for r in table["rules"] if r["id"] == "surge")["tiers"] = [
        {"from": "1.2", "until": "1.5", "percent": "5"},
        {"from": "1.5", "until": "2.0", "percent": "10"},
    ]
    card = parse_rate_card(table)
    inside = line(settle(card, regions, make_order(demand_supply_ratio=Decimal("1.9999"))), "surge")
    assert inside.label_en == "surge +10% (demand/supply 1.9999)"
    past = line(settle(card, regions, make_order(demand_supply_ratio=Decimal("2.0"))), "surge")
    assert past.label_en == "surge +10% (demand/supply 2.0, beyond the last tier, paid as 1.5-2.0)"
    assert past.rate == Decimal("0.1")
