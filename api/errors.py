"""One error body for the whole API: ``{"error": {"code", "message", "details", "request_id"}}``."""

import logging
import math
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.observability.request_ids import current_request_id
from dispatch.errors import DispatchError
from geo.errors import GeoError
from settlement.errors import SettlementError

log = logging.getLogger(__name__)

DOMAIN_ERROR_STATUS: dict[type[Exception], int] = {
    GeoError: 422,
    DispatchError: 422,
    SettlementError: 422,
}


class ApiError(HTTPException):
    """An HTTP error with a stable ``code``: answered as the one error body.

    Raise it wherever a request is refused; ``details`` carries what a client needs to act
    (the offending field, the ids that exist, ...). Every refusal of the API is one of these, a
    domain error (``DOMAIN_ERROR_STATUS``) or a request validation error.
    """

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        detail = {"code": code, "message": message, "details": dict(details or {})}
        super().__init__(status_code, detail, dict(headers) if headers else None)
        self.code = code


def invalid(message: str, errors: list[dict[str, Any]]) -> ApiError:
    """Return the 422 listing ``{field, message}`` problems (the first one in ``message``)."""
    return ApiError(422, "validation_error", message, {"errors": errors})


def invalid_field(field: str, message: str, *, location: str | None = None) -> ApiError:
    """Return the 422 of one bad field (``location``: ``query``, ``path`` or ``body``).

    ``details`` names the field at its top as well as in ``errors``, the list every 422 has.
    """
    error = {"field": field, "message": message} | ({"in": location} if location else {})
    return ApiError(
        422, "validation_error", f"{field}: {message}", {"field": field, "errors": [error]}
    )


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """Build the JSON body of every error response, with the id of the request it answers."""
    return {
        "error": {
            "code": code,
            "message": message,
            "details": _json_safe(details or {}),
            "request_id": current_request_id(),
        }
    }


def _json_safe(value: Any) -> Any:
    """Replace what JSON cannot carry (NaN, Infinity, bytes, lone surrogates, exceptions).

    Pydantic accepts NaN and Infinity into float fields and echoes the bad input back in its
    errors; the stock handler then fails to serialise them and answers 500.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {_json_safe(str(k)): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, str):  # a lone surrogate (JSON "\\ud800") cannot be encoded: "?"
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return _json_safe(jsonable_encoder(value, custom_encoder={Exception: str}))


def field_path(location: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "location", 0)`` -> ``"location[0]"``; the request part is dropped."""
    parts = (
        list(location[1:])
        if location and location[0] in {"body", "query", "path"}
        else list(location)
    )
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or str(location[0] if location else "")


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": field_path(err.get("loc", ())),
            "in": err.get("loc", ("body",))[0],
            "message": err.get("msg", ""),
            "type": err.get("type", ""),
            "input": err.get("input"),
        }
        for err in exc.errors()
    ]
    first = errors[0] if errors else {"field": "", "message": "invalid request"}
    message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    body = error_body("validation_error", message, {"errors": errors})
    return JSONResponse(status_code=422, content=body)


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    status = next(s for cls, s in DOMAIN_ERROR_STATUS.items() if isinstance(exc, cls))
    code = getattr(exc, "code", "error")
    body = error_body(code, str(exc), getattr(exc, "details", {}))
    return JSONResponse(status_code=status, content=body)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail
    if isinstance(detail, dict) and "code" in detail:
        body = error_body(detail["code"], detail.get("message", ""), detail.get("details"))
    else:
        body = error_body(_http_code(exc.status_code), str(detail))
    return JSONResponse(status_code=exc.status_code, content=body, headers=exc.headers)


async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    """Answer 503 when the database cannot serve the request for the moment.

    It was unreachable, dropped the connection or stayed locked, or no pooled connection came
    free in time (every one busy under a burst). Nothing was committed (the transaction failed
    with the connection, or never had one), so the client may retry; with an
    ``Idempotency-Key`` a retry is safe whatever happened.
    """
    assert isinstance(exc, OperationalError | PoolTimeout)
    log.warning("database unavailable: %s", getattr(exc, "orig", None) or exc)
    body = error_body(
        "database_unavailable", "the database is unavailable for the moment; retry shortly"
    )
    return JSONResponse(status_code=503, content=body, headers={"Retry-After": "1"})


def _http_code(status: int) -> str:
    return {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        413: "payload_too_large",
        415: "unsupported_media_type",
        429: "too_many_requests",
    }.get(status, "http_error")


class LastResort:
    """Answer an exception no handler took with the one error body (500), and log it.

    Starlette's own last resort answers plain text and then raises again, so the server closes
    the connection and the client's next request on it fails too. This one sends
    ``internal_error`` with the request's id (the log line carries the traceback under the same
    id) and returns normally, which keeps the connection open. A response already started is
    left to the server: nothing sensible can follow its first bytes.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            if started:
                raise
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            message = "internal error; quote the request id when reporting it"
            response = JSONResponse(status_code=500, content=error_body("internal_error", message))
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Route validation, HTTP and domain errors through the one error body."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    for cls in DOMAIN_ERROR_STATUS:
        app.add_exception_handler(cls, _domain_error)
