"""The OpenAPI document: every request body is documented with an example that the API accepts.

Nothing here touches the database: building the app and its OpenAPI document only needs
settings, and ``/docs`` and ``/openapi.json`` run no dependency.
"""

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, routing
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from api.config import PROJECT_ROOT, Settings
from api.documents import DocumentFormat
from api.leads.csv_rows import COLUMNS
from api.leads.router import _parse_csv
from api.leads.rules.model import Channel
from api.main import create_app
from api.price_lists.repository import parse_document as price_list_document
from api.rate_cards.repository import parse_document
from settlement import RateCard, check_regions, parse_rate_card
from settlement.errors import SettlementError
from settlement.price_list import parse_price_list

BODY_METHODS = {"POST", "PUT", "PATCH"}
DEMO_REGIONS = PROJECT_ROOT / "data" / "regions.geojson"

# The model-less JSON bodies (documented with ``openapi_extra``) and what the route does with them.
Check = Callable[[Any], None]


def _demo_region_ids() -> set[str]:
    collection = json.loads(DEMO_REGIONS.read_text(encoding="utf-8"))
    return {feature["properties"]["id"] for feature in collection["features"]}


def _rate_card(document: str, document_format: DocumentFormat) -> RateCard:
    """Parse a card document as ``POST /v1/rate-cards`` does, region ids included."""
    card = parse_rate_card(parse_document(document, document_format))
    check_regions(card, _demo_region_ids())
    return card


def _check_json_rate_card(example: Any) -> None:
    _rate_card(json.dumps(example, ensure_ascii=False), "json")


def _check_json_price_list(example: Any) -> None:
    document = json.dumps(example, ensure_ascii=False)
    parse_price_list(price_list_document(document, "json"))


MODEL_LESS_JSON_BODIES: dict[tuple[str, str], Check] = {
    ("POST", "/v1/rate-cards"): _check_json_rate_card,
    ("POST", "/v1/price-lists"): _check_json_price_list,
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The service on a throwaway SQLite URL that nothing connects to."""
    url = f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'unused.sqlite'}"
    application = create_app(Settings(database_url=url))
    yield application
    application.state.engine.dispose()
    assert not Path(url.removeprefix("sqlite:///")).exists(), "the OpenAPI tests opened the DB"


@pytest.fixture(scope="module")
def spec(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document."""
    return app.openapi()


def _schema_routes(app: FastAPI) -> Iterator[Any]:
    """Every route of the app with its full path, included routers flattened."""
    iterate = getattr(routing, "iter_route_contexts", None)  # FastAPI >= 0.165
    for route in iterate(app.routes) if iterate else app.routes:
        if getattr(route, "include_in_schema", False):
            yield route


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _examples(spec: dict[str, Any], media: dict[str, Any]) -> list[Any]:
    """The examples of a request-body media type: its own, else its component schema's."""
    found = [media["example"]] if "example" in media else []
    found += [e["value"] for e in media.get("examples", {}).values() if "value" in e]
    ref = media.get("schema", {}).get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        component = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
        found += component.get("examples", [])
        found += [component["example"]] if "example" in component else []
    return found


def body_example_problems(app: FastAPI) -> list[str]:
    """Why the JSON request bodies of ``app`` are not all documented with valid examples.

    Walks the app's routes (not a fixed list), so a new JSON-body route is checked as soon as it
    is added. The body of a route with a pydantic body parameter is validated against it; a body
    documented only through ``openapi_extra`` needs an entry in ``MODEL_LESS_JSON_BODIES``.
    """
    spec = app.openapi()
    problems: list[str] = []
    for route in _schema_routes(app):
        for method in sorted(set(route.methods or ()) & BODY_METHODS):
            where = f"{method} {route.path_format}"
            body = spec["paths"][route.path_format][method.lower()].get("requestBody")
            content = (body or {}).get("content", {})
            body_field = getattr(route, "body_field", None)
            if body_field is not None and not any(_is_json(m) for m in content):
                problems.append(f"{where}: a body parameter but no JSON request body documented")
            for media_type, media in content.items():
                if not _is_json(media_type):
                    continue
                examples = _examples(spec, media)
                if not examples:
                    problems.append(f"{where} {media_type}: no example")
                    continue
                if body_field is not None:
                    adapter = TypeAdapter[Any](body_field.field_info.annotation)

                    def check(example: Any, adapter: TypeAdapter[Any] = adapter) -> None:
                        adapter.validate_python(example)

                else:
                    key = (method, route.path_format)
                    if key not in MODEL_LESS_JSON_BODIES:
                        problems.append(f"{where} {media_type}: no model to check examples with")
                        continue
                    check = MODEL_LESS_JSON_BODIES[key]
                for i, example in enumerate(examples):
                    try:
                        check(example)
                    except (ValidationError, ValueError, SettlementError) as err:
                        problems.append(f"{where} {media_type} example {i}: {err}")
    return problems


def test_every_json_request_body_has_a_valid_example(app: FastAPI) -> None:
    assert body_example_problems(app) == []


def test_the_check_covers_the_known_json_bodies(app: FastAPI, spec: dict[str, Any]) -> None:
    """The route walk finds the body models (a walk that found nothing would pass vacuously)."""
    models = {
        (method, route.path_format): route.body_field.field_info.annotation.__name__
        for route in _schema_routes(app)
        for method in route.methods or ()
        if getattr(route, "body_field", None) is not None
    }
    assert models[("POST", "/v1/tickets/batch")] == "TicketBatchCreate"
    assert models[("PATCH", "/v1/technicians/{technician_id}")] == "TechnicianUpdate"
    assert models[("PUT", "/v1/technicians/{technician_id}/shifts")] == "ShiftsPut"
    assert len(models) >= 20
    json_bodies = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if any(_is_json(m) for m in operation.get("requestBody", {}).get("content", {}))
    }
    assert json_bodies == set(models) | set(MODEL_LESS_JSON_BODIES)


