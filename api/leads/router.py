"""``/v1/leads``: capture (single, batch, CSV), read and list, touches, owners, funnel, convert."""

import hashlib
import re
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from api.auth import Principal, utc_now
from api.deps import SessionDep, SettingsDep
from api.errors import ApiError, field_path
from api.fields import Timestamp
from api.idempotency import IdempotencyKey, run_idempotent
from api.leads import repository as repo
from api.leads import service
from api.leads.csv_rows import COLUMNS, CsvFileError, decode, read_rows
from api.leads.rules.model import Channel
from api.leads.schemas import (
    ConvertCreate,
    Converted,
    Funnel,
    FunnelRow,
    LeadBatchCreate,
    LeadBatchResult,
    LeadCaptured,
    LeadCreate,
    LeadDetail,
    LeadOwnerRead,
    LeadOwnerWrite,
    LeadPage,
    NurtureDueRead,
    RowError,
    TouchCreate,
)
from api.leads.service import (
    ReadableLead,
    Reader,
    Staff,
    lead_detail,
    lead_read,
    owner_read,
)

# Capture: single, batch and CSV import.
capture_routes = APIRouter(prefix="/leads", tags=["leads"])
MAX_CSV_ROWS = 10_000
CSV_EXAMPLE = (
    "external_id,channel,campaign,name,phone,email,product_line,address,lon,lat,crs,notes,"
    "captured_at\n"
    "F-1,web_form,double11-ac,王芳,13912345678,wang.fang@qq.com,central_ac,"
    "上海市浦东新区张杨路 500 号,121.5254,31.2281,gcj02,3-bedroom flat,2026-11-22T10:15:00+08:00\n"
    "F-2,offline_event,home-expo-2026,李雷,+86 138 1234 5678,,water_heater,"
    "上海市徐汇区漕溪北路 88 号,121.4365,31.1880,gcj02,,2026-11-22T14:40:00+08:00\n"
    'F-3,,,赵敏,,zhao.min@163.com,central_ac,,,,,"call after 18:00, weekdays",\n'
)
CSV_FILE_DESCRIPTION = (
    "The CSV file: UTF-8 (Excel's BOM is fine) or GB18030, at most 10,000 data rows. The header "
    f"line names the columns, any subset in any order, of: {', '.join(COLUMNS)}. A blank cell is "
    "an absent field; `channel` and `campaign` default to the query parameters; `lon`/`lat` are "
    "in the datum of `crs` (wgs84, gcj02 or bd09; default wgs84); `captured_at` is ISO 8601 with "
    "an offset (default: now)."
)
CSV_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": CSV_FILE_DESCRIPTION,
                        }
                    },
                    "required": ["file"],
                },
                "encoding": {"file": {"contentType": "text/csv"}},
                "example": {"file": CSV_EXAMPLE},
            },
        },
    }
}


