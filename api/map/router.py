"""The dispatcher's map page and the GeoJSON layers it refreshes from (admin, dispatcher)."""

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from api.auth import Role, require_roles, utc_now
from api.config import Settings
from api.deps import SessionDep, SettingsDep
from api.map import service
from api.map.page import build_map_page
from api.map.rules import DisplayCrs
from api.map.schemas import MapQueryDep
from api.pages.access import page_roles
from api.pages.templates import csrf_token, page_language

router = APIRouter()
STAFF = require_roles(Role.ADMIN, Role.DISPATCHER)
MAP_PAGE = page_roles(Role.ADMIN, Role.DISPATCHER)
LAYER_TAG = "map"


class GeoJSONResponse(JSONResponse):
    """A GeoJSON layer, served (and documented) as ``application/geo+json``."""

    media_type = "application/geo+json"


def _geojson(body: Any) -> JSONResponse:
    return GeoJSONResponse(body)


def _crs(settings: Settings) -> DisplayCrs:
    return settings.map_tiles_crs


@router.get("/map", include_in_schema=False, dependencies=[MAP_PAGE])
def map_page(request: Request, query: MapQueryDep, settings: SettingsDep) -> HTMLResponse:
    """Show the live map: regions, technicians, tickets, routes, unassigned, the KPIs."""
    html = build_map_page(
        query, settings=settings, lang=page_language(request), csrf_token=csrf_token(request)
    )
    return HTMLResponse(html)


@router.get(
    "/v1/map/regions",
    tags=[LAYER_TAG],
    response_class=GeoJSONResponse,
    summary="Regions with coefficient and surge, simplified for the zoom",
    dependencies=[STAFF],
)
def regions_layer(
    request: Request, query: MapQueryDep, session: SessionDep, settings: SettingsDep
) -> JSONResponse:
    index = request.app.state.region_cache.index(session)
    layer = service.region_layer(session, index, query, now=utc_now(), crs=_crs(settings))
    return _geojson(layer)


@router.get(
    "/v1/map/technicians",
    tags=[LAYER_TAG],
    response_class=GeoJSONResponse,
    summary="Technicians at their latest position, with state and load",
    dependencies=[STAFF],
)
def technicians_layer(
    query: MapQueryDep, session: SessionDep, settings: SettingsDep
) -> JSONResponse:
    return _geojson(service.technician_layer(session, query, now=utc_now(), crs=_crs(settings)))


@router.get(
    "/v1/map/tickets",
    tags=[LAYER_TAG],
    response_class=GeoJSONResponse,
    summary="The day's tickets by status and priority, late and at-risk flagged",
    dependencies=[STAFF],
)
def tickets_layer(
    request: Request, query: MapQueryDep, session: SessionDep, settings: SettingsDep
) -> JSONResponse:
    index = request.app.state.region_cache.index(session)
    margin = timedelta(minutes=settings.sla_at_risk_margin_min)
    layer = service.ticket_layer(
        session, index, query, now=utc_now(), crs=_crs(settings), at_risk_margin=margin
    )
    return _geojson(layer)


@router.get(
    "/v1/map/unassigned",
    tags=[LAYER_TAG],
    response_class=GeoJSONResponse,
    summary="Tickets the applied plans left out, each with the solver's reason",
    dependencies=[STAFF],
)
def unassigned_layer(
    request: Request, query: MapQueryDep, session: SessionDep, settings: SettingsDep
) -> JSONResponse:
    index = request.app.state.region_cache.index(session)
    return _geojson(service.unassigned_layer(session, index, query, crs=_crs(settings)))


@router.get(
    "/v1/map/routes",
    tags=[LAYER_TAG],
    response_class=GeoJSONResponse,
    summary="Applied routes: a line per technician with the stops' order and ETAs",
    dependencies=[STAFF],
)
def routes_layer(
    request: Request, query: MapQueryDep, session: SessionDep, settings: SettingsDep
) -> JSONResponse:
    index = request.app.state.region_cache.index(session)
    return _geojson(service.route_layer(session, index, query, crs=_crs(settings)))


@router.get(
    "/v1/map/kpis",
    tags=[LAYER_TAG],
    summary="The day's KPIs for the view: assigned, unassigned by reason, on time, km, spread",
    dependencies=[STAFF],
)
def kpis(request: Request, query: MapQueryDep, session: SessionDep) -> dict[str, Any]:
    index = request.app.state.region_cache.index(session)
    result: dict[str, Any] = service.day_kpis(session, index, query, now=utc_now())
    return result
