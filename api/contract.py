"""What every route's contract says about its refusals, read off the route itself.

A route answers 401 and 403 when it authenticates its caller, 404 when its path names an
object, 400 (a body that does not parse), 413 (a body over the limit) and 422 when it takes a
body, 422 when it takes parameters, and 503 when it uses the database; every one of these in
the one error body. ``install_contract`` writes them into each route's OpenAPI responses, so
the document lists every status a route can answer (``tests/api/test_schema_fuzz.py`` checks
that it does), and answers a method a path does not take with 405 and an ``Allow`` header
that lists every method the path does take (Starlette's names only the first route's).
"""

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, Field
from starlette.routing import Match, Route

from api.auth import get_principal
from api.deps import get_session
from api.errors import error_body

MEANING = {
    400: "the body does not parse as its declared content type; `error.code` `bad_request`",
    401: "no, an invalid or a revoked bearer token",
    403: "the caller's role, or the object's owner, does not allow this",
    404: "no such object, or not one the caller may see",
    413: "the body is over the size limit; `error.details.max_bytes` says the limit",
    422: "invalid input: `error.details.errors` lists `{field, in, message}`, the first one "
    "also in `error.message`",
    503: "the database is unavailable for the moment; retry after `Retry-After` seconds",
}


class ErrorDetail(BaseModel):
    """What went wrong: a stable code, a readable message, what a client needs to act."""

    code: str = Field(examples=["validation_error"])
    message: str = Field(examples=["location[0]: Input should be less than or equal to 180"])
    details: dict[str, Any] = Field(description="e.g. `errors` (422), `field`, ids that exist")
    request_id: str | None = Field(description="quote it when reporting a problem")


class ErrorBody(BaseModel):
    """The one error body of the API, for every 4xx and 5xx."""

    error: ErrorDetail


def _tree(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _tree(sub)


def error_statuses(route: Any) -> set[int]:
    """Return the error statuses ``route`` can answer whatever it does (see the module)."""
    tree = list(_tree(route.dependant))
    calls = {d.call for d in tree}
    statuses = {401, 403} if get_principal in calls else set()
    if any(d.path_params for d in tree):
        statuses |= {404, 422}
    if route.body_field is not None:
        statuses |= {400, 413, 422}
    if any(d.query_params or d.header_params for d in tree):
        statuses.add(422)
    if get_session in calls:
        statuses.add(503)
    return statuses


def _error_content() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}


def add_error_responses(app: FastAPI, document: dict[str, Any]) -> dict[str, Any]:
    """Write every route's error statuses into ``document`` (the app's OpenAPI), in the error body.

    FastAPI documents a 422 of its own shape (``HTTPValidationError``), which the API never
    sends: it becomes the error body, as does every error status a route declared without one.
    """
    paths = document.get("paths", {})
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(error_statuses(route)):
                responses.setdefault(str(status), {"description": MEANING[status]})
            for status, response in responses.items():
                if status[0] in "45" and "HTTPValidationError" in str(response.get("content")):
                    response["description"] = MEANING[422]
                    response["content"] = _error_content()
                elif status[0] in "45":
                    response.setdefault("content", _error_content())
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        if name not in str(paths):
            schemas.pop(name, None)
    defs = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(defs.pop("$defs", {}))
    schemas["ErrorBody"] = defs
    return document


def document_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` list every route's error statuses (``add_error_responses``)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_error_responses(app, generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def method_not_allowed(request: Request, _exc: Exception) -> JSONResponse:
    """Answer 405 naming every method the path takes, in ``Allow`` and in the body."""
    allowed: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)
            if match in (Match.FULL, Match.PARTIAL):
                allowed |= route.methods
    methods = sorted(allowed)
    body = error_body(
        "method_not_allowed",
        f"{request.method} is not allowed here; allowed: {', '.join(methods)}",
        {"allowed": methods},
    )
    return JSONResponse(status_code=405, content=body, headers={"Allow": ", ".join(methods)})


def install_contract(app: FastAPI) -> None:
    """Document every route's error responses; answer 405 with the path's every method."""
    document_errors(app)
    app.add_exception_handler(405, method_not_allowed)
