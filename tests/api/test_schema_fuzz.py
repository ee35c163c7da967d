"""Schemathesis against the service's own ``/openapi.json``, in process, on both databases.

Every operation of the schema is generated for by all of Schemathesis's phases (the schema's
examples, its coverage cases of each keyword's edges and their negations, then random
fuzzing) and every response is judged by all of its default checks: no 5xx, only documented
status codes, content types and headers, bodies that match the documented schema (the error
body included), invalid input refused and valid input accepted.

It runs twice, once with an admin's key and once with an integrator's, against a database of
its own (a SpatiaLite file, or a fresh PostGIS database with ``TEST_POSTGIS_ADMIN_URL``) that
each request commits to for real, as in production. The seed is fixed, so a run is repeatable;
``GEODISPATCH_FUZZ_EXAMPLES`` (default 12) bounds the fuzzing phase's cases per operation.
At the end the module prints what it covered: operations, cases, responses by status class,
and failures by check.
"""

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis.core.failures import FailureGroup
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.auth import Role, create_key
from api.config import Settings
from api.datafiles import load_regions
from api.db import migrate
from api.db.spatial import make_engine
from api.main import create_app
from api.regions import repository as region_repo

pytestmark = pytest.mark.db

POSTGIS_ADMIN_URL = os.environ.get("TEST_POSTGIS_ADMIN_URL")
DEMO_REGIONS = Path(__file__).resolve().parents[2] / "data" / "regions.geojson"
EXAMPLES = int(os.environ.get("GEODISPATCH_FUZZ_EXAMPLES", "12"))
SEED = 20261203
# Set, failures are counted and the run goes on (the figures of docs/reliability.md); unset, the
# first failure of an operation fails its test (Hypothesis then shrinks it to a minimal case).
SURVEY = os.environ.get("GEODISPATCH_FUZZ_SURVEY") == "1"


@pytest.fixture(scope="module")
def fuzz_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database with the demo regions, for this module alone: the fuzzer commits."""
    if POSTGIS_ADMIN_URL:
        admin = create_engine(POSTGIS_ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = f"geodispatch_fuzz_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(POSTGIS_ADMIN_URL).set(database=name)
        with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text("CREATE EXTENSION postgis"))
        database_url = url.render_as_string(hide_password=False)
    else:
        database_url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.sqlite'}"
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        region_repo.replace_all(session, regions=load_regions(DEMO_REGIONS, max_vertices=20_000))
    engine.dispose()
    try:
        yield database_url
    finally:
        if POSTGIS_ADMIN_URL:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


@pytest.fixture(scope="module")
def fuzz_app(fuzz_database_url: str) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    """The service on the fuzz database, started (its lifespan runs), and a token per caller."""
    settings = Settings(
        database_url=fuzz_database_url, regions_file=DEMO_REGIONS, webhook_worker_enabled=False
    )
    app = create_app(settings)
    tokens = {}
    with Session(app.state.engine) as session, session.begin():
        for name, binding in {
            "admin": {"role": Role.ADMIN},
            "integrator": {"role": Role.INTEGRATOR, "source": "fuzz-shop"},
        }.items():
            _, tokens[name] = create_key(session, name=f"fuzz-{name}", **binding)  # type: ignore[arg-type]
    with TestClient(app):  # the lifespan: the dispatch run executor
        yield app, tokens
    app.state.engine.dispose()


def _without_lifespan(app: FastAPI) -> Any:
    """``app`` for Schemathesis, whose lifespan the fixture owns (started and stopped once)."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await app(scope, receive, send)

    return asgi


@pytest.fixture(scope="module", params=["admin", "integrator"])
def caller(request: pytest.FixtureRequest, fuzz_app: tuple[FastAPI, dict[str, str]]) -> Any:
    """The app and the ``Authorization`` header of the caller every case is sent as."""
    app, tokens = fuzz_app
    return _without_lifespan(app), {"Authorization": f"Bearer {tokens[request.param]}"}


