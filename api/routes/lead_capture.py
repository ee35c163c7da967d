"""Lead capture routes (single, batch, CSV import), mounted under ``/v1/leads``."""

import hashlib
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from api.auth import Principal, Role, utc_now
from api.config import Settings
from api.deps import SessionDep, SettingsDep
from api.errors import _field_path
from api.idempotency import IdempotencyKey, run_idempotent
from api.leads.csv_rows import COLUMNS, CsvFileError, decode, read_rows
from api.leads.dedupe import DedupeParams
from api.leads.model import Channel
from api.repositories import lead_capture as capture_repo
from api.routes.lead_common import STAFF_SOURCE, Reader, lead_read
from api.schemas.leads import (
    BatchItemResult,
    LeadBatchCreate,
    LeadBatchResult,
    LeadCaptured,
    LeadCreate,
    RejectionRead,
    RowError,
)

router = APIRouter(prefix="/leads", tags=["leads"])
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


def _source(principal: Principal) -> str:
    return (
        principal.source if principal.role is Role.INTEGRATOR and principal.source else STAFF_SOURCE
    )


def _capture(
    session: Session, request: Request, settings: Settings, principal: Principal,
    leads_in: list[LeadCreate],
) -> list[capture_repo.Captured]:  # fmt: skip
    return capture_repo.capture_many(
        session,
        leads_in=leads_in,
        source=_source(principal),
        actor_key_id=principal.key_id,
        index=request.app.state.region_cache.index(session),
        now=utc_now(),
        dedupe=DedupeParams(window=timedelta(days=settings.lead_dedupe_window_days)),
    )


@router.post(
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
        [captured] = _capture(session, request, settings, principal, [lead_in])
        return LeadCaptured(outcome=captured.outcome, lead=lead_read(captured.lead, utc_now()))

    return run_idempotent(
        session, request=request, principal=principal, key=idempotency_key, body=lead_in,
        settings=settings, status_code=201, work=work,
    )  # fmt: skip


def _batch_result(
    captured: list[capture_repo.Captured], lines: list[int] | None
) -> LeadBatchResult:
    results = [
        BatchItemResult(
            index=i,
            row=lines[i] if lines else None,
            outcome=c.outcome,
            lead_id=c.lead.id,
            status=c.lead.status,
            rejection=None
            if c.lead.rejection_code is None
            else RejectionRead(code=c.lead.rejection_code, reason=c.lead.rejection_reason or ""),
        )
        for i, c in enumerate(captured)
    ]
    counts = {o: sum(r.outcome == o for r in results) for o in ("created", "merged", "rejected")}
    return LeadBatchResult.model_validate({**counts, "results": results})


@router.post(
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
        return _batch_result(_capture(session, request, settings, principal, batch_in.leads), None)

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


def _bad_csv(message: str, errors: list[RowError]) -> HTTPException:
    details = {"errors": [e.model_dump() | {"in": "body"} for e in errors], "field": "file"}
    return HTTPException(422, {"code": "validation_error", "message": message, "details": details})


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
        try:
            valid.append((row.line, LeadCreate.model_validate(fields)))
        except ValidationError as err:
            errors += [
                RowError(row=row.line, field=_field_path(e["loc"]), message=e["msg"])
                for e in err.errors()
            ]
    if not valid and not errors:
        raise _bad_csv("file: no data rows", [])
    return valid, errors


@router.post(
    "/import",
    response_model=LeadBatchResult,
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
            captured = _capture(session, request, settings, principal, [v for _, v in valid])
            result = _batch_result(captured, [line for line, _ in valid])
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
    detail = {
        "code": "unsupported_media_type",
        "message": "send text/csv or multipart/form-data with a `file` field",
        "details": {"content_type": content_type},
    }
    raise HTTPException(415, detail)
