"""The ASGI middleware that gives each HTTP request an id, a log line and its metrics."""

import logging
import re
import time

from sqlalchemy import Engine
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.observability.metrics import UNMATCHED_ROUTE, ServiceMetrics
from api.observability.request_ids import REQUEST_ID_HEADER, request_id_from, set_request_id

log = logging.getLogger("geodispatch.request")

_HEADER_NAME = REQUEST_ID_HEADER.lower().encode("latin-1")


class RequestObserver:
    """Name each request (``X-Request-ID``), then log, count and time it once it is answered.

    The id is the client's ``X-Request-ID`` when sane, else a new one; it is echoed in the
    response header and kept in :mod:`api.observability.request_ids` for the log lines and the
    error bodies. It is not reset when the request ends: the server runs each request in a
    task of its own (with its own copy of the context), and Starlette's last-resort 500 handler,
    which sits outside every added middleware, still reads it after this one has returned.
    """

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics, engine: Engine) -> None:
        self.app = app
        self.metrics = metrics
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(Headers(scope=scope).get(REQUEST_ID_HEADER))
        set_request_id(request_id)
        id_header = (_HEADER_NAME, request_id.encode("latin-1"))
        status = 500  # what the client gets if the app raises before it answers
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, duration_s: float) -> None:
        method, path, route = scope["method"], scope["path"], route_template(scope)
        self.metrics.observe_request(method, route, status, duration_s)
        self.metrics.read_pool(self.engine)
        duration_ms = round(duration_s * 1000, 2)
        log.info(
            "%s %s %s %.1f ms",
            method,
            path,
            status,
            duration_ms,
            extra={
                "method": method,
                "route": route,
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
            },
        )


def route_template(scope: Scope) -> str:
    """Return the path template of the route that matched (``/v1/tickets/{ticket_id}``).

    The router leaves the matched route in the scope; a path no route matched is
    :data:`~api.observability.metrics.UNMATCHED_ROUTE`, so raw paths never become labels. A
    route of an included router knows its path without the inclusion's prefix (FastAPI keeps
    ``/tickets/{ticket_id}`` for ``/v1/tickets/{ticket_id}``): the prefix is the start of the
    path before the longest end the route's pattern matches.
    """
    route = scope.get("route")
    template, pattern = getattr(route, "path_format", None), getattr(route, "path_regex", None)
    if not isinstance(template, str) or not isinstance(pattern, re.Pattern):
        return UNMATCHED_ROUTE
    path: str = scope["path"]
    starts = (i for i, char in enumerate(path) if char == "/")
    prefix = next((path[:i] for i in starts if pattern.match(path[i:])), "")
    return prefix + template
