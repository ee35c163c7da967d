"""``/v1/rate-cards``: upload versioned rate cards (JSON or TOML), list them, the one in force."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from api.auth import Principal, Role, require_roles, utc_now
from api.db.tables import RateCardVersionRow
from api.deps import SessionDep, SettingsDep
from api.documents import DocumentFormat, read_document
from api.errors import ApiError
from api.fields import Day, VersionParam
from api.rate_cards import repository as repo
from api.rate_cards.schemas import RateCardSaved, RateCardVersionRead, RuleSummary
from settlement import RateCardVersionUsed
from settlement.localtime import zone

router = APIRouter(prefix="/rate-cards", tags=["rate cards"])

STAFF = require_roles(Role.ADMIN, Role.DISPATCHER)
EXAMPLE_TOML = """\
id = "shanghai-2026"
version = 4
currency = "CNY"
effective_from = 2026-12-01
time_zone = "Asia/Shanghai"

[[rules]]
kind = "base_fee"
id = "base"
[rules.fees.repair]
fee = "80.00"
label_zh = "维修"
label_en = "repair"

[[rules]]
kind = "region_coefficient"
id = "region"
outside = "fallback"
fallback_coefficient = "1.00"
coefficients = { "310115" = "1.10", "zone-pudong-outer" = "1.20" }
"""
# The same card as JSON: dates as "YYYY-MM-DD" strings, rates and amounts as quoted decimals.
EXAMPLE_JSON = {
    "id": "shanghai-2026",
    "version": 4,
    "currency": "CNY",
    "effective_from": "2026-12-01",
    "time_zone": "Asia/Shanghai",
    "rules": [
        {
            "kind": "base_fee",
            "id": "base",
            "fees": {"repair": {"fee": "80.00", "label_zh": "维修", "label_en": "repair"}},
        },
        {
            "kind": "region_coefficient",
            "id": "region",
            "outside": "fallback",
            "fallback_coefficient": "1.00",
            "coefficients": {"310115": "1.10", "zone-pudong-outer": "1.20"},
        },
    ],
}


def version_read(row: RateCardVersionRow, *, with_document: bool = False) -> RateCardVersionRead:
    card = repo.card_of(row)
    return RateCardVersionRead(
        card_id=row.card_id,
        version=row.version,
        label=card.version_label,
        currency=row.currency,
        time_zone=row.time_zone,
        effective_from=row.effective_from,
        effective_until=row.effective_until,
        content_sha256=row.content_sha256,
        document_format=row.document_format,
        created_at=row.created_at,
        first_used_at=row.first_used_at,
        is_used=row.first_used_at is not None,
        rules=[RuleSummary(id=rule.id, kind=rule.kind) for rule in card.rules],
        document=row.document if with_document else None,
    )


async def card_document(request: Request, settings: SettingsDep) -> tuple[str, DocumentFormat]:
    """Read the raw body as a TOML or JSON card document (``api.documents.read_document``)."""
    return await read_document(
        request, max_bytes=settings.rate_card_max_bytes, noun="rate-card",
        invalid_code="invalid_rate_card",
    )  # fmt: skip


@router.post(
    "",
    response_model=RateCardSaved,
    status_code=201,
    summary="Upload a rate-card version",
    description=(
        "Admin only. The body is the card document as `application/toml` or `application/json` "
        "(format: docs/rate-card.md; rates and amounts are quoted decimals), at most "
        "`GEODISPATCH_RATE_CARD_MAX_BYTES` bytes (413 above), with at most "
        f"{repo.MAX_RULES} rules and {repo.MAX_ENTRIES:,} entries in any table or list. The card "
        "is validated by the settlement package: an error is 422 with the rule and field named "
        "in `details`, and a region id the service does not know is refused. Uploading the same "
        "(id, version) again with the same content is a no-op (200, `unchanged`); with new "
        "content it replaces the version (200, `replaced`) only while no order has been priced "
        "under it; a used version is frozen (409 `rate_card_version_used`): publish a new one."
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
        200: {"description": "Unchanged or replaced (unused version)"},
        409: {"description": "The version has priced orders and cannot change"},
        413: {"description": "The document exceeds GEODISPATCH_RATE_CARD_MAX_BYTES"},
        415: {"description": "Neither TOML nor JSON"},
        422: {"description": "Invalid card: the message names the rule and field"},
    },
)
def upload_rate_card(
    request: Request,
    response: Response,
    session: SessionDep,
    # Who asks comes first: an anonymous or non-admin caller is 401/403 whatever it sends.
    principal: Annotated[Principal, require_roles(Role.ADMIN)],
    document: Annotated[tuple[str, DocumentFormat], Depends(card_document)],
) -> RateCardSaved:
    text, document_format = document
    region_ids = {region.id for region in request.app.state.region_cache.index(session)}
    try:
        row, outcome = repo.save_version(
            session,
            document=text,
            document_format=document_format,
            region_ids=region_ids,
            now=utc_now(),
            actor_key_id=principal.key_id,
        )
    except RateCardVersionUsed as err:
        raise ApiError(409, err.code, str(err), err.details) from err
    session.commit()
    if outcome is not repo.SaveOutcome.CREATED:
        response.status_code = 200
    return RateCardSaved(outcome=outcome.value, rate_card=version_read(row))


@router.get(
    "",
    response_model=list[RateCardVersionRead],
    summary="List rate-card versions",
    description="Staff only. Newest effective date first; `card_id` narrows to one card.",
    dependencies=[STAFF],
)
def list_rate_cards(
    session: SessionDep,
    card_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[RateCardVersionRead]:
    return [version_read(row) for row in repo.list_versions(session, card_id=card_id)]


@router.get(
    "/in-force",
    response_model=RateCardVersionRead,
    summary="The rate card in force on a date",
    description=(
        "Staff only. The version that prices a service on `date` (in the card's time zone; "
        "default: today in the service's time zone). When versions overlap, the latest "
        "`effective_from` wins, then the highest version. 404 when no version covers the date."
    ),
    responses={404: {"description": "no version covers the date (`no_rate_card_in_force`)"}},
    dependencies=[STAFF],
)
def rate_card_in_force(
    session: SessionDep,
    settings: SettingsDep,
    on: Annotated[Day | None, Query(alias="date", description="YYYY-MM-DD")] = None,
) -> RateCardVersionRead:
    day = on or utc_now().astimezone(zone(settings.timezone)).date()
    row = repo.in_force_on(session, local_date=day)
    if row is None:
        raise ApiError(
            404,
            "no_rate_card_in_force",
            f"no rate-card version is in force on {day}",
            {"date": day.isoformat()},
        )
    return version_read(row, with_document=True)


@router.get(
    "/{card_id}/versions/{version:id}",
    response_model=RateCardVersionRead,
    summary="One rate-card version, with its document",
    dependencies=[STAFF],
)
def read_rate_card(card_id: str, version: VersionParam, session: SessionDep) -> RateCardVersionRead:
    row = repo.get_version(session, card_id=card_id, version=version)
    if row is None:
        raise ApiError(
            404,
            "not_found",
            f"no rate card {card_id}@v{version}",
            {"card_id": card_id, "version": version},
        )
    return version_read(row, with_document=True)
