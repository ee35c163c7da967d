"""``/v1/price-lists``: upload versioned customer price lists (TOML or JSON), list, read one."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from api.auth import Principal, Role, require_roles, utc_now
from api.db.tables import PriceListVersionRow
from api.deps import SessionDep, SettingsDep
from api.documents import DocumentFormat, read_document
from api.errors import ApiError
from api.fields import VersionParam
from api.price_lists import repository as repo
from api.price_lists.schemas import PriceListSaved, PriceListVersionRead

router = APIRouter(prefix="/price-lists", tags=["price lists"])

STAFF = require_roles(Role.ADMIN, Role.DISPATCHER)
EXAMPLE_TOML = """\
id = "shanghai-customer"
version = 1
currency = "CNY"
effective_from = 2026-12-01
time_zone = "Asia/Shanghai"

[labour.repair]
unit_price = "150.00"
label_zh = "上门维修"
label_en = "repair"

[travel]
bands = [
  { from_m = 0, until_m = 5000, price = "0.00" },
  { from_m = 5000, price = "20.00" },
]
"""
EXAMPLE_JSON = {
    "id": "shanghai-customer",
    "version": 1,
    "currency": "CNY",
    "effective_from": "2026-12-01",
    "time_zone": "Asia/Shanghai",
    "labour": {"repair": {"unit_price": "150.00", "label_zh": "上门维修", "label_en": "repair"}},
    "travel": {
        "bands": [
            {"from_m": 0, "until_m": 5000, "price": "0.00"},
            {"from_m": 5000, "price": "20.00"},
        ]
    },
}


def version_read(row: PriceListVersionRow, *, with_document: bool = False) -> PriceListVersionRead:
    return PriceListVersionRead(
        list_id=row.list_id,
        version=row.version,
        label=f"{row.list_id}@v{row.version}",
        currency=row.currency,
        time_zone=row.time_zone,
        effective_from=row.effective_from,
        effective_until=row.effective_until,
        content_sha256=row.content_sha256,
        document_format=row.document_format,
        created_at=row.created_at,
        document=row.document if with_document else None,
    )


async def price_list_document(
    request: Request, settings: SettingsDep
) -> tuple[str, DocumentFormat]:
    """Read the raw body as a TOML or JSON price-list document, as large as a rate card may be."""
    return await read_document(
        request, max_bytes=settings.rate_card_max_bytes, noun="price-list",
        invalid_code="invalid_price_list",
    )  # fmt: skip


@router.post(
    "",
    response_model=PriceListSaved,
    status_code=201,
    summary="Upload a customer price-list version",
    description=(
        "Admin only. The body is the price list as `application/toml` or `application/json` "
        "(format: docs/customer-bill.md; prices are quoted decimals). An invalid list is 422 "
        "with the entry and field named in `details` (overlapping or open travel bands, "
        "negative prices, an unknown currency...). Uploading the same (id, version) again with "
        "the same content is a no-op (200, `unchanged`); with other content it is 409 "
        "`price_list_version_exists`: a version never changes, since bills are computed from "
        "it; publish a new version."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/toml": {"schema": {"type": "string"}, "example": EXAMPLE_TOML},
                "application/json": {"schema": {"type": "object"}, "example": EXAMPLE_JSON},
            },
        }
    },
    responses={
        200: {"description": "Unchanged: the same version with the same content"},
        409: {"description": "The version exists with other content"},
        413: {"description": "The document exceeds GEODISPATCH_RATE_CARD_MAX_BYTES"},
        415: {"description": "Neither TOML nor JSON"},
        422: {"description": "Invalid price list: the message names the entry and field"},
    },
)
def upload_price_list(
    response: Response,
    session: SessionDep,
    # Who asks comes first: an anonymous or non-admin caller is 401/403 whatever it sends.
    principal: Annotated[Principal, require_roles(Role.ADMIN)],
    document: Annotated[tuple[str, DocumentFormat], Depends(price_list_document)],
) -> PriceListSaved:
    text, document_format = document
    try:
        row, outcome = repo.save_version(
            session,
            document=text,
            document_format=document_format,
            now=utc_now(),
            actor_key_id=principal.key_id,
        )
    except repo.PriceListVersionExists as err:
        raise ApiError(409, err.code, str(err), err.details) from err
    session.commit()
    if outcome is not repo.SaveOutcome.CREATED:
        response.status_code = 200
    return PriceListSaved(outcome=outcome.value, price_list=version_read(row))


@router.get(
    "",
    response_model=list[PriceListVersionRead],
    summary="List customer price-list versions",
    description="Staff only. Newest effective date first; `list_id` narrows to one list.",
    dependencies=[STAFF],
)
def list_price_lists(
    session: SessionDep,
    list_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[PriceListVersionRead]:
    return [version_read(row) for row in repo.list_versions(session, list_id=list_id)]


@router.get(
    "/{list_id}/versions/{version:id}",
    response_model=PriceListVersionRead,
    summary="One customer price-list version, with its document",
    dependencies=[STAFF],
)
def read_price_list(
    list_id: str, version: VersionParam, session: SessionDep
) -> PriceListVersionRead:
    row = repo.get_version(session, list_id=list_id, version=version)
    if row is None:
        raise ApiError(
            404,
            "not_found",
            f"no price list {list_id}@v{version}",
            {"list_id": list_id, "version": version},
        )
    return version_read(row, with_document=True)
