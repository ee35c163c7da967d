"""Problems as plain JSON-ready dicts (the file format of ``docs/problem-format.md``).

Times are ISO 8601 strings with a UTC offset, converted to whole seconds from the problem's
``origin``; durations are integer seconds with ``_s`` in their names; coordinates are
``[lon, lat]``. A problem carries locations; its travel-time matrix comes from a
``TravelTimeProvider`` unless the document supplies ``travel_s``. Reading raises
``InvalidDocument`` naming the path of the first bad field (``orders[3].windows[0].end``);
the model's own checks (duplicate ids, unknown skills...) follow once the values are read.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

import numpy as np

from dispatch.errors import DispatchError
from dispatch.model import (
    Break,
    Problem,
    Shift,
    Technician,
    TechnicianId,
    TimeWindow,
    WorkOrder,
    WorkOrderId,
)
from geo.distance import TravelTimeProvider

PROBLEM_FORMAT = "geodispatch.problem/1"
Json = dict[str, Any]


class InvalidDocument(DispatchError):
    """A problem or plan document has a missing, mistyped or malformed field."""

    code: ClassVar[str] = "invalid_document"


class Fields:
    """Typed access to one JSON object, naming ``path.key`` in every error."""

    def __init__(self, value: object, path: str) -> None:
        if not isinstance(value, Mapping):
            raise InvalidDocument(f"{path or 'document'} must be an object", field=path)
        self.data, self.path = value, path

    def at(self, key: str) -> str:
        """Return the path of ``key`` for error messages."""
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key: str, default: object = ...) -> Any:
        """Return the value of ``key``; ``default`` when absent or null, else required."""
        if key not in self.data or self.data[key] is None:
            if default is ...:
                raise InvalidDocument(f"{self.at(key)} is required", field=self.at(key))
            return default
        return self.data[key]

    def typed(self, key: str, kind: type | tuple[type, ...], default: object = ...) -> Any:
        """Return the value of ``key`` checked to be a ``kind`` (a bool is no number)."""
        value = self.raw(key, default)
        is_bool = isinstance(value, bool) and kind is not bool
        if value is not default and (is_bool or not isinstance(value, kind)):
            raise InvalidDocument(f"{self.at(key)} has the wrong type", field=self.at(key))
        return value

    def items(self, key: str, default: object = ...) -> list[tuple[object, str]]:
        """Return ``(element, path)`` for each element of the list at ``key``."""
        values = self.typed(key, list, default)
        return [(v, f"{self.at(key)}[{i}]") for i, v in enumerate(values or [])]

    def lonlat(self, key: str, default: object = ...) -> tuple[float, float] | None:
        """Return the ``[lon, lat]`` pair at ``key`` (ranges are checked by the model)."""
        value = self.raw(key, default)
        if value is default:
            return None
        ok = isinstance(value, list) and len(value) == 2
        if not ok or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in value):
            raise InvalidDocument(f"{self.at(key)} must be [lon, lat]", field=self.at(key))
        return float(value[0]), float(value[1])

    def seconds(self, key: str, origin: datetime, default: object = ...) -> int | None:
        """Return the instant at ``key`` as whole seconds from ``origin``."""
        value = self.raw(key, default)
        return None if value is default else _seconds(value, origin, self.at(key))


def parse_instant(value: object, path: str) -> datetime:
    """Parse an ISO 8601 instant that carries a UTC offset."""
    try:
        instant = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        instant = None
    if instant is None or instant.utcoffset() is None:
        raise InvalidDocument(
            f"{path} must be an ISO 8601 time with an offset, got {value!r}", field=path
        )
    return instant


def _seconds(value: object, origin: datetime, path: str) -> int:
    return round((parse_instant(value, path) - origin).total_seconds())


def iso_at(origin: datetime, t_s: int) -> str:
    """Return the ISO 8601 instant ``t_s`` seconds after ``origin``."""
    return (origin + timedelta(seconds=t_s)).isoformat()


def problem_from_dict(data: object, provider: TravelTimeProvider) -> Problem:
    """Build a validated ``Problem``; travel times from ``travel_s`` or from ``provider``."""
    doc = Fields(data, "")
    origin = parse_instant(doc.raw("origin"), "origin")
    technicians = tuple(_technician(Fields(v, p), origin) for v, p in doc.items("technicians"))
    orders = tuple(_order(Fields(v, p), origin) for v, p in doc.items("orders"))
    factors = doc.typed("duration_factor_by_level", dict, {})
    options: dict[str, Any] = {
        "duration_factor_by_level": _factors(factors),
        "skill_catalog": _skill_catalog(doc),
    }
    if doc.raw("travel_s", None) is None:
        return Problem.with_travel_times(origin, technicians, orders, provider, **options)
    travel = _matrix(doc.raw("travel_s"), "travel_s")
    if travel.size and (
        np.any(travel != np.round(travel)) or travel.max() > np.iinfo(np.int32).max
    ):
        raise InvalidDocument("travel_s must hold whole seconds within int32", field="travel_s")
    distance = doc.raw("distance_m", None)
    return Problem(
        origin, technicians, orders, travel.astype(np.int32),
        None if distance is None else _matrix(distance, "distance_m"), **options,
    )  # fmt: skip


def _matrix(value: object, path: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    try:
        matrix = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidDocument(f"{path} must be a square matrix of numbers", field=path) from err
    if matrix.ndim != 2:
        raise InvalidDocument(f"{path} must be a square matrix of numbers", field=path)
    return matrix


def _factors(raw: Mapping[str, object]) -> dict[int, float]:
    factors = {}
    for level, factor in raw.items():
        path = f"duration_factor_by_level.{level}"
        if not str(level).isdigit() or not isinstance(factor, int | float) or factor <= 0:
            raise InvalidDocument(f"{path} must map a level to a positive factor", field=path)
        factors[int(level)] = float(factor)
    return factors


def _skill_catalog(doc: Fields) -> frozenset[str] | None:
    entries = doc.items("skill_catalog", None)
    return frozenset(_text(v, p) for v, p in entries) if doc.raw("skill_catalog", None) else None


def _text(value: object, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidDocument(f"{path} must be a non-empty string", field=path)
    return value


def _levels(doc: Fields, key: str) -> dict[str, int]:
    raw = doc.typed(key, dict, {})
    for skill, level in raw.items():
        if not isinstance(level, int) or isinstance(level, bool):
            raise InvalidDocument(f"{doc.at(key)}.{skill} must be an integer level", field=key)
    return dict(raw)


def _units(doc: Fields, key: str) -> dict[str, int]:
    """``{part type: units}`` at ``key`` (``stock``, ``parts``); ranges are the model's."""
    raw = doc.typed(key, dict, {})
    for part_type, units in raw.items():
        if not isinstance(units, int) or isinstance(units, bool):
            path = f"{doc.at(key)}.{part_type}"
            raise InvalidDocument(f"{path} must be a whole number of units", field=path)
    return dict(raw)


