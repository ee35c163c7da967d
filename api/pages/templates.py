"""The Jinja2 templates of the browser pages, and the page language."""

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context

from api.browser_session import request_session, session_signer

Language = Literal["zh", "en"]
LANG_COOKIE = "gd_lang"
TEMPLATE_DIRS = [Path(__file__).parent / "templates"]


def _environment() -> Environment:
    dirs = [*TEMPLATE_DIRS]
    for package in ("map", "me", "reports", "bills", "customers"):
        folder = Path(__file__).parent.parent / package / "templates"
        if folder.is_dir():
            dirs.append(folder)
    return Environment(
        loader=FileSystemLoader(dirs),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@pass_context
def _translate(context: Context, english: str, chinese: str) -> str:
    """``{{ tr("Today", "今日") }}``: the text in the page's language."""
    return chinese if context.get("lang") == "zh" else english


def lang_url(request: Request, lang: Language) -> str:
    """Return this page's URL in another language, its other parameters kept."""
    params = dict(request.query_params)
    params["lang"] = lang
    return f"{request.url.path}?{urlencode(params)}"


ENVIRONMENT = _environment()
ENVIRONMENT.globals["lang_url"] = lang_url
ENVIRONMENT.globals["tr"] = _translate


def page_language(request: Request) -> Language:
    """Return the page language: ``?lang=``, else the ``gd_lang`` cookie, else the browser's."""
    for choice in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if choice in ("zh", "en"):
            return choice  # type: ignore[return-value]
    accepted = request.headers.get("accept-language", "").lower()
    return "zh" if accepted.startswith("zh") else "en"


def csrf_token(request: Request) -> str:
    """Return the CSRF token of the request's browser session ("" for a bearer caller)."""
    browser = request_session(request)
    return "" if browser is None else session_signer(request).csrf_token(browser)


def render(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """Render a page with the layout's context (language, CSRF token, signed-in caller)."""
    lang = page_language(request)
    full = {"request": request, "lang": lang, "csrf_token": csrf_token(request), **context}
    response = HTMLResponse(ENVIRONMENT.get_template(template).render(full), status_code)
    if request.query_params.get("lang") == lang:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict")
    return response
