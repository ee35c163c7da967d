"""Orders as columns (numpy arrays) for batch settlement, and their per-order pricing context."""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

import numpy as np
from numpy.typing import NDArray

from .errors import InvalidOrder
from .localtime import epoch_seconds
from .order import CompletedOrder

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Demand/supply ratios travel as integer ten-thousandths, floored; thresholds have at most
#: four decimals, so ``ratio >= threshold`` is unchanged by the flooring.
RATIO_SCALE = 10_000


def ratio_to_scaled(ratio: Decimal | None) -> int:
    """Return ``floor(ratio * 10000)``, or -1 when there is no ratio."""
    return -1 if ratio is None else int((ratio * RATIO_SCALE).to_integral_value(ROUND_FLOOR))


@dataclass(frozen=True, eq=False)
class OrderColumns:
    """Completed orders column by column; row ``i`` is one order (see :class:`CompletedOrder`).

    Codes index the tuples beside them (``technician_ids[technician_codes[i]]``). Missing values:
    ``rating`` 0, ``origin_lons``/``origin_lats`` NaN, ``ratio_scaled`` -1.
    ``service_at_s`` is whole seconds since the Unix epoch (UTC), floored.
    """

    order_ids: NDArray[np.str_]
    technician_ids: tuple[str, ...]
    technician_codes: IntArray
    service_types: tuple[str, ...]
    service_type_codes: IntArray
    service_at_s: IntArray
    lons: FloatArray
    lats: FloatArray
    units: IntArray
    flag_names: tuple[str, ...]
    flags: BoolArray
    is_urgent: BoolArray
    rating: IntArray
    travel_m: IntArray
    origin_lons: FloatArray
    origin_lats: FloatArray
    ratio_scaled: IntArray
    material_codes: tuple[str, ...]
    material_qty: IntArray

    def __post_init__(self) -> None:
        n = len(self.order_ids)
        columns = (
            "technician_codes", "service_type_codes", "service_at_s", "lons", "lats", "units",
            "is_urgent", "rating", "travel_m", "origin_lons", "origin_lats", "ratio_scaled",
        )  # fmt: skip
        for name in columns:
            if len(getattr(self, name)) != n:
                raise InvalidOrder(f"column {name} has {len(getattr(self, name))} rows, not {n}")
        if self.flags.shape != (n, len(self.flag_names)):
            raise InvalidOrder("flags must be an (orders, flag_names) boolean matrix")
        if self.material_qty.shape != (n, len(self.material_codes)):
            raise InvalidOrder("material_qty must be an (orders, material_codes) matrix")
        self._check_range(
            "technician_codes", self.technician_codes, 0, len(self.technician_ids) - 1
        )
        self._check_range(
            "service_type_codes", self.service_type_codes, 0, len(self.service_types) - 1
        )
        self._check_range("units", self.units, 1, None)
        self._check_range("rating", self.rating, 0, 5)
        self._check_range("travel_m", self.travel_m, 0, None)
        self._check_range("ratio_scaled", self.ratio_scaled, -1, None)
        self._check_range("material_qty", self.material_qty.min(axis=1, initial=0), 0, None)

    def _check_range(self, name: str, values: IntArray, low: int, high: int | None) -> None:
        """Refuse values outside ``low..high``, naming the first offending order."""
        is_bad = (values < low) if high is None else (values < low) | (values > high)
        if is_bad.any():
            first = int(np.argmax(is_bad))
            allowed = f">= {low}" if high is None else f"{low}..{high}"
            raise InvalidOrder(
                f"order {self.order_ids[first]}: {name} must be {allowed}, got {values[first]}",
                order_id=str(self.order_ids[first]),
                field=name,
            )

    def __len__(self) -> int:
        return len(self.order_ids)

    def flag(self, name: str) -> BoolArray:
        """Return whether each order carries flag ``name`` (all False for an unseen flag)."""
        if name not in self.flag_names:
            return np.zeros(len(self), dtype=np.bool_)
        return self.flags[:, self.flag_names.index(name)]

    def material(self, code: str) -> IntArray:
        """Return the quantity of material ``code`` per order (0 when unused)."""
        if code not in self.material_codes:
            return np.zeros(len(self), dtype=np.int64)
        return self.material_qty[:, self.material_codes.index(code)]

    @classmethod
    def from_orders(cls, orders: Sequence[CompletedOrder]) -> "OrderColumns":
        """Build columns from order values (the CLI and tests; the benchmark builds arrays)."""
        technicians = sorted({o.technician_id for o in orders})
        service_types = sorted({o.service_type for o in orders})
        flag_names = sorted({flag for o in orders for flag in o.flags})
        material_codes = sorted({code for o in orders for code, _ in o.materials})
        flags = np.zeros((len(orders), len(flag_names)), dtype=np.bool_)
        material_qty = np.zeros((len(orders), len(material_codes)), dtype=np.int64)
        for i, order in enumerate(orders):
            for flag in order.flags:
                flags[i, flag_names.index(flag)] = True
            for code, quantity in order.materials:
                material_qty[i, material_codes.index(code)] += quantity
        return cls(
            order_ids=np.asarray([o.order_id for o in orders], dtype=np.str_),
            technician_ids=tuple(technicians),
            technician_codes=_codes([o.technician_id for o in orders], technicians),
            service_types=tuple(service_types),
            service_type_codes=_codes([o.service_type for o in orders], service_types),
            service_at_s=np.asarray([epoch_seconds(o.service_at) for o in orders], dtype=np.int64),
            lons=np.asarray([o.lon for o in orders], dtype=np.float64),
            lats=np.asarray([o.lat for o in orders], dtype=np.float64),
            units=np.asarray([o.units for o in orders], dtype=np.int64),
            flag_names=tuple(flag_names),
            flags=flags,
            is_urgent=np.asarray([o.is_urgent for o in orders], dtype=np.bool_),
            rating=np.asarray([o.rating or 0 for o in orders], dtype=np.int64),
            travel_m=np.asarray([o.travel_m for o in orders], dtype=np.int64),
            origin_lons=_optional_floats([o.origin_lon for o in orders]),
            origin_lats=_optional_floats([o.origin_lat for o in orders]),
            ratio_scaled=np.asarray(
                [ratio_to_scaled(o.demand_supply_ratio) for o in orders], dtype=np.int64
            ),
            material_codes=tuple(material_codes),
            material_qty=material_qty,
        )


@dataclass(frozen=True, eq=False)
class ColumnContext:
    """Per-order context of a batch, computed once (see :class:`settlement.order.OrderContext`).

    ``region_index`` and ``origin_index`` are positions in ``region_ids`` (-1: outside or
    unknown); ``chains[r]`` lists region ``r`` and then its ancestors, as positions.
    """

    region_ids: tuple[str, ...]
    chains: tuple[tuple[int, ...], ...]
    region_index: IntArray
    origin_index: IntArray
    local_day: IntArray
    local_second: IntArray
    nth_in_period: IntArray

    def in_any(self, region_ids: frozenset[str], positions: IntArray) -> BoolArray:
        """Return whether each position's region chain meets ``region_ids`` (False at -1)."""
        table = [any(self.region_ids[r] in region_ids for r in chain) for chain in self.chains]
        return np.asarray([*table, False], dtype=np.bool_)[positions]


def _codes(values: list[str], vocabulary: list[str]) -> IntArray:
    position = {value: code for code, value in enumerate(vocabulary)}
    return np.asarray([position[v] for v in values], dtype=np.int64)


def _optional_floats(values: list[float | None]) -> FloatArray:
    return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
