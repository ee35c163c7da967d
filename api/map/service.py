"""The map's use cases: each layer of the dispatcher's map as a GeoJSON FeatureCollection.

Geometry leaves in the display datum (``map_tiles_crs``); everything is computed from stored
WGS84 data. Coordinates are rounded to 6 decimals (about 0.1 m) to keep the payloads small.
"""

from collections import Counter, defaultdict
from collections.abc import Collection
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy.orm import Session

import shapely
from shapely.geometry import box, mapping

from api.map import repository as repo
from api.map.rules import (
    OPEN_STATUSES,
    DisplayCrs,
    geometry_to_display,
    lateness,
    simplify_tolerance_deg,
    spread,
    surge_ratio,
    technician_state,
    to_display,
)
from api.map.schemas import MapQuery
from api.schemas import BBox
from api.tickets.rules import sla_flags
from geo.regions import Region, RegionIndex

FeatureCollection = dict[str, Any]


def _collection(features: list[dict[str, Any]], **meta: Any) -> FeatureCollection:
    return {"type": "FeatureCollection", "features": features, **meta}


def _point(feature_id: str, xy: np.ndarray, properties: dict[str, Any]) -> dict[str, Any]:
    coordinates = [round(float(xy[0]), 6), round(float(xy[1]), 6)]
    return {
        "type": "Feature",
        "id": feature_id,
        "geometry": {"type": "Point", "coordinates": coordinates},
        "properties": properties,
    }


def _iso(value: datetime | None, zone: ZoneInfo) -> str | None:
    return None if value is None else value.astimezone(zone).isoformat(timespec="minutes")


def _clock(value: datetime | None, zone: ZoneInfo) -> str | None:
    """``HH:MM`` local time: the layers are for one day, so the date adds nothing."""
    if value is None:
        return None
    local = value.astimezone(zone)
    return f"{local.hour:02d}:{local.minute:02d}"  # strftime costs 3x more, 30,000 times a layer


def _window(ticket: repo.TicketSpot, zone: ZoneInfo) -> str | None:
    if ticket.window_start_at is None or ticket.window_end_at is None:
        return None
    return f"{_clock(ticket.window_start_at, zone)}-{_clock(ticket.window_end_at, zone)}"


def _chain(index: RegionIndex, region_id: str | None) -> list[str]:
    """Return ``region_id`` and its ancestors; none for a region no longer stored."""
    return index.ancestors(region_id) if region_id is not None and region_id in index else []


def _in_region(index: RegionIndex, region_id: str) -> frozenset[str]:
    """Return the region and those inside it; an id nobody stored is a 422 (UnknownRegion)."""
    index.get(region_id)
    return index.descendants(region_id)


# --- regions -------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _simplified(region: Region, zoom: int, crs: DisplayCrs) -> dict[str, Any]:
    """Return a region's geometry for ``zoom`` as GeoJSON (kept per region, zoom and datum)."""
    simple = shapely.simplify(region.geometry, simplify_tolerance_deg(zoom), preserve_topology=True)
    shown = shapely.set_precision(geometry_to_display(simple, crs), 1e-6)
    geojson: dict[str, Any] = mapping(shown)
    return geojson


def region_layer(
    session: Session, index: RegionIndex, query: MapQuery, *, now: datetime, crs: DisplayCrs
) -> FeatureCollection:
    """Regions coloured by coefficient, with the surge ratio of the day's open demand."""
    regions = list(index.regions)
    if query.region_id is not None:
        wanted = _in_region(index, query.region_id)
        regions = [r for r in regions if r.id in wanted]
    if query.bbox is not None:
        view = box(*query.bbox)
        regions = [r for r in regions if r.geometry.intersects(view)]
    demand, supply = _demand_and_supply(session, index, query, now=now)
    features = []
    for region in sorted(regions, key=lambda r: (r.priority, -r.area_m2)):  # big ones first
        open_demand, available = demand[region.id], supply[region.id]
        coefficient = region.attributes.get("coefficient")
        properties = {
            "name_zh": region.name_zh,
            "name_en": region.name_en,
            "level": region.level,
            "coefficient": None if coefficient is None else str(coefficient),
            "open": open_demand,
            "available": available,
            "surge": surge_ratio(open_demand, available),
        }
        features.append(
            {
                "type": "Feature",
                "id": region.id,
                "geometry": _simplified(region, query.zoom, crs),
                "properties": properties,
            }
        )
    return _collection(features)


def _demand_and_supply(
    session: Session, index: RegionIndex, query: MapQuery, *, now: datetime
) -> tuple[Counter[str], Counter[str]]:
    """Count open tickets and available technicians in each region and its ancestors."""
    demand: Counter[str] = Counter()
    counts = repo.open_tickets_by_region(
        session, start=query.start, end=query.end, statuses=OPEN_STATUSES
    )
    for region_id, count in counts.items():
        for region in _chain(index, region_id):
            demand[region] += count
    supply: Counter[str] = Counter()
    spots = repo.technicians(session, day=query.day)
    on_shift = [s for s in spots if s.shift_start_at is not None]
    if on_shift:
        lons = [s.seen_lon if s.seen_lon is not None else s.base_lon for s in on_shift]
        lats = [s.seen_lat if s.seen_lat is not None else s.base_lat for s in on_shift]
        for region_id in index.locate(lons, lats):
            supply.update(_chain(index, region_id))
    return demand, supply


