"""Request limits enforced before a body is parsed."""

from urllib.parse import parse_qsl

from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body


class BodySizeLimit:
    """Refuse bodies above ``max_bytes`` with 413, whether declared by header or streamed.

    A streamed body is read (at most ``max_bytes`` of it) before the app sees it, because
    FastAPI turns any error raised while it reads a body into a 400.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"request body exceeds {self.max_bytes} bytes"
        body = error_body("payload_too_large", message, {"max_bytes": self.max_bytes})
        await JSONResponse(status_code=413, content=body)(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """Wrap ``receive`` to hand over the buffered body once, then defer to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class StorableParams:
    """Refuse a query or path holding a NUL character (``%00``) with 422 naming the parameter.

    PostgreSQL cannot store or compare text with a NUL in it, so such a value would fail the
    first query that uses it (a 500). Bodies are checked by their models (``api.schemas.Strict``).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (field := _nul_parameter(scope)) is not None:
            where = "path" if field == "path" else "query"
            message = "must not contain the NUL character (U+0000)"
            error = {"field": field, "in": where, "message": message}
            body = error_body(
                "validation_error", f"{field}: {message}", {"field": field, "errors": [error]}
            )
            await JSONResponse(status_code=422, content=body)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _nul_parameter(scope: Scope) -> str | None:
    """Return the query parameter (or ``path``) holding a NUL character, if any."""
    if "\x00" in scope["path"]:
        return "path"
    query = scope.get("query_string", b"")
    if b"%00" not in query and b"\x00" not in query:
        return None
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "") or "query"
    return None


class CompressPaths:
    """Gzip the responses of some path prefixes only (the map's GeoJSON layers, static files).

    Compressing every response would put its cost on the ticket POSTs too, whose small bodies
    gain nothing from it.
    """

    def __init__(
        self, app: ASGIApp, *, prefixes: tuple[str, ...], minimum_size: int = 1024
    ) -> None:
        self._app = app
        self._gzip = GZipMiddleware(app, minimum_size=minimum_size)
        self._prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self._prefixes):
            await self._gzip(scope, receive, send)
        else:
            await self._app(scope, receive, send)
