"""Checks run when a ``Problem`` is built: each failure names the offending ids."""

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral
from typing import TYPE_CHECKING

import numpy as np

from dispatch.errors import (
    DuplicateId,
    InvalidField,
    InvalidLocation,
    InvalidTimeWindow,
    InvalidTravelMatrix,
    UnknownReference,
    UnknownSkill,
    WindowOutsideShifts,
)

if TYPE_CHECKING:
    from dispatch.model import Problem, Shift, Technician, TimeWindow, WorkOrder


def validate_problem(problem: "Problem", *, fleet_checked: bool = False) -> None:
    """Raise the first ``DispatchError`` found in ``problem``; return ``None`` if it is sound.

    ``fleet_checked``: the technicians are a fleet already checked in another problem (a live
    day's), so only the orders and what joins them to the fleet are checked.
    """
    if problem.origin.tzinfo is None or problem.origin.utcoffset() is None:
        raise InvalidField("origin must be timezone-aware", field="origin")
    if not fleet_checked:
        _check_unique("technician", [t.id for t in problem.technicians])
        validate_locations(problem.technicians, ())
        for tech in problem.technicians:
            _check_technician(tech)
    _check_unique("order", [o.id for o in problem.orders])
    validate_locations((), problem.orders)
    for order in problem.orders:
        _check_order(order)
    _check_skills(problem)
    _check_references(problem)
    _check_windows_meet_shifts(problem)
    _check_matrix(problem)


def _check_unique(kind: str, ids: Sequence[str]) -> None:
    duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
    if duplicates:
        raise DuplicateId(f"duplicate {kind} ids: {duplicates}", kind=kind, ids=duplicates)


def validate_locations(technicians: Iterable["Technician"], orders: Iterable["WorkOrder"]) -> None:
    """Raise ``InvalidLocation`` for the first NaN, infinite or out-of-range coordinate."""
    for tech in technicians:
        for name in ("start", "end", "current_position"):
            point = getattr(tech, name)
            if point is not None:
                _check_lonlat(point, technician_id=tech.id, field=name)
    for order in orders:
        _check_lonlat(order.location, order_id=order.id, field="location")