# --- technicians ---------------------------------------------------------------------------


def technician_layer(session: Session, query: MapQuery, *, now: datetime, crs: DisplayCrs) -> Any:
    """Technicians where last seen (else at their base), coloured by state, with their load."""
    spots = repo.technicians(session, day=query.day, technician_id=query.technician_id)
    day_loads = {
        load.technician_id: load
        for load in repo.loads(session, start=query.start, end=query.end)
        if load.technician_id is not None
    }
    lons = [s.seen_lon if s.seen_lon is not None else s.base_lon for s in spots]
    lats = [s.seen_lat if s.seen_lat is not None else s.base_lat for s in spots]
    positions = to_display(lons, lats, crs)
    features = []
    for i, (spot, xy) in enumerate(zip(spots, positions, strict=True)):
        if query.bbox is not None and not _inside(query.bbox, lons[i], lats[i]):
            continue
        load = day_loads.get(spot.id)
        state = technician_state(
            now=now,
            shift_start_at=spot.shift_start_at,
            shift_end_at=spot.shift_end_at,
            ticket_statuses=_busy_statuses(load),
        )
        properties = {
            "name": spot.name,
            "state": state.value,
            "skills": spot.skills,
            "orders": 0 if load is None else load.tickets,
            "done": 0 if load is None else load.done,
            "working_min": _working_minutes(load),
            "limit_min": _shift_minutes(spot),
            "seen_at": _iso(spot.seen_at, query.zone),
            "is_at_base": spot.seen_lon is None,
        }
        features.append(_point(spot.id, xy, properties))
    return _collection(features)


def _busy_statuses(load: repo.Load | None) -> list[str]:
    if load is None:
        return []
    return [s for s, busy in (("on_site", load.is_on_site), ("en_route", load.is_en_route)) if busy]


def _inside(bbox: BBox, lon: float, lat: float) -> bool:
    return bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]


def _working_minutes(load: repo.Load | None) -> int:
    """Minutes from the first planned arrival to the last planned departure (travel included)."""
    if load is None or load.first_arrival_at is None or load.last_departure_at is None:
        return 0
    return round((load.last_departure_at - load.first_arrival_at).total_seconds() / 60)


def _shift_minutes(spot: repo.TechnicianSpot) -> int | None:
    if spot.shift_start_at is None or spot.shift_end_at is None:
        return None
    return round((spot.shift_end_at - spot.shift_start_at).total_seconds() / 60) - spot.break_min


# --- tickets, unassigned, routes -----------------------------------------------------------


def _day_tickets(
    session: Session,
    index: RegionIndex,
    query: MapQuery,
    *,
    is_planned: bool = False,
    ticket_ids: Collection[int] | None = None,
) -> list[repo.TicketSpot]:
    region_ids = None if query.region_id is None else _in_region(index, query.region_id)
    return repo.tickets(
        session,
        start=query.start,
        end=query.end,
        bbox=query.bbox,
        region_ids=region_ids,
        technician_id=query.technician_id,
        is_planned=is_planned,
        ticket_ids=ticket_ids,
    )


def ticket_layer(
    session: Session,
    index: RegionIndex,
    query: MapQuery,
    *,
    now: datetime,
    crs: DisplayCrs,
    at_risk_margin: timedelta,
) -> FeatureCollection:
    """Return the day's tickets with status, priority, planned visit and late/at-risk flag."""
    tickets = _day_tickets(session, index, query)
    positions = to_display([t.lon for t in tickets], [t.lat for t in tickets], crs)
    features = []
    for ticket, xy in zip(tickets, positions, strict=True):
        is_at_risk, is_overdue = sla_flags(
            status=ticket.status, sla_due_at=ticket.sla_due_at, now=now,
            at_risk_margin=at_risk_margin,
        )  # fmt: skip
        properties: dict[str, Any] = {
            "ext": ticket.external_id,
            "type": ticket.type,
            "status": ticket.status,
            "priority": ticket.priority,
        }
        optional = {
            "tech": ticket.technician_id,
            "tier": ticket.customer_tier,
            "seq": ticket.sequence,
            "eta": _clock(ticket.eta_at, query.zone),
            "window": _window(ticket, query.zone),
            "flag": lateness(
                now=now,
                status=ticket.status,
                window_end_at=ticket.window_end_at,
                start_at=ticket.start_at,
                is_at_risk=is_at_risk,
                is_overdue=is_overdue,
            ),
        }
        # Empty ones are left out: a 10,000-ticket layer would send each name 10,000 times.
        properties.update((key, value) for key, value in optional.items() if value is not None)
        features.append(_point(str(ticket.id), xy, properties))
    return _collection(features)