def _optional_int(doc: Fields, key: str) -> int | None:
    value: int | None = doc.typed(key, int, None)
    return value


def _technician(doc: Fields, origin: datetime) -> Technician:
    shifts = []
    for value, path in doc.items("shifts"):
        shift = Fields(value, path)
        breaks = tuple(
            Break(
                shift_break.seconds("earliest_start", origin) or 0,
                shift_break.seconds("latest_start", origin) or 0,
                shift_break.typed("duration_s", int),
            )
            for shift_break in (Fields(v, p) for v, p in shift.items("breaks", []))
        )
        start, end = shift.seconds("start", origin), shift.seconds("end", origin)
        shifts.append(Shift(start or 0, end or 0, breaks))
    territory = doc.items("territory", None)
    return Technician(
        id=TechnicianId(_text(doc.raw("id"), doc.at("id"))),
        start=doc.lonlat("start") or (0.0, 0.0), shifts=tuple(shifts),
        skills=_levels(doc, "skills"), end=doc.lonlat("end", None),
        max_orders=_optional_int(doc, "max_orders"),
        max_working_s=_optional_int(doc, "max_working_s"),
        capacity=_optional_int(doc, "capacity"),
        territory=None if doc.raw("territory", None) is None
        else frozenset(_text(v, p) for v, p in territory),
        current_position=doc.lonlat("current_position", None),
        available_from_s=doc.seconds("available_from", origin, None),
        locked_stops=tuple(WorkOrderId(_text(v, p)) for v, p in doc.items("locked_stops", [])),
        stock=_units(doc, "stock"),
    )  # fmt: skip