# Operations whose refusals of schema-valid input come from rules a JSON Schema cannot state:
# between fields of one request, or against what is stored. Schemathesis's
# positive_data_acceptance check takes their 422 (the error body, naming the field) as an
# answer; every other check applies to them as to all operations.
RULES_BEYOND_THE_SCHEMA = {
    "customers_list": "phone and email parse; cursor is one the API returned",
    "customers_list_suggestions": "cursor is one the API returned",
    "customers_merge": "the duplicate is another live customer of the same source",
    "devices_create": "a model of the device rules; a customer of the source; Idempotency-Key",
    "devices_post_events": "occurred_at not in the future; a metric of the model; Idempotency-Key",
    "dispatch_availability": "window_end after window_start, at most a day later",
    "dispatch_override_assignment": "technician_id with assign and pin, not with the others",
    "dispatch_submit_run": "the scope's tickets and region exist",
    "earnings_read": "a range of at most 366 days",
    "escalations_list_firings": "ticket_id or lead_id, not both",
    "earnings_read_statement": "period with date, or first with last",
    "earnings_adjust": "amount with an adjustment, ticket_id with a resettle",
    "inquiries_confirm": "skills of the catalogue; an address on the inquiry or in the body",
    "inquiries_create": "an Idempotency-Key is not reused for another body; the text has words",
    "inquiries_list": "cursor is one the API returned",
    "leads_capture": "an Idempotency-Key is not reused for another body",
    "leads_capture_batch": "an Idempotency-Key is not reused for another body",
    "leads_import_csv": "an Idempotency-Key is not reused; the cells are valid leads",
    "leads_list": "cursor is one the API returned",
    "map_kpis": "the region exists; bbox min before max",
    "map_regions_layer": "the region exists; bbox min before max",
    "map_routes_layer": "the region exists; bbox min before max",
    "map_technicians_layer": "the region exists; bbox min before max",
    "map_tickets_layer": "the region exists; bbox min before max",
    "map_unassigned_layer": "the region exists; bbox min before max",
    "price_lists_upload": "the text is a valid price list (TOML or JSON)",
    "procedures_tick_item": "the item is in the ticket's procedure; a photo step has its photo",
    "rate_cards_upload": "the text is a valid rate card (TOML or JSON)",
    "regions_list": "bbox min before max, on the globe",
    "reports_cost": "first on or before last, at most 366 days apart",
    "reports_lead_funnel": "first on or before last, at most 366 days apart",
    "reports_sla": "first on or before last, at most 366 days apart",
    "reports_utilisation": "first on or before last, at most 366 days apart",
    "settlement_simulate_rate_card": "the versions exist; there are orders to price",
    "technicians_create": "a shift starts before it ends; territory regions exist",
    "technicians_update": "territory regions and skills exist",
    "technicians_put_shifts": "a shift starts before it ends, breaks inside it",
    "tickets_create": "difficulty flags and materials of a card in force; Idempotency-Key",
    "tickets_create_batch": "difficulty flags and materials of a card in force; Idempotency-Key",
    "tickets_create_transition": "a signature with, and only with, to=confirmed",
    "tickets_list": "cursor is one the API returned; bbox min before max",
    "webhooks_create_subscription": "at most 20 subscriptions per source; the URL fits",
    "webhooks_update_subscription": "the URL, once encoded (IDNA, %-escapes), fits 2,000",
}
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]

# A rate card is uploaded as TOML text: sent as the string generated for it, like text/plain.
schemathesis.serializer.alias("application/toml", "text/plain")


def _document() -> dict[str, Any]:
    """The OpenAPI document as the service serves it (no database is touched to build it)."""
    app = create_app(Settings(database_url="sqlite://", regions_file=DEMO_REGIONS))
    document: dict[str, Any] = app.openapi()
    return document


