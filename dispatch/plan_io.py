"""Plans as plain JSON-ready dicts (``docs/problem-format.md``), times as ISO 8601 instants.

A plan document is what ``geodispatch solve`` writes; reading it back (for an insertion or a
warm start) restores the same ``Plan``, so ``plan_from_dict(plan_to_dict(p)) == p``.
"""

from datetime import datetime
from typing import Any

from dispatch.model import TechnicianId, WorkOrderId
from dispatch.plan import DropReason, Kpis, Plan, Route, Stop, Unassigned
from dispatch.problem_io import Fields, InvalidDocument, Json, iso_at, parse_instant

PLAN_FORMAT = "geodispatch.plan/1"
_STOP_SECONDS = ("wait_s", "slack_s", "lateness_s", "travel_s")


def plan_to_dict(plan: Plan) -> Json:
    """Return the plan document: routes with ISO times, unassigned orders with reasons, KPIs."""
    return _plan_dict(plan, [_route_dict(r, plan.origin) for r in plan.routes])


def plan_dict_with_route(document: Json, plan: Plan, route: Route) -> Json:
    """Return ``plan``'s document from ``document``, the one of a plan that differs in ``route``.

    The other routes' entries are taken from ``document`` (shared, not copied): writing their
    hundreds of ISO times again is most of the cost of ``plan_to_dict`` after an insertion.
    The result equals ``plan_to_dict(plan)``.
    """
    kept = {(r["technician_id"], r["shift_index"]): r for r in document["routes"]}
    changed = (route.technician_id, route.shift_index)
    routes = [
        _route_dict(r, plan.origin) if (key := (r.technician_id, r.shift_index)) == changed
        else kept[key]
        for r in plan.routes
    ]  # fmt: skip
    return _plan_dict(plan, routes)


def _plan_dict(plan: Plan, routes: list[Json]) -> Json:
    at = plan.origin
    k = plan.kpis
    return {
        "format": PLAN_FORMAT,
        "origin": at.isoformat(),
        "routes": routes,
        "unassigned": [
            {"order_id": u.order_id, "reason": u.reason.value, "message": u.message}
            for u in plan.unassigned
        ],
        "kpis": {
            "assigned": k.assigned, "unassigned": k.unassigned, "on_time_rate": k.on_time_rate,
            "travel_km": k.travel_km, "travel_min": k.travel_min,
            "load_s_by_technician": dict(k.load_s_by_technician),
            "load_spread_s": k.load_spread_s, "solve_s": k.solve_s, "objective": k.objective,
            "first_feasible_s": k.first_feasible_s, "polish_gain": k.polish_gain,
        },
    }  # fmt: skip


def _route_dict(route: Route, at: datetime) -> Json:
    stops = [
        {"order_id": s.order_id, "arrival": iso_at(at, s.arrival_s), "start": iso_at(at, s.start_s),
         "end": iso_at(at, s.end_s), **{name: getattr(s, name) for name in _STOP_SECONDS}}
        for s in route.stops
    ]  # fmt: skip
    return {
        "technician_id": route.technician_id, "shift_index": route.shift_index,
        "depart": iso_at(at, route.depart_s), "return": iso_at(at, route.return_s),
        "travel_s": route.travel_s, "service_s": route.service_s,
        "distance_m": route.distance_m, "stops": stops,
    }  # fmt: skip


def plan_from_dict(data: object) -> Plan:
    """Read a plan document back into a ``Plan``; ``InvalidDocument`` names a bad field."""
    doc = Fields(data, "")
    origin = parse_instant(doc.raw("origin"), "origin")
    routes = tuple(_route(Fields(v, p), origin) for v, p in doc.items("routes"))
    unassigned = tuple(_unassigned(Fields(v, p)) for v, p in doc.items("unassigned"))
    kpis = Fields(doc.raw("kpis"), "kpis")
    loads = kpis.typed("load_s_by_technician", dict)
    return Plan(
        origin, routes, unassigned,
        Kpis(
            assigned=kpis.typed("assigned", int), unassigned=kpis.typed("unassigned", int),
            on_time_rate=float(kpis.typed("on_time_rate", (int, float))),
            travel_km=_optional_float(kpis, "travel_km"),
            travel_min=float(kpis.typed("travel_min", (int, float))),
            load_s_by_technician={TechnicianId(t): int(s) for t, s in loads.items()},
            load_spread_s=kpis.typed("load_spread_s", int),
            solve_s=float(kpis.typed("solve_s", (int, float))),
            objective=kpis.typed("objective", int),
            first_feasible_s=_optional_float(kpis, "first_feasible_s"),
            polish_gain=kpis.typed("polish_gain", int, None),
        ),
    )  # fmt: skip


def _optional_float(doc: Fields, key: str) -> float | None:
    value = doc.typed(key, (int, float), None)
    return None if value is None else float(value)


def _route(doc: Fields, origin: datetime) -> Route:
    stops = []
    for value, path in doc.items("stops"):
        stop = Fields(value, path)
        seconds: dict[str, Any] = {name: stop.typed(name, int) for name in _STOP_SECONDS}
        stops.append(
            Stop(
                order_id=WorkOrderId(stop.typed("order_id", str)),
                arrival_s=stop.seconds("arrival", origin) or 0,
                start_s=stop.seconds("start", origin) or 0,
                end_s=stop.seconds("end", origin) or 0, **seconds,
            )
        )  # fmt: skip
    return Route(
        technician_id=TechnicianId(doc.typed("technician_id", str)),
        shift_index=doc.typed("shift_index", int), stops=tuple(stops),
        depart_s=doc.seconds("depart", origin) or 0, return_s=doc.seconds("return", origin) or 0,
        travel_s=doc.typed("travel_s", int), service_s=doc.typed("service_s", int),
        distance_m=_optional_float(doc, "distance_m"),
    )  # fmt: skip


def _unassigned(doc: Fields) -> Unassigned:
    reason = doc.typed("reason", str)
    if reason not in {r.value for r in DropReason}:
        raise InvalidDocument(
            f"{doc.at('reason')} must be one of {[r.value for r in DropReason]}",
            field=doc.at("reason"),
        )
    return Unassigned(WorkOrderId(doc.typed("order_id", str)), DropReason(reason),
                      doc.typed("message", str, ""))  # fmt: skip