def unassigned_layer(
    session: Session, index: RegionIndex, query: MapQuery, *, crs: DisplayCrs
) -> FeatureCollection:
    """Tickets the day's applied plans left out and that are still unplaced, with the reason."""
    reasons = _unassigned_reasons(session, query.day)
    left_out = [int(ticket_id) for ticket_id in reasons]
    tickets = [
        t for t in _day_tickets(session, index, query, ticket_ids=left_out) if t.status == "new"
    ]
    positions = to_display([t.lon for t in tickets], [t.lat for t in tickets], crs)
    features = []
    for ticket, xy in zip(tickets, positions, strict=True):
        reason, message = reasons[str(ticket.id)]
        properties = {
            "ext": ticket.external_id,
            "priority": ticket.priority,
            "reason": reason,
            "message": message,
            "address": ticket.address,
        }
        features.append(_point(f"u{ticket.id}", xy, properties))
    return _collection(features)


def _unassigned_reasons(session: Session, day: date) -> dict[str, tuple[str, str]]:
    """Return the latest applied plan's reason for each ticket it left out."""
    reasons: dict[str, tuple[str, str]] = {}
    for plan in repo.applied_plans(session, day=day):
        for route in plan.get("routes", []):
            for stop in route.get("stops", []):
                reasons.pop(str(stop["order_id"]), None)
        for item in plan.get("unassigned", []):
            reasons[str(item["order_id"])] = (item["reason"], item["message"])
    return reasons


def route_layer(
    session: Session, index: RegionIndex, query: MapQuery, *, crs: DisplayCrs
) -> FeatureCollection:
    """Return each planned route: a line from the base through the stops, and numbered stops."""
    tickets = _day_tickets(session, index, query, is_planned=True)
    bases = {
        s.id: (s.base_lon, s.base_lat)
        for s in repo.technicians(session, day=query.day, technician_id=query.technician_id)
    }
    by_tech: dict[str, list[repo.TicketSpot]] = defaultdict(list)
    for ticket in tickets:
        if ticket.technician_id is not None:
            by_tech[ticket.technician_id].append(ticket)
    features = []
    for tech_id, stops in sorted(by_tech.items()):
        stops.sort(key=lambda t: t.sequence or 0)
        base = bases.get(tech_id)
        lons = ([base[0]] if base else []) + [t.lon for t in stops]
        lats = ([base[1]] if base else []) + [t.lat for t in stops]
        line = to_display(lons, lats, crs).round(6).tolist()
        properties = {"tech": tech_id, "stops": len(stops)}
        features.append(
            {
                "type": "Feature",
                "id": f"r-{tech_id}",
                "geometry": {"type": "LineString", "coordinates": line},
                "properties": properties,
            }
        )
        offset = 1 if base else 0
        for i, stop in enumerate(stops):
            stop_properties = {
                "tech": tech_id,
                "seq": stop.sequence,
                "eta": _clock(stop.eta_at, query.zone),
                "ext": stop.external_id,
            }
            xy = np.asarray(line[i + offset])
            features.append(_point(f"s-{stop.id}", xy, stop_properties))
    return _collection(features)


# --- KPIs ----------------------------------------------------------------------------------


def day_kpis(session: Session, index: RegionIndex, query: MapQuery, *, now: datetime) -> Any:
    """Return the day at a glance: assigned, unassigned by reason, on time, km, spread."""
    region_ids = None if query.region_id is None else _in_region(index, query.region_id)
    day_loads = repo.loads(
        session, start=query.start, end=query.end, region_ids=region_ids,
        technician_id=query.technician_id,
    )  # fmt: skip
    held = [load for load in day_loads if load.technician_id is not None]
    unheld = sum(load.tickets for load in day_loads if load.technician_id is None)
    reasons = _unassigned_reasons(session, query.day)
    in_view = {
        t.id for t in _day_tickets(session, index, query, ticket_ids=[int(i) for i in reasons])
        if t.status == "new"
    }  # fmt: skip
    unassigned = Counter(reasons[str(ticket_id)][0] for ticket_id in in_view)
    planned = sum(load.planned for load in held)
    busy = [load for load in held if load.planned]
    return {
        "day": query.day.isoformat(),
        "tickets": unheld + sum(load.tickets for load in held),
        "assigned": sum(load.tickets for load in held),
        "unassigned": len(in_view),
        "unassigned_by_reason": dict(sorted(unassigned.items())),
        "unplanned": unheld - len(in_view),
        "done": sum(load.done for load in day_loads),
        "on_time_rate": None if not planned else round(sum(x.on_time for x in held) / planned, 3),
        "travel_km": _planned_km(session, query, {str(load.technician_id) for load in busy}),
        "working_min": spread([_working_minutes(load) for load in busy]),
        "technicians_busy": len(busy),
        "as_of": now.astimezone(query.zone).isoformat(timespec="seconds"),
    }


def _planned_km(session: Session, query: MapQuery, technician_ids: set[str]) -> float:
    """Sum the applied routes' distances of the technicians in view (latest plan each)."""
    metres: dict[str, float] = {}
    for plan in repo.applied_plans(session, day=query.day):
        for route in plan.get("routes", []):
            if route.get("technician_id") in technician_ids:
                metres[route["technician_id"]] = float(route.get("distance_m") or 0.0)
    return round(sum(metres.values()) / 1000, 1)