def _load_schema() -> Any:
    """The document loaded by Schemathesis, from an app on no database."""
    placeholder = create_app(Settings(database_url="sqlite://", regions_file=DEMO_REGIONS))
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # NUL (U+0000) is outside the text the service stores, refused with 422 naming the
            # field in every body, query and path (test_hostile_input.py sends it to each kind of
            # input); left in, the schema-valid strings drawn here would count that documented
            # refusal against positive_data_acceptance.
            "generation": {"max-examples": EXAMPLES, "allow-x00": False},
            # Dates and times are bounded to 1970-2199 (a pattern on the year beside
            # `format: date-time`): Hypothesis draws them by filtering, and for an operation
            # with two of them in its query it would stop to say it filters much.
            "suppress-health-check": ["filter_too_much"],
            "operations": [
                {
                    "include-operation-id": operation_id,
                    "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
                }
                for operation_id in RULES_BEYOND_THE_SCHEMA
            ],
        }
    )
    return schemathesis.openapi.from_asgi("/openapi.json", placeholder, config=config)


class Tally:
    """What the fuzzer sent and what came back, for the module's closing lines."""

    def __init__(self) -> None:
        self.operations: set[str] = set()
        self.cases = 0
        self.statuses: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.examples: dict[str, str] = {}

    def response(self, label: str, status: int) -> None:
        self.operations.add(label)
        self.cases += 1
        self.statuses[f"{status // 100}xx"] += 1

    def failure(self, case: Any, response: Any, group: FailureGroup) -> None:
        for failure in group.exceptions:
            kind = failure.checks[0] if failure.checks else type(failure).__name__
            key = f"{kind}: {case.operation.label}: {failure.title}"
            self.failures[key] += 1
            sent = f"{case.path_parameters} {case.query} {str(case.body)[:150]}"
            got = f"{response.status_code} {response.text[:200]}"
            self.examples.setdefault(key, f"{failure.message[:150]} || {sent} -> {got}")

    def lines(self) -> list[str]:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items()))
        lines = [
            f"schema fuzz: {len(self.operations)} operations, {self.cases} cases ({statuses})",
            f"schema fuzz: {sum(self.failures.values())} failing cases",
        ]
        by_check = Counter({k.split(":")[0]: 0 for k in self.failures})
        for key, count in self.failures.items():
            by_check[key.split(":")[0]] += count
        lines += [f"  {check}: {count}" for check, count in sorted(by_check.items())]
        lines += [f"    {k} x{v} | {self.examples[k]!r}" for k, v in sorted(self.failures.items())]
        return lines


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    """Counts for the whole module (both callers), printed when it ends."""
    counts = Tally()
    yield counts
    database = "PostGIS" if POSTGIS_ADMIN_URL else "SpatiaLite"
    lines = [f"[{database}] {line}" for line in counts.lines()]
    if path := os.environ.get("GEODISPATCH_FUZZ_REPORT"):
        Path(path).write_text("\n".join(lines) + "\n")
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)


# Loaded when the module is collected: the lazy ``schemathesis.pytest.from_fixture`` does not run
# on pytest 9.2 (it sets ``Node._nodeid``, which pytest 9.2 no longer has), so the schema comes
# from an app on no database and each case is sent to the fixture's app, on the fuzz database.
schema = _load_schema()


@schema.parametrize()
def test_no_input_breaks_the_contract(case: Any, caller: Any, tally: Tally) -> None:
    app, auth = caller
    response = case.call(app=app, headers=dict(auth))
    tally.response(case.operation.label, response.status_code)
    try:
        case.validate_response(response)
    except FailureGroup as group:
        tally.failure(case, response, group)
        if not SURVEY:
            raise


def test_every_error_status_is_documented_with_the_error_body() -> None:
    document = _document()
    errors = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            statuses = {s for s in operation["responses"] if s[0] in "45"}
            assert statuses, (method, path)
            for status in statuses:
                assert operation["responses"][status]["content"] == errors, (method, path, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_document_states_every_bound_as_json_schema() -> None:
    # A bound pydantic cannot translate reaches the document as "ge"/"le", which no client
    # or fuzzer reads: every bound must be "minimum"/"maximum".
    def raw_bounds(node: Any, where: str) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in {"ge", "le", "gt", "lt"} and not isinstance(value, dict):
                    yield f"{where}/{key}"
                yield from raw_bounds(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from raw_bounds(value, f"{where}[{i}]")

    assert list(raw_bounds(_document(), "")) == []
