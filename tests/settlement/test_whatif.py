from decimal import Decimal

import pytest

from settlement.columns import OrderColumns
from settlement.errors import InvalidMoney
from settlement.money import Money
from settlement.ratecard import parse_rate_card
from settlement.whatif import simulate

from .conftest import card_table


def test_candidate_raising_west_pays_west_technicians_more(card, regions, make_order):
    table = card_table(version=2)
    table["rules"][1]["coefficients"]["west"] = "1.40"
    candidate = parse_rate_card(table)
    orders = [
        make_order(order_id="w1", technician_id="west-tech"),
        make_order(order_id="w2", technician_id="west-tech", service_type="lock_install"),
        make_order(order_id="e1", technician_id="east-tech", lon=121.6, lat=31.0),
    ]
    result = simulate(card, candidate, OrderColumns.from_orders(orders), regions)
    assert (result.paid_more, result.paid_less, result.unchanged) == (1, 0, 1)
    assert result.total.delta == Money(Decimal("8.00")) + Money(Decimal("6.30"))
    assert result.gained == result.largest_gain == result.total.delta
    regions_delta = {c.key: c.delta for c in result.by_region}
    assert regions_delta == {"east": Money.zero(), "west": result.total.delta}
    assert {c.key for c in result.by_service_type} == {"repair", "lock_install"}
    assert result.candidate_version == "test-card@v2"


def test_cards_in_different_currencies_are_not_compared(card, regions, make_order):
    other = parse_rate_card(card_table(currency="HKD"))
    with pytest.raises(InvalidMoney, match="CNY card with a HKD card"):
        simulate(card, other, OrderColumns.from_orders([make_order()]), regions)
