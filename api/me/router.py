"""The technician pages (HTML): ``/me/today`` and ``/me/earnings``.

A technician opens their own pages (another technician's id is a 403 page); admins and
dispatchers open anyone's with ``?technician=ID``, read-only (no buttons, no withdrawal form).
Changes go through the JSON API from the page script, with the session's CSRF token.
"""

from datetime import date, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRouter

from api.auth import Principal, Role
from api.db.tables import TechnicianRow
from api.deps import SessionDep, SettingsDep
from api.me import service
from api.pages.access import PageDenied, page_roles
from api.pages.templates import page_language, render
from api.technicians import repository as technician_repo

router = APIRouter(include_in_schema=False)

Viewer = Annotated[Principal, page_roles(Role.ADMIN, Role.DISPATCHER, Role.TECHNICIAN)]
TechnicianQuery = Annotated[
    str | None, Query(max_length=64, description="staff: whose pages to open")
]
PICKER_LIMIT = 500


def _say(request: Request, english: str, chinese: str) -> str:
    """Return a message in the page's language."""
    return chinese if page_language(request) == "zh" else english


def _whose(
    request: Request, principal: Principal, technician: str | None, session: SessionDep
) -> TechnicianRow:
    """Return the technician whose page this is; a technician may only open their own."""
    if principal.role is Role.TECHNICIAN:
        if technician is not None and technician != principal.technician_id:
            message = _say(
                request,
                "A technician sees only their own pages.",
                "师傅只能查看自己的页面。",
            )
            raise PageDenied(403, message)
        technician = principal.technician_id
    assert technician is not None, "staff without ?technician= get the picker"
    row = technician_repo.get_technician(session, technician_id=technician)
    if row is None:
        raise PageDenied(
            404, _say(request, f"There is no technician {technician}.", f"没有师傅 {technician}。")
        )
    return row


def _picker(request: Request, session: SessionDep, path: str) -> HTMLResponse:
    """Let staff choose whose page to open."""
    rows = technician_repo.list_technicians(session, after_id=None, limit=PICKER_LIMIT)
    context = {"title": _say(request, "Technicians", "师傅"), "path": path, "technicians": rows}
    return render(request, "me_pick.html", context)


def _page_context(row: TechnicianRow, principal: Principal) -> dict[str, object]:
    """Return the query that keeps a staff member on this technician's pages."""
    who = "" if principal.role is Role.TECHNICIAN else urlencode({"technician": row.id})
    return {"who_query": who}


@router.get("/me")
def me_home(request: Request) -> RedirectResponse:
    """Send ``/me`` (and its query) on to today's page."""
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/me/today{query}", status_code=303)


@router.get("/me/today", response_class=HTMLResponse)
def today_page(
    request: Request,
    principal: Viewer,
    session: SessionDep,
    settings: SettingsDep,
    technician: TechnicianQuery = None,
    day: Annotated[date | None, Query(description="local date; default today")] = None,
) -> HTMLResponse:
    """Today's stops in route order, with the moves the API allows and each stop's pay."""
    if principal.is_staff and technician is None:
        return _picker(request, session, "/me/today")
    row = _whose(request, principal, technician, session)
    view = service.today(
        session,
        technician=row,
        day=day or service.local_today(settings),
        settings=settings,
        regions=request.app.state.region_cache.index(session),
        is_read_only=principal.is_staff,
    )
    context = {
        "title": _say(request, "Today", "今日工单"),
        "view": view,
        "actions": service.ACTIONS,
        "prev_day": (view.day - timedelta(days=1)).isoformat(),
        "next_day": (view.day + timedelta(days=1)).isoformat(),
    }
    return render(request, "me_today.html", context | _page_context(row, principal))


@router.get("/me/earnings", response_class=HTMLResponse)
def earnings_page(
    request: Request,
    principal: Viewer,
    session: SessionDep,
    settings: SettingsDep,
    technician: TechnicianQuery = None,
    first: Annotated[date | None, Query(description="first service date; default 1st")] = None,
    last: Annotated[date | None, Query(description="last service date; default month end")] = None,
) -> HTMLResponse:
    """Show the period's pay: each settled order's lines, the tier, the balance, a withdrawal."""
    if principal.is_staff and technician is None:
        return _picker(request, session, "/me/earnings")
    row = _whose(request, principal, technician, session)
    month = (first or last or service.local_today(settings)).replace(day=1)
    first = first or month
    last = last or (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    try:
        view = service.earnings(
            session,
            technician=row,
            first=first,
            last=last,
            settings=settings,
            is_read_only=principal.is_staff,
        )
    except HTTPException as err:  # the statement refuses the range, naming the field
        detail = err.detail if isinstance(err.detail, dict) else {"message": str(err.detail)}
        raise PageDenied(err.status_code, str(detail.get("message", ""))) from err
    context = {"title": _say(request, "Earnings", "我的收入"), "view": view}
    return render(request, "me_earnings.html", context | _page_context(row, principal))
