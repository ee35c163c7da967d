"""Demand/supply ratios for surge pay, from the region heat that ``geo.heat`` measures."""

from collections.abc import Iterable, Mapping
from decimal import Decimal

from geo.heat import RegionHeat


def demand_supply_ratio(heat: RegionHeat) -> Decimal:
    """Return demand / supply as an exact Decimal from the integer counts.

    Demand with no supply counts as supply 1 (the region is as hot as its demand), so the
    ratio stays finite and lands in the top surge tier for any real demand.

    Examples
    --------
    >>> demand_supply_ratio(RegionHeat("310115", demand=9, supply=6, ratio=1.5))
    Decimal('1.5')
    >>> demand_supply_ratio(RegionHeat("310115", demand=4, supply=0, ratio=float("inf")))
    Decimal('4')
    """
    return Decimal(heat.demand) / Decimal(max(heat.supply, 1))


def ratios_by_region(heats: Iterable[RegionHeat]) -> Mapping[str, Decimal]:
    """Return region id -> demand/supply ratio, to stamp on orders as they complete."""
    return {heat.region_id: demand_supply_ratio(heat) for heat in heats}
