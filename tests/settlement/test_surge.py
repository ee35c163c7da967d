from decimal import Decimal

from geo.heat import RegionHeat
from settlement.surge import demand_supply_ratio, ratios_by_region


def test_ratio_is_exact_and_finite_without_supply():
    assert demand_supply_ratio(RegionHeat("a", 1, 3, 1 / 3)) == Decimal(1) / Decimal(3)
    assert demand_supply_ratio(RegionHeat("a", 5, 0, float("inf"))) == Decimal(5)
    assert demand_supply_ratio(RegionHeat("a", 0, 0, 0.0)) == Decimal(0)


def test_ratios_by_region():
    heats = [RegionHeat("a", 6, 4, 1.5), RegionHeat("b", 1, 2, 0.5)]
    assert ratios_by_region(heats) == {"a": Decimal("1.5"), "b": Decimal("0.5")}
