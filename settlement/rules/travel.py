# ruff: noqa: RUF001 -- Chinese labels use full-width punctuation on purpose
"""Travel rules: distance subsidy beyond a free radius, and a subsidy for crossing a boundary.

The distance is the trip to the job from the technician's previous stop or base, in whole metres,
as the order states it (``travel_m``). A crossing is a trip whose origin lies in one side's
regions and whose job lies in the other's (e.g. Puxi <-> Pudong across the Huangpu river), or a
trip whose straight line from origin to job crosses a configured line (e.g. a river's course).
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import cast

import numpy as np
from typing_extensions import override

import shapely
from shapely import LineString

from geo.coords import validate_lonlat
from geo.errors import InvalidCoordinates
from settlement.cardfields import Table, amount, check_keys, labels, list_of, table_of, whole
from settlement.columns import ColumnContext, OrderColumns
from settlement.errors import InvalidRateCard
from settlement.order import CompletedOrder, OrderContext
from settlement.rules.rule import Rule
from settlement.slots import Arithmetic, Choice, IntArray, Option, RegionNames, Slot


@dataclass(frozen=True)
class DistanceSlot(Slot):
    """Pays ``per_km`` for each metre beyond ``free_radius_m``, up to ``cap_m`` paid metres."""

    free_radius_m: int
    cap_m: int | None
    currency: str

    @override
    def choose(self, order: CompletedOrder, context: OrderContext) -> Choice | None:
        beyond_m = order.travel_m - self.free_radius_m
        if self.cap_m is not None:
            beyond_m = min(beyond_m, self.cap_m)
        return Choice(0, beyond_m) if beyond_m > 0 else None

    @override
    def choose_columns(
        self, columns: OrderColumns, context: ColumnContext
    ) -> tuple[IntArray, IntArray]:
        beyond_m = columns.travel_m - self.free_radius_m
        if self.cap_m is not None:
            beyond_m = np.minimum(beyond_m, self.cap_m)
        return np.where(beyond_m > 0, 0, -1), beyond_m

    @override
    def label(self, choice: Choice, names: RegionNames) -> tuple[str, str]:
        beyond_km, free_km = _km(choice.quantity), _km(self.free_radius_m)
        rate = f"{self.options[0].rate:.2f} {self.currency}"
        return (
            f"超出 {free_km} 公里免费半径 {beyond_km} 公里，每公里 {rate}",
            f"{beyond_km} km beyond the {free_km} km free radius at {rate}/km",
        )


@dataclass(frozen=True)
class CrossingSlot(Slot):
    """A fixed subsidy when the trip goes from one side to the other (either way)."""

    side_a: frozenset[str]
    side_b: frozenset[str]

    @override
    def choose(self, order: CompletedOrder, context: OrderContext) -> Choice | None:
        origin = {r.id for r in context.origin_chain}
        job = set(context.region_ids)
        crosses = (origin & self.side_a and job & self.side_b) or (
            origin & self.side_b and job & self.side_a
        )
        return Choice(0) if crosses else None

    @override
    def choose_columns(
        self, columns: OrderColumns, context: ColumnContext
    ) -> tuple[IntArray, IntArray]:
        origin_a = context.in_any(self.side_a, context.origin_index)
        origin_b = context.in_any(self.side_b, context.origin_index)
        job_a = context.in_any(self.side_a, context.region_index)
        job_b = context.in_any(self.side_b, context.region_index)
        crosses = (origin_a & job_b) | (origin_b & job_a)
        return np.where(crosses, 0, -1), np.ones(len(columns), dtype=np.int64)


@dataclass(frozen=True)
class LineCrossingSlot(Slot):
    """A fixed subsidy when the straight trip from origin to job crosses (touches) a line."""

    line: LineString

    @override
    def choose(self, order: CompletedOrder, context: OrderContext) -> Choice | None:
        if order.origin_lon is None or order.origin_lat is None:
            return None
        trip = LineString([(order.origin_lon, order.origin_lat), (order.lon, order.lat)])
        return Choice(0) if shapely.intersects(trip, self.line) else None

    @override
    def choose_columns(
        self, columns: OrderColumns, context: ColumnContext
    ) -> tuple[IntArray, IntArray]:
        has_origin = ~np.isnan(columns.origin_lons)
        ends = np.stack(
            [
                np.column_stack([columns.origin_lons[has_origin], columns.origin_lats[has_origin]]),
                np.column_stack([columns.lons[has_origin], columns.lats[has_origin]]),
            ],
            axis=1,
        )
        crosses = np.zeros(len(columns), dtype=np.bool_)
        if len(ends):
            crosses[has_origin] = shapely.intersects(shapely.linestrings(ends), self.line)
        return np.where(crosses, 0, -1), np.ones(len(columns), dtype=np.int64)


def parse_distance_subsidy(table: Table, rule_id: str, currency: str) -> Rule:
    """Parse ``free_radius_m``, ``per_km`` and an optional ``cap_m`` of paid metres."""
    check_keys(
        table, rule_id, required={"kind", "id", "free_radius_m", "per_km"}, optional={"cap_m"}
    )
    cap_m = whole(table, "cap_m", rule_id, minimum=1) if "cap_m" in table else None
    option = Option(amount(table["per_km"], rule_id, "per_km"), "", "")
    slot = DistanceSlot(
        rule_id,
        "distance_subsidy",
        Arithmetic.PER_KM,
        (option,),
        whole(table, "free_radius_m", rule_id),
        cap_m,
        currency,
    )
    return Rule(rule_id, "distance_subsidy", (slot,))


def parse_crossing_subsidy(table: Table, rule_id: str, currency: str) -> Rule:
    """Parse ``crossings = [{sides = [[ids], [ids]] | line = [[lon, lat], ...], amount, ...}]``."""
    check_keys(table, rule_id, required={"kind", "id", "crossings"}, optional=set())
    slots: list[Slot] = []
    region_ids: set[str] = set()
    for i, entry in enumerate(list_of(table["crossings"], f"{rule_id}.crossings")):
        where = f"{rule_id}.crossings[{i}]"
        entry = table_of(entry, where)
        check_keys(
            entry, where, required={"amount", "label_zh", "label_en"}, optional={"sides", "line"}
        )
        zh, en = labels(entry, where)
        subsidy = amount(entry["amount"], where)
        option = Option(
            subsidy, f"{zh} +{subsidy:.2f} {currency}", f"{en} +{subsidy:.2f} {currency}"
        )
        if ("sides" in entry) == ("line" in entry):
            raise InvalidRateCard(
                f"{where}: give exactly one of sides or line", rule=rule_id, field="sides"
            )
        if "line" in entry:
            line = _line(entry["line"], where, rule_id)
            slots.append(
                LineCrossingSlot(rule_id, "crossing_subsidy", Arithmetic.PER_UNIT, (option,), line)
            )
            continue
        sides = _sides(entry["sides"], where, rule_id)
        slots.append(
            CrossingSlot(rule_id, "crossing_subsidy", Arithmetic.PER_UNIT, (option,), *sides)
        )
        region_ids |= sides[0] | sides[1]
    return Rule(rule_id, "crossing_subsidy", tuple(slots), frozenset(region_ids))


def _sides(value: object, where: str, rule_id: str) -> tuple[frozenset[str], frozenset[str]]:
    sides = [frozenset(str(r) for r in list_of(side, where)) for side in list_of(value, where)]
    if len(sides) != 2 or not all(sides) or sides[0] & sides[1]:
        raise InvalidRateCard(
            f"{where}: sides must be two non-empty, disjoint lists of region ids",
            rule=rule_id,
            field="sides",
        )
    return sides[0], sides[1]


def _line(value: object, where: str, rule_id: str) -> LineString:
    """Parse ``[[lon, lat], ...]`` (at least two WGS84 points) into a prepared line."""
    points = list_of(value, where)
    is_pairs = all(
        isinstance(p, list)
        and len(p) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in p)
        for p in points
    )
    if len(points) < 2 or not is_pairs:
        raise InvalidRateCard(
            f"{where}: line must list at least two [lon, lat] number pairs",
            rule=rule_id,
            field="line",
        )
    pairs = cast("list[list[float]]", points)
    try:
        lons, lats = validate_lonlat([p[0] for p in pairs], [p[1] for p in pairs])
    except InvalidCoordinates as err:
        raise InvalidRateCard(f"{where}: line: {err}", rule=rule_id, field="line") from err
    line = LineString(np.column_stack([lons, lats]))
    shapely.prepare(line)
    return line


def _km(metres: int) -> str:
    """Format metres as kilometres without trailing zeros: 6500 -> ``"6.5"``."""
    km = Decimal(metres).scaleb(-3).normalize()
    return format(km, "f")