class _Undocumented(BaseModel):
    name: str


class _Documented(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": 42}]})

    name: str


def test_a_new_json_route_without_a_valid_example_fails_the_check(app: FastAPI) -> None:
    probe = create_app(app.state.settings)
    try:

        @probe.post("/v1/probe")
        def undocumented(body: _Undocumented) -> None: ...

        @probe.put("/v1/probe/{probe_id}")
        def wrong_example(probe_id: int, body: _Documented) -> None: ...

        problems = body_example_problems(probe)
    finally:
        probe.state.engine.dispose()
    assert problems[0] == "POST /v1/probe application/json: no example"
    assert problems[1].startswith("PUT /v1/probe/{probe_id} application/json example 0:")
    assert len(problems) == 2


def _request_body(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    body: dict[str, Any] = spec["paths"][path][method]["requestBody"]
    return body


def test_the_csv_lead_import_is_documented_as_a_file_upload_and_a_csv_body(
    spec: dict[str, Any],
) -> None:
    body = _request_body(spec, "post", "/v1/leads/import")
    assert body["required"] is True
    assert set(body["content"]) == {"text/csv", "multipart/form-data"}
    multipart = body["content"]["multipart/form-data"]
    assert multipart["schema"]["required"] == ["file"]
    file_field = multipart["schema"]["properties"]["file"]
    assert (file_field["type"], file_field["format"]) == ("string", "binary")
    assert all(column in file_field["description"] for column in COLUMNS)
    assert multipart["encoding"]["file"]["contentType"] == "text/csv"
    csv_examples = [multipart["example"]["file"], body["content"]["text/csv"]["example"]]
    for csv_text in csv_examples:
        valid, errors = _parse_csv(csv_text.encode(), Channel.CSV, None)
        assert errors == []
        assert len(valid) == 3
        header = csv_text.splitlines()[0].split(",")
        assert set(header) == set(COLUMNS)  # the example shows every column


def test_the_rate_card_upload_is_documented_as_toml_and_json(spec: dict[str, Any]) -> None:
    content = _request_body(spec, "post", "/v1/rate-cards")["content"]
    assert set(content) == {"application/toml", "application/json"}
    toml_card = _rate_card(content["application/toml"]["example"], "toml")
    json_card = _rate_card(json.dumps(content["application/json"]["example"]), "json")
    assert json_card.content_hash == toml_card.content_hash  # the same card in both formats


def test_docs_and_openapi_json_are_served(app: FastAPI) -> None:
    client = TestClient(app)  # no lifespan: no run executor, no webhook worker
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    served = client.get("/openapi.json")
    assert served.status_code == 200
    paths = served.json()["paths"]
    assert set(paths) == {route.path_format for route in _schema_routes(app)}
    assert {"/health", "/v1/tickets/batch", "/v1/leads/import", "/v1/rate-cards"} <= set(paths)
    operations = sum(len(item) for item in paths.values())
    routes = sum(len(route.methods or ()) for route in _schema_routes(app))
    assert operations == routes
