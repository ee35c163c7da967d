"""``/v1/reports``: the managers' reports as JSON or CSV, and the ``/reports`` page (staff only).

Integrators have no report here: the funnel of their own source is ``GET /v1/leads/funnel``.
"""

from datetime import date, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import Principal, Role, require_roles, utc_now
from api.deps import SessionDep, SettingsDep
from api.errors import invalid_field
from api.fields import Day
from api.pages.access import PageDenied, page_roles
from api.pages.templates import page_language, render
from api.reports import export, page, service
from api.reports.rules import MAX_SPAN_DAYS, Period, PeriodError
from api.reports.schemas import (
    Bucket,
    CostReport,
    LeadFunnelReport,
    SlaReport,
    UtilisationReport,
)

router = APIRouter(prefix="/reports", tags=["reports"])
page_router = APIRouter(include_in_schema=False)

Staff = require_roles(Role.ADMIN, Role.DISPATCHER)
Format = Literal["json", "csv"]
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "JSON, or with `?format=csv` (or `Accept: text/csv`) a CSV file: UTF-8 "
        "with a byte-order mark, one header row (docs/reports.md)",
    }
}
PERIOD_HELP = (
    " The period is `first` to `last`, local days in the service's time zone, both included "
    f"(default: the four ISO weeks up to today); at most {MAX_SPAN_DAYS} days."
)


FirstDay = Annotated[Day | None, Query(description="first local day (inclusive)")]
LastDay = Annotated[Day | None, Query(description="last local day (inclusive)")]


def _period(time_zone: str, first: date | None, last: date | None) -> Period:
    """Return the period, by default the four ISO weeks up to today (raises PeriodError)."""
    last = last or utc_now().astimezone(ZoneInfo(time_zone)).date()
    if first is None:
        this_monday = last - timedelta(days=last.weekday())
        first = this_monday - timedelta(weeks=3)
    return Period(first, last, time_zone)


async def report_period(
    settings: SettingsDep, first: FirstDay = None, last: LastDay = None
) -> Period:
    """Read the report period; ``first`` after ``last`` or too long a span is a 422 naming it.

    Async: it does no I/O (see ``api.deps.get_app_settings``).
    """
    try:
        return _period(settings.timezone, first, last)
    except PeriodError as err:
        raise invalid_field(err.field, err.message, location="query") from err


PeriodDep = Annotated[Period, Depends(report_period)]


async def wants_csv(
    request: Request,
    format: Annotated[
        Format | None,
        Query(description="`csv` for a CSV file; default: JSON, or CSV if Accept is text/csv"),
    ] = None,
) -> bool:
    """Whether the caller asked for CSV, by ``?format=csv`` or an ``Accept: text/csv`` header."""
    if format is not None:
        return format == "csv"
    return "text/csv" in request.headers.get("accept", "")


CsvDep = Annotated[bool, Depends(wants_csv)]


def _csv(text: str, name: str, period: Period) -> Response:
    filename = f"{name}_{period.first.isoformat()}_{period.last.isoformat()}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(text.encode("utf-8"), media_type=CSV_MEDIA_TYPE, headers=headers)


@router.get(
    "/lead-funnel",
    response_model=LeadFunnelReport,
    responses=CSV_RESPONSE,
    dependencies=[Staff],
    summary="Lead funnel by channel and ISO week",
    description="Leads captured in the period, per channel and local ISO week of capture: "
    "received, junk, contacted, qualified, converted (each stage defined in docs/reports.md), "
    "with totals per channel and overall." + PERIOD_HELP,
)
def lead_funnel(
    session: SessionDep, period: PeriodDep, is_csv: CsvDep
) -> LeadFunnelReport | Response:
    report = service.lead_funnel(session, period=period)
    return _csv(export.funnel_csv(report), "lead-funnel", period) if is_csv else report


@router.get(
    "/sla",
    response_model=SlaReport,
    responses=CSV_RESPONSE,
    dependencies=[Staff],
    summary="First-response and resolution SLA by region",
    description="Per region: leads' first response against its deadline (leads captured in "
    "the period) and tickets' completion against `sla_due_at` (deadlines in the period): "
    "on time, late, open, on-time rate, median and 90th percentile minutes." + PERIOD_HELP,
)
def sla(session: SessionDep, period: PeriodDep, is_csv: CsvDep) -> SlaReport | Response:
    report = service.sla(session, period=period, now=utc_now())
    return _csv(export.sla_csv(report), "sla", period) if is_csv else report


@router.get(
    "/cost",
    response_model=CostReport,
    responses=CSV_RESPONSE,
    dependencies=[Staff],
    summary="Technician pay by region and component",
    description="The standing settlements (a ticket's latest) with a service date in the "
    "period: orders, pay, pay per order and pay per component (breakdown line code), per "
    "region and currency." + PERIOD_HELP,
)
def cost(session: SessionDep, period: PeriodDep, is_csv: CsvDep) -> CostReport | Response:
    report = service.cost(session, period=period)
    return _csv(export.cost_csv(report), "cost", period) if is_csv else report


@router.get(
    "/utilisation",
    response_model=UtilisationReport,
    responses=CSV_RESPONSE,
    dependencies=[Staff],
    summary="Technician utilisation by day or week",
    description="Per technician and local day (or ISO week): shift, break, available, "
    "service, travel and idle minutes, visits completed and utilisation (service / "
    "available)." + PERIOD_HELP,
)
def utilisation(
    session: SessionDep,
    period: PeriodDep,
    is_csv: CsvDep,
    by: Annotated[Bucket, Query(description="`day` or `week` (ISO, local)")] = "day",
) -> UtilisationReport | Response:
    report = service.utilisation(session, period=period, by=by)
    return _csv(export.utilisation_csv(report), f"utilisation-{by}", period) if is_csv else report


Manager = Annotated[Principal, page_roles(Role.ADMIN, Role.DISPATCHER)]


@page_router.get("/reports", response_class=HTMLResponse)
def reports_page(
    _manager: Manager,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    first: FirstDay = None,
    last: LastDay = None,
) -> HTMLResponse:
    """Show the four reports as boards: a chart, the table and a CSV link each."""
    try:
        period = _period(settings.timezone, first, last)
    except PeriodError as err:
        raise PageDenied(422, f"{err.field}: {err.message}") from err
    now = utc_now()
    boards = page.boards(
        funnel=service.lead_funnel(session, period=period),
        sla=service.sla(session, period=period, now=now),
        cost=service.cost(session, period=period),
        utilisation=service.utilisation(session, period=period, by="week"),
        region_names=page.region_names(request.app.state.region_cache.index(session)),
        lang=page_language(request),
    )
    title = "Reports" if page_language(request) == "en" else "经营报表"
    return render(request, "reports.html", {"title": title, "period": period, "boards": boards})
