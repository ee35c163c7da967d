from datetime import UTC, datetime
from decimal import Decimal

from settlement.batch import settle_batch
from settlement.breakdown import settle_orders
from settlement.columns import OrderColumns
from settlement.ledger import Ledger
from settlement.money import Money
from settlement.statements import cost_by_region, statements


def test_statement_per_technician_month(card, regions, make_order):
    orders = [
        make_order(order_id=f"o{i}", service_at=datetime(2026, 11, 2 + i, 4, tzinfo=UTC))
        for i in range(3)
    ]
    orders.append(make_order(order_id="dec", service_at=datetime(2026, 12, 2, 4, tzinfo=UTC)))
    ledger = Ledger().adjust(
        "t1", Money(Decimal("-10.00")), datetime(2026, 11, 30, 15, tzinfo=UTC), memo="damaged part"
    )
    result = statements(settle_orders(card, orders, regions), "month", "CNY", ledger)
    assert [(s.period_key, s.order_count) for s in result] == [("2026-11", 3), ("2026-12", 1)]
    november = result[0]
    # 2 orders at 104.00, the third in tier 3-4 (x1.05): 104.00 + 5.20
    assert november.earnings == Money(Decimal("317.20"))
    assert dict(november.by_component)["volume_tier"] == Money(Decimal("5.20"))
    assert november.tier_reached == "order #3 of the month: volume tier 3-4 x1.05"
    assert november.payable == Money(Decimal("307.20"))
    assert result[1].adjustments == ()


def test_cost_by_region_adds_up_to_the_batch_total(card, regions, make_order):
    orders = [
        make_order(order_id="w"),
        make_order(order_id="e", lon=121.8, lat=31.0, is_urgent=True),
        make_order(order_id="x", lon=100.0, lat=10.0),
    ]
    settled = settle_batch(card, OrderColumns.from_orders(orders), regions)
    costs = cost_by_region(settled)
    assert sum(c.amount.to_fen() for c in costs) == int(settled.total_fen.sum())
    by_key = {(c.region_id, c.code): c for c in costs}
    assert by_key[("east-outer", "urgency_bonus")].amount == Money(Decimal("15.00"))
    assert by_key[(None, "base_fee")].line_count == 1
