"""The FastAPI application factory; nothing is built at import time."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from api import health
from api.adjustments import router as adjustments
from api.bills import router as bills
from api.config import Settings, get_settings
from api.contract import install_contract
from api.customers import router as customers
from api.db.spatial import make_engine
from api.devices import router as devices
from api.devices.service import rules_in_force as device_rules
from api.dispatch import router as dispatch
from api.dispatch.live_plans import LivePlanCache
from api.dispatch.runs import run_executor_lifespan
from api.earnings import router as earnings
from api.errors import LastResort, install_error_handlers
from api.escalations import router as escalations
from api.escalations.service import rules_in_force as escalation_rules
from api.escalations.worker import escalation_worker_lifespan
from api.inquiries import router as inquiries
from api.leads import router as leads
from api.limits import BodySizeLimit, CompressPaths, StorableParams
from api.map import router as map_router
from api.map.assets import mount_assets
from api.me import router as me_router
from api.observability import router as observability
from api.observability.metrics import ServiceMetrics
from api.observability.middleware import RequestObserver
from api.pages import router as pages
from api.pages.access import install_page_handlers
from api.price_lists import router as price_lists
from api.procedures import router as procedures
from api.procedures.repository import library as procedure_library
from api.rate_cards import router as rate_cards
from api.regions import router as regions
from api.regions.cache import RegionCache
from api.reports import router as reports
from api.settlement import router as settlement
from api.technicians import router as technicians
from api.tickets import router as tickets
from api.webhooks import router as webhooks
from api.webhooks.delivery import webhook_worker_lifespan

API_PREFIX = "/v1"
PAGES_STATIC = Path(__file__).parent / "pages" / "static"
MAP_STATIC = Path(__file__).parent / "map" / "static"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Own the dispatch run executor, the webhook and escalation workers when on, the engine."""
    async with (
        run_executor_lifespan(app),
        webhook_worker_lifespan(app),
        escalation_worker_lifespan(app),
    ):
        _freeze_startup_objects()
        yield
    # Pooled connections are closed here, not by the garbage collector at interpreter exit,
    # where closing a SpatiaLite connection has crashed the process.
    app.state.engine.dispose()


def _freeze_startup_objects() -> None:
    """Keep the objects that live as long as the process out of the garbage collector's scans.

    The solver, geometry and web stacks leave about 190,000 tracked objects after start-up, and
    a full collection of them stops every request in the process for about 130 ms: the slowest
    percent of ticket POSTs were those pauses. Frozen, a full collection scans only what the
    requests allocated since.
    """
    gc.collect()
    gc.freeze()


def operation_id(route: APIRoute) -> str:
    """Return the public ``operationId`` of ``route``: its resource, then its action.

    The resource is the route's first tag, else the path segment after ``/v1`` (the map layers;
    a page at ``/`` has neither and keeps its handler's name).
    The handler's name follows without the resource noun, so ``create_ticket`` under ``tickets``
    is ``tickets_create`` and ``upload_rate_card`` under ``rate cards`` is ``rate_cards_upload``.
    Generated clients name their functions and body models after these ids:
    ``tests/api/test_openapi_client.py`` lists them all, so a renamed handler cannot change one
    unnoticed.
    """
    segments = [s for s in route.path_format.split("/") if s and s != API_PREFIX.strip("/")]
    resource = str(route.tags[0]) if route.tags else next(iter(segments), "")
    if not resource:
        return route.name
    words = resource.replace("-", " ").split()
    plural = "_".join(words)
    singular = "_".join([*words[:-1], words[-1].removesuffix("s")])
    action = f"_{route.name}_"
    for noun in (plural, singular):
        action = action.replace(f"_{noun}_", "_")
    action = action.strip("_")
    return f"{plural}_{action}" if action else plural


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service for ``settings`` (default: the environment's ``GEODISPATCH_*``)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="geodispatch",
        version="0.1.0",
        summary="Geospatial dispatch and settlement for field-service companies.",
        lifespan=_lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    procedure_library(settings.procedures_dir)  # a broken procedure file stops the start
    device_rules(settings)  # so does a broken device rules file
    escalation_rules(settings)  # and a broken escalation rules file
    app.state.engine = make_engine(
        settings.database_url,
        spatialite_library_path=settings.spatialite_library_path,
        pre_ping=settings.database_pre_ping,
    )
    app.state.region_cache = RegionCache()
    app.state.live_plans = LivePlanCache()
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(StorableParams)  # a NUL in the query or path: 422, not a database error
    app.add_middleware(CompressPaths, prefixes=("/v1/map/", "/map", "/static/"))
    app.add_middleware(LastResort)  # inside the observer: an unhandled error is counted as 500
    app.state.metrics = ServiceMetrics()
    # Added last, so outermost: a 413 of BodySizeLimit gets an id and is counted too.
    app.add_middleware(RequestObserver, metrics=app.state.metrics, engine=app.state.engine)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(observability.router)
    resources = (regions, tickets, technicians, leads, dispatch, rate_cards, settlement, earnings)
    for module in (*resources, adjustments, webhooks, inquiries, escalations):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(settlement.tickets_router, prefix=API_PREFIX)
    app.include_router(customers.router, prefix=API_PREFIX)
    app.include_router(price_lists.router, prefix=API_PREFIX)
    app.include_router(bills.router, prefix=API_PREFIX)
    app.include_router(reports.router, prefix=API_PREFIX)
    app.include_router(procedures.router, prefix=API_PREFIX)
    app.include_router(devices.router, prefix=API_PREFIX)
    install_page_handlers(app)
    app.include_router(pages.router)
    app.include_router(map_router.router)
    app.include_router(me_router.router)
    app.include_router(reports.page_router)
    app.include_router(customers.page_router)
    app.mount("/static/app", StaticFiles(directory=PAGES_STATIC), name="app-static")
    app.mount("/static/map", StaticFiles(directory=MAP_STATIC), name="map-static")
    mount_assets(app)
    install_contract(app)  # every route's error responses in its OpenAPI; 405 with all methods
    return app