@capture_routes.post(
    "",
    status_code=201,
    response_model=LeadCaptured,
    summary="Capture one lead",
    description="Cleans the contact (phone to E.164, default region CN; e-mail domain "
    "lower-cased); rejects junk with a reason (stored with status `rejected`, never dropped); "
    "merges a repeat of the same person (phone or e-mail) from your source within the "
    "de-duplication window into the existing lead (`outcome: merged`, one more touch); scores "
    "it 0-100 with an explained breakdown; assigns an owner (territory team, product line, "
    "least loaded) with a first-response deadline; plans its nurture touches. "
    "`Idempotency-Key` makes retries safe.",
)
def capture_lead(
    lead_in: LeadCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    def work() -> LeadCaptured:
        [captured] = service.capture(session, request, settings, principal, [lead_in])
        return LeadCaptured(outcome=captured.outcome, lead=lead_read(captured.lead, utc_now()))

    return run_idempotent(
        session, request=request, principal=principal, key=idempotency_key, body=lead_in,
        settings=settings, status_code=201, work=work,
    )  # fmt: skip


@capture_routes.post(
    "/batch",
    response_model=LeadBatchResult,
    summary="Capture up to 1,000 leads",
    description="Every item is validated first: one invalid item refuses the batch with 422 "
    "naming it (`leads[3].email`), and nothing is stored. Valid items are captured in order (a "
    "later item may merge into an earlier one) and assigned hottest first.",
)
def capture_batch(
    batch_in: LeadBatchCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    def work() -> LeadBatchResult:
        return service.batch_result(
            service.capture(session, request, settings, principal, batch_in.leads), None
        )

    return run_idempotent(
        session, request=request, principal=principal, key=idempotency_key, body=batch_in,
        settings=settings, status_code=200, work=work,
    )  # fmt: skip


class _CsvFingerprint(BaseModel):
    """What makes two imports the same request, for ``Idempotency-Key``."""

    sha256: str
    channel: str
    campaign: str | None
    mode: str


def _bad_csv(message: str, errors: list[RowError]) -> ApiError:
    details = {"errors": [e.model_dump() | {"in": "body"} for e in errors], "field": "file"}
    return ApiError(422, "validation_error", message, details)


def _csv_number(cell: object) -> object:
    """Return a cell holding a plain decimal number as a number; anything else as it is.

    A CSV cell is text, while a lead's coordinates are strict numbers (no strings in JSON):
    what is not a plain number stays text and is refused, naming ``location[0]`` or ``[1]``.
    """
    if isinstance(cell, str) and re.fullmatch(r"[-+]?[0-9]{1,3}(\.[0-9]+)?", cell):
        return float(cell)
    return cell


def _parse_csv(
    data: bytes, channel: Channel, campaign: str | None
) -> tuple[list[tuple[int, LeadCreate]], list[RowError]]:
    try:
        rows = read_rows(decode(data), max_rows=MAX_CSV_ROWS)
    except CsvFileError as err:
        raise _bad_csv(f"file: {err}", []) from err
    valid, errors = [], []
    for row in rows:
        fields = {"channel": channel.value, "campaign": campaign, **row.fields}
        if isinstance(location := fields.get("location"), list):
            fields["location"] = [_csv_number(cell) for cell in location]
        try:
            valid.append((row.line, LeadCreate.model_validate(fields)))
        except ValidationError as err:
            errors += [
                RowError(row=row.line, field=field_path(e["loc"]), message=e["msg"])
                for e in err.errors()
            ]
    if not valid and not errors:
        raise _bad_csv("file: no data rows", [])
    return valid, errors


@capture_routes.post(
    "/import",
    response_model=LeadBatchResult,
    responses={415: {"description": "neither a text/csv body nor a multipart `file` field"}},
    summary="Import leads from a CSV file",
    description="Send the file as the `text/csv` body or as the `file` field of a "
    "`multipart/form-data` upload; UTF-8 (Excel's BOM is fine) or GB18030. Header columns: "
    "external_id, channel, campaign, name, phone, email, product_line, address, lon, lat, crs, "
    "notes, captured_at (any subset, any order). At most 10,000 rows. `mode=all_or_nothing` "
    "(default): any invalid cell refuses the file with 422 listing every error by `row` (line "
    "number, header = 1) and `field`; nothing is stored. `mode=partial`: valid rows are "
    "imported and invalid ones come back in `errors`. Junk is not an error: it is stored as "
    "rejected, like any capture.",
    openapi_extra=CSV_BODY,
)
async def import_csv(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    channel: Annotated[Channel, Query(description="for rows without a channel")] = Channel.CSV,
    campaign: Annotated[
        str | None, Query(max_length=128, description="for rows without one")
    ] = None,
    mode: Annotated[Literal["all_or_nothing", "partial"], Query()] = "all_or_nothing",
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    data = await _csv_bytes(request)

    def run() -> JSONResponse:
        valid, errors = _parse_csv(data, channel, campaign)
        if errors and mode == "all_or_nothing":
            raise _bad_csv(f"{len(errors)} invalid cell(s); nothing imported", errors)
        fingerprint = _CsvFingerprint(
            sha256=hashlib.sha256(data).hexdigest(), channel=channel, campaign=campaign, mode=mode
        )

        def work() -> LeadBatchResult:
            captured = service.capture(session, request, settings, principal, [v for _, v in valid])
            result = service.batch_result(captured, [line for line, _ in valid])
            return result.model_copy(update={"errors": errors})

        return run_idempotent(
            session, request=request, principal=principal, key=idempotency_key,
            body=fingerprint, settings=settings, status_code=200, work=work,
        )  # fmt: skip

    return await run_in_threadpool(run)


async def _csv_bytes(request: Request) -> bytes:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise _bad_csv("file: a multipart upload needs a `file` field", [])
        return await upload.read()
    if content_type in {"text/csv", "text/plain", "application/csv"}:
        return await request.body()
    raise ApiError(
        415,
        "unsupported_media_type",
        "send text/csv or multipart/form-data with a `file` field",
        {"content_type": content_type},
    )


# Conversion: a lead becomes a ticket of the lead's source.
conversion_routes = APIRouter(prefix="/leads", tags=["leads"])


@conversion_routes.post(
    "/{lead_id:id}/convert",
    status_code=201,
    response_model=Converted,
    responses={409: {"description": "the lead is rejected, or converted already"}},
    summary="Convert a lead into a ticket",
    description="Creates a ticket (status `new`) of the lead's source from the lead's location, "
    "address, contact and notes plus the body (type, duration, skills, windows; any lead field "
    "may be overridden), and links the lead to it (`status: converted`). A rejected or already "
    "converted lead is 409. The ticket's `external_id` defaults to `lead-<id>`.",
)
def convert_lead(
    lead: ReadableLead,
    convert_in: ConvertCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
) -> Converted:
    return service.convert_lead(
        session,
        lead=lead,
        convert_in=convert_in,
        index=request.app.state.region_cache.index(session),
        settings=settings,
        actor_key_id=principal.key_id,
    )


# Reading and working leads.
reads = APIRouter(prefix="/leads", tags=["leads"])
MAX_PAGE = 200


def _parse_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit():
        raise ApiError(
            422,
            "validation_error",
            "cursor: pass back the `next_cursor` of the previous page",
            {"field": "cursor"},
        )
    return int(cursor)


def _visible_source(principal: Principal, source: str | None) -> str | None:
    """Return the source a listing is limited to: an integrator's own, whatever it asks."""
    return source if principal.is_staff else principal.source


@reads.get(
    "",
    response_model=LeadPage,
    summary="List leads",
    description="Newest first, with filters; pass `next_cursor` back as `cursor` for the next "
    "page. Integrators see only their own source's leads. `is_overdue` / `is_at_risk` select "
    "unanswered leads past (or close to) their first-response deadline.",
)
def list_leads(
    session: SessionDep,
    principal: Reader,
    status: Annotated[
        Literal["new", "assigned", "contacted", "converted", "rejected"] | None, Query()
    ] = None,
    channel: Channel | None = None,
    campaign: Annotated[str | None, Query(max_length=128)] = None,
    owner_id: Annotated[str | None, Query(max_length=64)] = None,
    band: Literal["hot", "warm", "cold"] | None = None,
    region_id: Annotated[str | None, Query(max_length=64)] = None,
    source: Annotated[str | None, Query(max_length=64, description="staff only")] = None,
    is_overdue: bool | None = None,
    is_at_risk: bool | None = None,
    created_from: Timestamp | None = None,
    created_to: Timestamp | None = None,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> LeadPage:
    now = utc_now()
    where = repo.LeadFilter(
        source=_visible_source(principal, source), status=status,
        channel=channel.value if channel else None, campaign=campaign, owner_id=owner_id,
        band=band, region_id=region_id, is_overdue=is_overdue, is_at_risk=is_at_risk,
        created_from=created_from, created_to=created_to,
    )  # fmt: skip
    rows = repo.list_leads(
        session, where=where, after_id=_parse_cursor(cursor), limit=limit + 1, now=now
    )
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return LeadPage(items=[lead_read(r, now) for r in rows[:limit]], next_cursor=next_cursor)


@reads.get(
    "/funnel",
    response_model=Funnel,
    summary="Funnel counts by channel (or channel and campaign)",
    description="Per channel: leads captured (not rejected), rejected, contacted, converted "
    "into a ticket, tickets completed (completed, confirmed or settled) and paid (settled). "
    "`created_from`/`created_to` bound the leads' capture time. Integrators see their own.",
)
def funnel(
    session: SessionDep,
    principal: Reader,
    group_by: Literal["channel", "campaign"] = "channel",
    source: Annotated[str | None, Query(max_length=64, description="staff only")] = None,
    created_from: Timestamp | None = None,
    created_to: Timestamp | None = None,
) -> Funnel:
    counted = repo.funnel(
        session, source=_visible_source(principal, source), by_campaign=group_by == "campaign",
        created_from=created_from, created_to=created_to,
    )  # fmt: skip
    numbers = ("leads", "rejected", "contacted", "tickets", "completed", "paid")
    rows = [
        FunnelRow.model_validate({"campaign": None, **r, **{n: r[n] or 0 for n in numbers}})
        for r in counted
    ]
    sums = {n: sum(getattr(r, n) for r in rows) for n in numbers}
    totals = FunnelRow.model_validate({"channel": "all", "campaign": None, **sums})
    return Funnel(group_by=group_by, rows=rows, totals=totals)


@reads.get(
    "/nurture/due",
    response_model=list[NurtureDueRead],
    summary="Nurture touches due now (a salesperson's to-do list)",
    description="Planned touches of open leads that are due by `before` (default: now) and "
    "not yet done, earliest first; recording a touch of that kind ticks the step off.",
)
def nurture_due(
    session: SessionDep,
    principal: Reader,
    owner_id: Annotated[str | None, Query(max_length=64)] = None,
    before: Timestamp | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> list[NurtureDueRead]:
    rows = repo.due_steps(
        session, source=_visible_source(principal, None), owner_id=owner_id,
        before=before or utc_now(), limit=limit,
    )  # fmt: skip
    return [
        NurtureDueRead(
            lead_id=lead.id,
            owner_id=lead.owner_id,
            name=lead.name,
            phone=lead.phone_e164,
            email=lead.email,
            band=lead.score_band,
            seq=step.seq,
            day=step.day,
            kind=step.kind,
            due_at=step.due_at,
        )
        for step, lead in rows
    ]


@reads.get("/owners", response_model=list[LeadOwnerRead], summary="List lead owners")
def list_owners(session: SessionDep, _principal: Staff) -> list[LeadOwnerRead]:
    return [owner_read(row, n) for row, n in repo.list_owners(session)]


@reads.put(
    "/owners/{owner_id}",
    response_model=LeadOwnerRead,
    responses={201: {"model": LeadOwnerRead, "description": "a new owner was created"}},
    summary="Create or replace a lead owner",
    description="Owners receive leads of their territory `team` (a region attribute) and "
    "product lines, least loaded first; an inactive owner receives none.",
)
def put_owner(
    owner_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")],
    owner_in: LeadOwnerWrite,
    response: Response,
    session: SessionDep,
    _principal: Staff,
) -> LeadOwnerRead:
    row, is_new = repo.upsert_owner(session, owner_id=owner_id, owner_in=owner_in, now=utc_now())
    session.commit()
    response.status_code = 201 if is_new else 200
    return owner_read(row, repo.open_leads_by_owner(session).get(row.id, 0))


@reads.get("/{lead_id:id}", response_model=LeadDetail, summary="Read a lead with its history")
def read_lead(lead: ReadableLead, session: SessionDep) -> LeadDetail:
    touches = repo.touches(session, lead_id=lead.id)
    return lead_detail(lead, touches, repo.nurture_steps(session, lead_id=lead.id), utc_now())


@reads.post(
    "/{lead_id:id}/touches",
    status_code=201,
    response_model=LeadDetail,
    responses={409: {"description": "the lead is rejected (`lead_rejected`)"}},
    summary="Record a touch (call, SMS, e-mail, visit, note)",
    description="The first call, SMS, e-mail or visit answers the first-response SLA and moves "
    "the lead to `contacted`; it also ticks off the next planned nurture step of its kind.",
)
def record_touch(
    lead: ReadableLead, touch_in: TouchCreate, session: SessionDep, principal: Reader
) -> LeadDetail:
    now = utc_now()
    if lead.status == "rejected":
        raise ApiError(
            409,
            "lead_rejected",
            "a rejected lead takes no touches",
            {"rejection": lead.rejection_code},
        )
    repo.record_touch(session, lead=lead, touch_in=touch_in, actor_key_id=principal.key_id, now=now)
    session.commit()
    touches = repo.touches(session, lead_id=lead.id)
    return lead_detail(lead, touches, repo.nurture_steps(session, lead_id=lead.id), now)


router = APIRouter()
for part in (capture_routes, reads, conversion_routes):
    router.include_router(part)
