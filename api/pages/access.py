"""Who may open a page: the API's principals, with a sign-in redirect instead of a 401."""

import inspect
import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response

from api.auth import Principal, Role, get_principal
from api.browser_session import SESSION_COOKIE
from api.deps import SessionDep
from api.pages.templates import render

API_PREFIXES = ("/v1/", "/health")


class LoginRequired(Exception):
    """The page needs a signed-in caller; ``next_path`` is where to return after sign-in."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageDenied(Exception):
    """A signed-in caller may not open this page (rendered as an HTML page, not JSON)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def safe_next(path: str | None) -> str | None:
    """Return ``path`` if it is a path on this site, else None (no open redirects).

    >>> safe_next("/map?day=2026-12-03"), safe_next("//evil.example"), safe_next("https://x")
    ('/map?day=2026-12-03', None, None)
    """
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return None
    return path


async def page_principal(request: Request, session: SessionDep) -> Principal:
    """Authenticate a page request like an API request; without a caller, go to sign-in."""
    try:
        return await get_principal(request, session)
    except HTTPException as exc:
        if exc.status_code == 401:
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(path) from exc
        raise


PagePrincipal = Annotated[Principal, Depends(page_principal)]


def page_roles(*roles: Role) -> Any:
    """Return a page dependency that lets only ``roles`` through (an HTML 403 otherwise)."""
    allowed = frozenset(roles)

    async def check(principal: PagePrincipal) -> Principal:
        if principal.role not in allowed:
            names = ", ".join(sorted(allowed))
            message = f"This page is for {names}; you are signed in as {principal.role}."
            raise PageDenied(403, message)
        return principal

    return Depends(check)


def _wants_page(request: Request) -> bool:
    return not request.url.path.startswith(API_PREFIXES)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    response = RedirectResponse(f"/login?next={quote(exc.next_path, safe='')}", status_code=303)
    if SESSION_COOKIE in request.cookies:  # expired or forged: forget it
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def _page_denied(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageDenied)
    context = {"title": str(exc.status_code), "message": exc.message}
    return render(request, "error.html", context, status_code=exc.status_code)


def install_page_handlers(app: FastAPI) -> None:
    """Send pages' sign-in and permission failures, and their bad queries, as HTML."""
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(PageDenied, _page_denied)
    api_validation_handler = app.exception_handlers[RequestValidationError]

    async def validation_error(request: Request, exc: Exception) -> Response:
        response = api_validation_handler(request, exc)
        if inspect.isawaitable(response):
            response = await response
        if not _wants_page(request) or not isinstance(response, JSONResponse):
            return response
        message = json.loads(bytes(response.body))["error"]["message"]
        context = {"title": "422", "message": f"This page cannot show that: {message}"}
        return render(request, "error.html", context, status_code=422)

    app.add_exception_handler(RequestValidationError, validation_error)