def _check_lonlat(point: tuple[float, float], **where: str) -> None:
    lon, lat = point
    finite = math.isfinite(lon) and math.isfinite(lat)
    if not (finite and -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise InvalidLocation(
            f"invalid [lon, lat] {[lon, lat]} at {where}", lonlat=[lon, lat], **where
        )


def _check_non_negative(value: int | None, **where: object) -> None:
    if value is not None and value < 0:
        raise InvalidField(f"{where} must be >= 0, got {value}", value=value, **where)


def _check_technician(tech: "Technician") -> None:
    if not tech.shifts:
        raise InvalidTimeWindow(f"technician {tech.id} has no shift", technician_id=tech.id)
    _check_sorted_disjoint([s.window for s in tech.shifts], technician_id=tech.id, field="shifts")
    for shift in tech.shifts:
        _check_breaks(tech, shift)
    for name in ("max_orders", "max_working_s", "capacity", "available_from_s"):
        _check_non_negative(getattr(tech, name), technician_id=tech.id, field=name)
    for skill, level in tech.skills.items():
        if level < 1:
            raise InvalidField(
                f"technician {tech.id} skill {skill!r} level must be >= 1",
                technician_id=tech.id, field="skills", skill=skill, value=level,
            )  # fmt: skip
    _check_unique("locked stop", list(tech.locked_stops))
    _check_units(tech.stock, f"technician {tech.id} stock", technician_id=tech.id, field="stock")


def _check_breaks(tech: "Technician", shift: "Shift") -> None:
    for brk in shift.breaks:
        inside = shift.start_s <= brk.earliest_start_s <= brk.latest_start_s <= shift.end_s
        if not inside or brk.duration_s <= 0:
            raise InvalidTimeWindow(
                f"technician {tech.id} has a break {brk} that is empty or outside its shift",
                technician_id=tech.id, field="breaks",
            )  # fmt: skip


def _check_sorted_disjoint(windows: Sequence["TimeWindow"], **where: object) -> None:
    for i, w in enumerate(windows):
        if w.start_s < 0 or w.end_s <= w.start_s:
            raise InvalidTimeWindow(
                f"{where}: window {i} [{w.start_s}, {w.end_s}] is negative, empty or inverted",
                index=i, **where,
            )  # fmt: skip
        if i and w.start_s <= windows[i - 1].end_s:
            raise InvalidTimeWindow(
                f"{where}: window {i} overlaps or precedes window {i - 1}", index=i, **where
            )


def _check_order(order: "WorkOrder") -> None:
    _check_sorted_disjoint(order.windows, order_id=order.id, field="windows")
    for name in ("duration_s", "demand", "sla_deadline_s"):
        _check_non_negative(getattr(order, name), order_id=order.id, field=name)
    for skill, level in order.required_skills.items():
        if level < 1:
            raise InvalidField(
                f"order {order.id} needs skill {skill!r} at level {level}; levels are >= 1",
                order_id=order.id, field="required_skills", skill=skill, value=level,
            )  # fmt: skip
    _check_units(order.parts, f"order {order.id} parts", order_id=order.id, field="parts")


def _check_units(units: Mapping[str, int], what: str, **where: str) -> None:
    """Part types are non-empty names and units whole numbers >= 0 (stock and parts)."""
    for part_type, count in units.items():
        if not isinstance(part_type, str) or not part_type:
            raise InvalidField(f"{what}: part types must be non-empty names", **where)
        if isinstance(count, bool) or not isinstance(count, Integral) or count < 0:
            raise InvalidField(
                f"{what}: {part_type!r} must be a whole number of units >= 0, got {count!r}",
                part_type=part_type, value=count, **where,
            )  # fmt: skip


def _check_skills(problem: "Problem") -> None:
    known = set(problem.skill_catalog or ()) | {s for t in problem.technicians for s in t.skills}
    unknown = sorted((o.id, s) for o in problem.orders for s in o.required_skills if s not in known)
    if unknown:
        order_ids = sorted({o for o, _ in unknown})
        skills = sorted({s for _, s in unknown})
        raise UnknownSkill(
            f"unknown skills {skills} required by orders {order_ids}",
            order_ids=order_ids, skills=skills,
        )  # fmt: skip


def _check_references(problem: "Problem") -> None:
    tech_ids = {t.id for t in problem.technicians}
    orders = {o.id: o for o in problem.orders}
    bad_pins = sorted(o.id for o in problem.orders if o.pinned_to and o.pinned_to not in tech_ids)
    if bad_pins:
        raise UnknownReference(
            f"orders {bad_pins} are pinned to unknown technicians", order_ids=bad_pins
        )
    locked_by: dict[str, str] = {}
    for tech in problem.technicians:
        for order_id in tech.locked_stops:
            order = orders.get(order_id)
            if order is None:
                raise UnknownReference(
                    f"technician {tech.id} has unknown locked stop {order_id}",
                    technician_id=tech.id, order_id=order_id,
                )  # fmt: skip
            owner = locked_by.setdefault(order_id, tech.id)
            if owner != tech.id or (order.pinned_to and order.pinned_to != tech.id):
                raise UnknownReference(
                    f"order {order_id} is locked to {tech.id} but belongs to another technician",
                    technician_id=tech.id, order_id=order_id,
                )  # fmt: skip


def _check_windows_meet_shifts(problem: "Problem") -> None:
    shifts = [s.window for t in problem.technicians for s in t.shifts]
    if not shifts:
        return
    outside = sorted(
        o.id for o in problem.orders if o.windows and not any(
            w.overlaps(s) for w in o.windows for s in shifts
        )
    )  # fmt: skip
    if outside:
        raise WindowOutsideShifts(
            f"orders {outside} have no window inside any shift", order_ids=outside
        )


def _check_matrix(problem: "Problem") -> None:
    n = problem.n_nodes
    for name in ("travel_s", "distance_m"):
        matrix = getattr(problem, name)
        if matrix is None:
            continue
        if not isinstance(matrix, np.ndarray) or matrix.shape != (n, n):
            shape = getattr(matrix, "shape", None)
            raise InvalidTravelMatrix(
                f"{name} must be an ({n}, {n}) array, got shape {shape}", field=name
            )
        if name == "travel_s" and matrix.dtype != np.int32:
            raise InvalidTravelMatrix(f"travel_s must be int32, got {matrix.dtype}", field=name)
        if not np.all(np.isfinite(matrix)) or np.any(matrix < 0):
            bad = np.argwhere(~np.isfinite(matrix) | (matrix < 0))[0].tolist()
            raise InvalidTravelMatrix(
                f"{name} has a negative or non-finite entry at {bad}", field=name, index=bad
            )
