from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from settlement.batch import settle_batch
from settlement.breakdown import settle_orders
from settlement.columns import OrderColumns
from settlement.errors import CardNotInForce, InvalidOrder, OrderOutsideRegions
from settlement.order import CompletedOrder
from settlement.ratecard import parse_rate_card

from .conftest import card_table

# Points in every region, on shared edges, and outside every region.
_PLACES = [(121.2, 31.2), (121.6, 31.0), (121.8, 31.3), (121.5, 31.2), (121.3, 31.5)]
_PLACES += [(13.4, 52.5), (100.0, 10.0), (121.7, 31.0)]
_START = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def orders(draw: st.DrawFn) -> CompletedOrder:
    lon, lat = draw(st.sampled_from(_PLACES))
    origin = draw(st.none() | st.sampled_from(_PLACES))
    return CompletedOrder(
        order_id=f"o{draw(st.integers(0, 10**6))}",
        technician_id=draw(st.sampled_from(["t1", "t2", "t3"])),
        service_type=draw(st.sampled_from(["repair", "lock_install"])),
        # Any second of the card's year, including DST changes in Berlin.
        service_at=_START + timedelta(seconds=draw(st.integers(0, 364 * 86400))),
        lon=lon,
        lat=lat,
        units=draw(st.integers(1, 4)),
        flags=draw(st.frozensets(st.sampled_from(["no_lift", "unknown_flag"]))),
        is_urgent=draw(st.booleans()),
        rating=draw(st.none() | st.integers(1, 5)),
        travel_m=draw(st.integers(0, 30_000)),
        origin_lon=None if origin is None else origin[0],
        origin_lat=None if origin is None else origin[1],
        demand_supply_ratio=draw(
            st.none() | st.decimals(min_value=0, max_value=3, places=5, allow_nan=False)
        ),
        materials=draw(st.sampled_from([(), (("filter", 1),), (("filter", 3), ("glue", 1))])),
    )


def unique_ids(batch: list[CompletedOrder]) -> list[CompletedOrder]:
    seen: dict[str, CompletedOrder] = {}
    for order in batch:
        seen.setdefault(order.order_id, order)
    return list(seen.values())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(orders(), min_size=1, max_size=25).map(unique_ids))
def test_batch_equals_per_order_breakdowns(card, regions, batch):
    expected = settle_orders(card, batch, regions)
    settled = settle_batch(card, OrderColumns.from_orders(batch), regions)
    assert list(settled.breakdowns()) == expected
    assert settled.total_fen.tolist() == [b.total.to_fen() for b in expected]


def test_batch_without_regions_and_volume(make_order):
    table = card_table()
    table["rules"] = [table["rules"][0], table["rules"][3]]
    card = parse_rate_card(table)
    batch = [
        make_order(order_id="a"),
        make_order(order_id="b", service_type="lock_install", units=3),
    ]
    settled = settle_batch(card, OrderColumns.from_orders(batch), None)
    assert list(settled.breakdowns()) == settle_orders(card, batch, None)
    assert settled.total_fen.tolist() == [8000, 12000]


def test_batch_refuses_order_outside_regions(regions, make_order):
    table = card_table()
    table["rules"][1]["outside"] = "refuse"
    del table["rules"][1]["fallback_coefficient"]
    card = parse_rate_card(table)
    batch = [make_order(order_id="in"), make_order(order_id="out", lon=100.0, lat=10.0)]
    with pytest.raises(OrderOutsideRegions, match="order out"):
        settle_batch(card, OrderColumns.from_orders(batch), regions)


def test_batch_refuses_unknown_service_type(card, regions, make_order):
    batch = [make_order(order_id="x", service_type="paint")]
    with pytest.raises(InvalidOrder, match="'paint'"):
        settle_batch(card, OrderColumns.from_orders(batch), regions)


def test_batch_refuses_order_outside_effective_period(card, regions, make_order):
    batch = [make_order(order_id="late", service_at=datetime(2026, 12, 31, 16, tzinfo=UTC))]
    with pytest.raises(CardNotInForce, match="order late on 2027-01-01"):
        settle_batch(card, OrderColumns.from_orders(batch), regions)


def test_surge_ratio_is_compared_exactly(card, regions, make_order):
    batch = [
        make_order(order_id="below", demand_supply_ratio=Decimal("1.19999")),
        make_order(order_id="at", demand_supply_ratio=Decimal("1.2")),
    ]
    settled = settle_batch(card, OrderColumns.from_orders(batch), regions)
    codes = [[line.code for line in b.lines] for b in settled.breakdowns()]
    assert "surge" not in codes[0]
    assert "surge" in codes[1]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(orders(), min_size=1, max_size=20).map(unique_ids), st.randoms())
def test_properties_of_settled_orders(card, regions, batch, rng):
    first = settle_orders(card, batch, regions)
    for b in first:
        assert b.total.amount == sum(line.amount.amount for line in b.lines)
        has_deduction = any(
            line.amount.amount < 0 for line in b.lines if line.code == "material_deduction"
        )
        assert b.total.amount >= 0 or has_deduction
    # Re-settling, in any input order, changes nothing.
    shuffled = list(batch)
    rng.shuffle(shuffled)
    again = {b.order_id: b for b in settle_orders(card, shuffled, regions)}
    assert [again[b.order_id] for b in first] == first
    columns = OrderColumns.from_orders(shuffled)
    batch_again = {b.order_id: b for b in settle_batch(card, columns, regions).breakdowns()}
    assert [batch_again[b.order_id] for b in first] == first


def test_columns_refuse_out_of_range_values(make_order):
    columns = OrderColumns.from_orders([make_order(order_id="a"), make_order(order_id="b")])
    fields = {name: getattr(columns, name) for name in columns.__dataclass_fields__}
    with pytest.raises(InvalidOrder, match=r"order b: rating must be 0\.\.5, got 6"):
        OrderColumns(**(fields | {"rating": columns.rating + np.array([0, 6])}))
    with pytest.raises(InvalidOrder, match="order a: units must be >= 1"):
        OrderColumns(**(fields | {"units": columns.units - 1}))
