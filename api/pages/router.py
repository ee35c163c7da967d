"""Sign-in and sign-out for browser pages, and the site root."""

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.auth import Principal, Role, get_principal, load_principal_by_token
from api.browser_session import LOGIN_CSRF_COOKIE, SESSION_COOKIE, request_session, session_signer
from api.deps import SessionDep
from api.pages.access import safe_next
from api.pages.templates import render

router = APIRouter(include_in_schema=False)

FAVICON = "/static/app/favicon.svg"
HOME_FOR_ROLE = {
    Role.ADMIN: "/map",
    Role.DISPATCHER: "/map",
    Role.TECHNICIAN: "/me/today",
}


def _login_form(
    request: Request, *, next_path: str | None, message: str | None, status_code: int
) -> HTMLResponse:
    """Render the sign-in form with a fresh login CSRF token (double-submitted as a cookie)."""
    token = secrets.token_urlsafe(16)
    context = {"title": "Sign in", "next": next_path or "", "message": message, "form_csrf": token}
    response = render(request, "login.html", context, status_code=status_code)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict", path="/login"
    )
    return response


@router.get("/login")
async def login_page(request: Request, session: SessionDep, next: str | None = None) -> Response:
    """Show the sign-in form; a caller already signed in goes on to its page."""
    if request_session(request) is not None:
        try:
            principal = await get_principal(request, session)
        except HTTPException:  # an expired session or a revoked key: show the form
            principal = None
        if principal is not None and principal.role in HOME_FOR_ROLE:
            return RedirectResponse(safe_next(next) or HOME_FOR_ROLE[principal.role], 303)
    return _login_form(request, next_path=safe_next(next), message=None, status_code=200)


@router.post("/login")
async def login(
    request: Request,
    session: SessionDep,
    token: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Exchange an API key for a session cookie and go on to ``next`` or the role's page."""
    next_path = safe_next(next)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not secrets.compare_digest(expected, csrf_token):
        message = "The sign-in form expired. Please try again."
        return _login_form(request, next_path=next_path, message=message, status_code=403)
    principal: Principal | None = await run_in_threadpool(load_principal_by_token, session, token)
    if principal is None:
        message = "That key is not valid, or it was revoked."
        return _login_form(request, next_path=next_path, message=message, status_code=401)
    if principal.role not in HOME_FOR_ROLE:
        message = f"{principal.role} keys have no pages; they are for the API (/docs)."
        return _login_form(request, next_path=next_path, message=message, status_code=403)
    signer = session_signer(request)
    cookie, _ = signer.issue(principal.key_id)
    response = RedirectResponse(next_path or HOME_FOR_ROLE[principal.role], status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(signer.ttl_s),
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.session_cookie_secure,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(
    request: Request, csrf_token: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    """End the browser session (the form carries the session's CSRF token)."""
    browser = request_session(request)
    if browser is not None and not session_signer(request).is_valid_csrf(browser, csrf_token):
        context = {"title": "403", "message": "Sign-out needs the page's form; please retry."}
        return render(request, "error.html", context, status_code=403)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/favicon.ico")
async def favicon() -> Response:
    """Point browsers that ask for the icon by its traditional name at the SVG icon."""
    return RedirectResponse(FAVICON, status_code=301)


@router.get("/")
async def home(request: Request, session: SessionDep) -> Response:
    """Send a signed-in caller to its role's page, anyone else to sign-in."""
    try:
        principal = await get_principal(request, session)
    except HTTPException:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(HOME_FOR_ROLE.get(principal.role, "/docs"), status_code=303)
