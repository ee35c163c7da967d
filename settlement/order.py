"""A completed work order as settlement sees it, and the context that prices it."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from geo.coords import validate_lonlat
from geo.errors import InvalidCoordinates
from geo.regions import Region

from .errors import InvalidOrder


@dataclass(frozen=True, slots=True)
class CompletedOrder:
    """One completed order, with everything the rate card may look at.

    Parameters
    ----------
    order_id, technician_id
        Caller-supplied stable ids.
    service_type
        Key into the card's base-fee table, e.g. ``"ac_install"``.
    service_at
        Start of service, timezone-aware; local time comes from the order's region.
    lon, lat
        WGS84 position of the job, longitude first.
    units
        Units of work (locks installed, units serviced); at least 1.
    flags
        Difficulty flags, e.g. ``{"high_floor_no_lift"}``.
    is_urgent
        True for an urgent (rush) order.
    rating
        Customer rating 1..5, or None when the customer gave none.
    travel_m
        Distance travelled to the job from the previous stop or base, whole metres.
    origin_lon, origin_lat
        Where that trip started (for crossing subsidies), or None.
    demand_supply_ratio
        The region's demand/supply ratio at the time of the order (surge), or None.
    materials
        ``(material_code, quantity)`` pairs that material deductions price.
    """

    order_id: str
    technician_id: str
    service_type: str
    service_at: datetime
    lon: float
    lat: float
    units: int = 1
    flags: frozenset[str] = frozenset()
    is_urgent: bool = False
    rating: int | None = None
    travel_m: int = 0
    origin_lon: float | None = None
    origin_lat: float | None = None
    demand_supply_ratio: Decimal | None = None
    materials: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        where = {"order_id": self.order_id}
        if self.service_at.tzinfo is None or self.service_at.utcoffset() is None:
            raise InvalidOrder(
                f"order {self.order_id}: service_at must be timezone-aware",
                field="service_at",
                **where,
            )
        self._check_position(self.lon, self.lat, "lon")
        if self.origin_lon is not None and self.origin_lat is not None:
            self._check_position(self.origin_lon, self.origin_lat, "origin_lon")
        if self.units < 1:
            raise InvalidOrder(f"order {self.order_id}: units must be >= 1", field="units", **where)
        if self.travel_m < 0:
            raise InvalidOrder(
                f"order {self.order_id}: travel_m must be >= 0", field="travel_m", **where
            )
        if self.rating is not None and not 1 <= self.rating <= 5:
            raise InvalidOrder(
                f"order {self.order_id}: rating must be 1..5", field="rating", **where
            )
        ratio = self.demand_supply_ratio
        if ratio is not None and (not isinstance(ratio, Decimal) or not ratio >= 0):
            raise InvalidOrder(
                f"order {self.order_id}: demand_supply_ratio must be a Decimal >= 0",
                field="demand_supply_ratio",
                **where,
            )
        if (self.origin_lon is None) != (self.origin_lat is None):
            raise InvalidOrder(
                f"order {self.order_id}: give both origin_lon and origin_lat or neither",
                field="origin_lon",
                **where,
            )
        if any(quantity < 1 for _, quantity in self.materials):
            raise InvalidOrder(
                f"order {self.order_id}: material quantities must be >= 1",
                field="materials",
                **where,
            )

    def _check_position(self, lon: float, lat: float, field: str) -> None:
        try:
            validate_lonlat([lon], [lat])
        except InvalidCoordinates as err:
            message = str(err).replace(" at index 0", "")
            raise InvalidOrder(
                f"order {self.order_id}: {message}", field=field, order_id=self.order_id
            ) from err


@dataclass(frozen=True, slots=True)
class OrderContext:
    """What pricing one order needs beyond the order itself.

    Parameters
    ----------
    region_chain
        The most specific region containing the job, then its ancestors (``parent_id``);
        empty when the job is outside every region.
    origin_chain
        The same for the trip's origin; empty when unknown or outside.
    local_at
        ``service_at`` in the job region's time zone (the card's zone when outside).
    nth_in_period
        1-based position of this order among the technician's completed orders of the
        volume period (ordered by service time, then order id).
    """

    region_chain: tuple[Region, ...]
    origin_chain: tuple[Region, ...]
    local_at: datetime
    nth_in_period: int = 1

    @property
    def region_ids(self) -> tuple[str, ...]:
        """Ids of ``region_chain``, most specific first."""
        return tuple(region.id for region in self.region_chain)