def _order(doc: Fields, origin: datetime) -> WorkOrder:
    windows = []
    for value, path in doc.items("windows", []):
        window = Fields(value, path)
        windows.append(
            TimeWindow(window.seconds("start", origin) or 0, window.seconds("end", origin) or 0)
        )
    pinned = doc.typed("pinned_to", str, None)
    return WorkOrder(
        id=WorkOrderId(_text(doc.raw("id"), doc.at("id"))),
        location=doc.lonlat("location") or (0.0, 0.0), duration_s=doc.typed("duration_s", int),
        required_skills=_levels(doc, "required_skills"), windows=tuple(windows),
        priority=doc.typed("priority", int, 0),
        sla_deadline_s=doc.seconds("sla_deadline", origin, None),
        demand=doc.typed("demand", int, 0),
        pinned_to=None if pinned is None else TechnicianId(pinned),
        region_id=doc.typed("region_id", str, None), parts=_units(doc, "parts"),
    )  # fmt: skip


def problem_to_dict(problem: Problem, *, include_travel: bool = False) -> Json:
    """Return the problem document; ``include_travel`` adds the travel-time matrix."""
    at = problem.origin
    doc: Json = {
        "format": PROBLEM_FORMAT,
        "origin": at.isoformat(),
        "duration_factor_by_level": {
            str(k): v for k, v in problem.duration_factor_by_level.items()
        },
        "skill_catalog": sorted(problem.skill_catalog) if problem.skill_catalog else None,
        "technicians": [_technician_dict(t, at) for t in problem.technicians],
        "orders": [_order_dict(o, at) for o in problem.orders],
    }
    if include_travel:
        doc["travel_s"] = problem.travel_s.tolist()
    return doc


def _technician_dict(tech: Technician, at: datetime) -> Json:
    shifts = [
        {"start": iso_at(at, s.start_s), "end": iso_at(at, s.end_s), "breaks": [
            {"earliest_start": iso_at(at, b.earliest_start_s),
             "latest_start": iso_at(at, b.latest_start_s), "duration_s": b.duration_s}
            for b in s.breaks
        ]}
        for s in tech.shifts
    ]  # fmt: skip
    return {
        "id": tech.id, "start": list(tech.start), "end": list(tech.end) if tech.end else None,
        "shifts": shifts, "skills": dict(tech.skills), "max_orders": tech.max_orders,
        "max_working_s": tech.max_working_s, "capacity": tech.capacity,
        "territory": sorted(tech.territory) if tech.territory is not None else None,
        "current_position": list(tech.current_position) if tech.current_position else None,
        "available_from": None if tech.available_from_s is None
        else iso_at(at, tech.available_from_s),
        "locked_stops": list(tech.locked_stops), "stock": dict(tech.stock),
    }  # fmt: skip


def _order_dict(order: WorkOrder, at: datetime) -> Json:
    return {
        "id": order.id, "location": list(order.location), "duration_s": order.duration_s,
        "required_skills": dict(order.required_skills),
        "windows": [{"start": iso_at(at, w.start_s), "end": iso_at(at, w.end_s)}
                    for w in order.windows],
        "priority": order.priority,
        "sla_deadline": None if order.sla_deadline_s is None else iso_at(at, order.sla_deadline_s),
        "demand": order.demand, "pinned_to": order.pinned_to, "region_id": order.region_id,
        "parts": dict(order.parts),
    }  # fmt: skip
