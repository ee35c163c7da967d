# ruff: noqa: RUF001 -- Chinese labels use full-width punctuation on purpose
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from settlement.breakdown import order_context, price_order, region_names, settle_orders
from settlement.errors import CardNotInForce, InvalidOrder, OrderOutsideRegions
from settlement.money import Money
from settlement.ratecard import parse_rate_card

from .conftest import card_table


def price(card, regions, order, nth=1):
    return price_order(card, order, order_context(card, order, regions, nth), region_names(regions))


def test_plain_weekday_order_is_base_times_region(card, regions, make_order):
    breakdown = price(card, regions, make_order())
    assert [line.code for line in breakdown.lines] == [
        "base_fee",
        "region_coefficient",
        "volume_tier",
    ]
    assert breakdown.lines[1].label_en == "region coefficient 1.3 (West)"
    assert breakdown.lines[1].label_zh == "区域系数 1.3（west区）"
    assert breakdown.total == Money(Decimal("104.00"))


def test_every_line_rechecks_by_hand(card, regions, make_order):
    order = make_order(
        service_at=datetime(2026, 7, 4, 22, 30, tzinfo=UTC),  # Sun 06:30 Shanghai
        lon=121.8,
        lat=31.0,
        flags=frozenset({"no_lift"}),
        is_urgent=True,
        rating=5,
        travel_m=9500,
        origin_lon=121.2,
        origin_lat=31.2,
        demand_supply_ratio=Decimal("1.6"),
        materials=(("filter", 2),),
    )
    breakdown = price(card, regions, order, nth=5)
    codes = [line.code for line in breakdown.lines]
    assert codes == [
        "base_fee",
        "region_coefficient",
        "difficulty",
        "time_of_day",
        "calendar",
        "seasonal",
        "seasonal",
        "surge",
        "volume_tier",
        "urgency_bonus",
        "distance_subsidy",
        "crossing_subsidy",
        "crossing_subsidy",
        "review_bonus",
        "material_deduction",
    ]
    subtotal = Decimal(0)
    for line in breakdown.lines:
        assert line.amount.amount == (line.basis * line.rate).quantize(
            Decimal("0.01"), "ROUND_HALF_UP"
        )
        if line.code in {
            "region_coefficient",
            "difficulty",
            "time_of_day",
            "calendar",
            "surge",
            "volume_tier",
        }:
            assert line.basis == subtotal
        subtotal += line.amount.amount
    assert breakdown.total.amount == subtotal
    by_code = {line.code: line for line in breakdown.lines}
    assert (
        by_code["distance_subsidy"].label_en == "6.5 km beyond the 3 km free radius at 0.80 CNY/km"
    )
    assert by_code["distance_subsidy"].amount == Money(Decimal("5.20"))
    assert by_code["region_coefficient"].label_en.endswith("(East, outside the outer ring)")
    assert by_code["time_of_day"].label_en == "early morning 06:00-08:00 x1.3"
    assert by_code["material_deduction"].amount == Money(Decimal("-25.00"))
    assert by_code["volume_tier"].label_en == "order #5 of the month: volume tier 5+ x1.1"


def test_same_input_same_breakdown(card, regions, make_order):
    order = make_order(rating=4, travel_m=4321)
    assert price(card, regions, order) == price(card, regions, order)


def test_half_a_fen_rounds_up(regions, make_order):
    table = card_table()
    table["rules"][0]["fees"]["repair"]["fee"] = "80.05"
    table["rules"][1]["coefficients"]["west"] = "1.1"
    breakdown = price(parse_rate_card(table), regions, make_order())
    assert breakdown.lines[1].amount == Money(Decimal("8.01"))  # 8.005 -> 8.01


def test_outside_every_region_uses_declared_fallback(card, regions, make_order):
    breakdown = price(card, regions, make_order(lon=100.0, lat=10.0))
    assert breakdown.region_id is None
    assert "fallback" in breakdown.lines[1].label_en


def test_outside_every_region_refused_without_fallback(regions, make_order):
    table = card_table()
    table["rules"][1]["outside"] = "refuse"
    del table["rules"][1]["fallback_coefficient"]
    with pytest.raises(OrderOutsideRegions, match="outside every region"):
        price(parse_rate_card(table), regions, make_order(lon=100.0, lat=10.0))


def test_point_on_shared_border_is_priced_by_a_region(card, regions, make_order):
    breakdown = price(card, regions, make_order(lon=121.5, lat=31.2))
    assert breakdown.region_id in {"east", "west"}


def test_region_without_coefficient_inherits_from_ancestor(regions, make_order):
    table = card_table()
    del table["rules"][1]["coefficients"]["west"]
    breakdown = price(parse_rate_card(table), regions, make_order())
    assert breakdown.lines[1].rate == Decimal("0.05")  # city's 1.05


def test_indicator_derived_coefficient(card, regions, make_order):
    order = make_order(lon=13.4, lat=52.5, service_at=datetime(2026, 11, 18, 11, tzinfo=UTC))
    line = price(card, regions, order).lines[1]
    assert line.rate == Decimal("0.2000")
    assert line.label_en.endswith("from weighted indicators)")


def test_unknown_service_type_refused(card, regions, make_order):
    with pytest.raises(InvalidOrder, match="'paint'"):
        price(card, regions, make_order(service_type="paint"))


def test_card_not_in_force(card, regions, make_order):
    with pytest.raises(CardNotInForce):
        price(card, regions, make_order(service_at=datetime(2027, 1, 1, 0, tzinfo=UTC)))


def test_naive_service_time_refused(make_order):
    with pytest.raises(InvalidOrder, match="timezone-aware"):
        make_order(service_at=datetime(2026, 1, 1, 12))


def test_settle_orders_numbers_orders_per_technician_month(card, regions, make_order):
    orders = [
        make_order(order_id=f"o{i}", service_at=datetime(2026, 11, 2 + i, 4, tzinfo=UTC))
        for i in range(5)
    ]
    orders.append(make_order(order_id="other", technician_id="t2"))
    breakdowns = settle_orders(card, list(reversed(orders)), regions)
    nth = {b.order_id: b.nth_in_period for b in breakdowns}
    assert nth == {"o0": 1, "o1": 2, "o2": 3, "o3": 4, "o4": 5, "other": 1}


def test_position_out_of_range_is_refused_naming_the_order(make_order):
    with pytest.raises(InvalidOrder, match=r"order o1: latitude is out of range"):
        make_order(lat=95.0)
    with pytest.raises(InvalidOrder, match="order o1: longitude is not finite"):
        make_order(origin_lon=float("nan"), origin_lat=31.0)
