"""``/v1/customers``: one customer per person and source, the Customer 360, merges.

Staff see every customer; an integrator only its own source's; technicians none.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.auth import Principal, Role, require_roles, utc_now
from api.customers import service
from api.customers.schemas import (
    Customer360,
    CustomerPage,
    MergeCreate,
    MergeRead,
    RecomputeRead,
    SuggestionPage,
    SuggestionRead,
    SuggestionStatus,
)
from api.customers.service import Reader, VisibleCustomer
from api.customers.valuation import policy_of, recompute
from api.deps import SessionDep, SettingsDep
from api.fields import RowIdParam
from api.pages.access import page_roles
from api.pages.templates import page_language, render

router = APIRouter(prefix="/customers", tags=["customers"])
page_router = APIRouter(include_in_schema=False)
AdminDep = Annotated[Principal, require_roles(Role.ADMIN)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such object of yours"}}
DECIDED: dict[int | str, dict[str, Any]] = {
    409: {"description": "Already decided (`suggestion_decided`), or a customer is merged"}
}
Cursor = Annotated[str | None, Query(max_length=200, description="`next_cursor` of a page")]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.get(
    "",
    response_model=CustomerPage,
    summary="Customers, searched by phone, e-mail or name",
    description=(
        "Live customers (not merged into another) in id order. `phone` is read as any "
        "format and compared in E.164 (one that does not parse is 422); `email` is compared "
        "case-insensitively; `name` matches the start of the name, ignoring case, spaces and "
        "punctuation. Pages: pass `next_cursor` as `cursor`."
    ),
)
def list_customers(
    principal: Reader,
    session: SessionDep,
    phone: Annotated[str | None, Query(max_length=32)] = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    name: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> CustomerPage:
    return service.list_customers(
        session, principal=principal, phone=phone, email=email, name=name, cursor=cursor,
        limit=limit,
    )  # fmt: skip


@router.get(
    "/merge-suggestions",
    response_model=SuggestionPage,
    summary="Probable duplicates, with the evidence, for a person to decide",
    description=(
        "A suggestion pairs two customers of one source that are probably one person: the "
        "same phone under another name, or the same name within 200 m. Nothing is merged "
        "until someone accepts it. `?status=open` is the queue."
    ),
)
def list_suggestions(
    principal: Reader,
    session: SessionDep,
    status: Annotated[SuggestionStatus | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> SuggestionPage:
    return service.list_suggestions(
        session, principal=principal, status=status, cursor=cursor, limit=limit
    )


@router.post(
    "/merge-suggestions/{suggestion_id:int}/accept",
    response_model=MergeRead,
    summary="Accept a suggestion: merge the later customer into the earlier one",
    description=(
        "Re-points the later customer's tickets, leads and identifiers to the earlier one and "
        "records the merge (who, when, the evidence, what moved); undo it with "
        "`POST /v1/customers/merges/{merge_id}/unmerge`."
    ),
    responses={**NOT_FOUND, **DECIDED},
)
def accept_suggestion(
    suggestion_id: RowIdParam, principal: Reader, session: SessionDep
) -> MergeRead:
    return service.accept(session, principal=principal, suggestion_id=suggestion_id)


@router.post(
    "/merge-suggestions/{suggestion_id:int}/refuse",
    response_model=SuggestionRead,
    summary="Refuse a suggestion: the two stay apart and the pair is not offered again",
    responses={**NOT_FOUND, **DECIDED},
)
def refuse_suggestion(
    suggestion_id: RowIdParam, principal: Reader, session: SessionDep
) -> SuggestionRead:
    return service.refuse(session, principal=principal, suggestion_id=suggestion_id)


@router.post(
    "/merges/{merge_id:int}/unmerge",
    response_model=MergeRead,
    summary="Undo a merge: what it moved goes back",
    description=(
        "The merged customer lives again with the tickets, leads and identifiers the merge "
        "moved (work linked to the survivor since stays with it). The merge stays on record, "
        "stamped with who undid it and when."
    ),
    responses={
        **NOT_FOUND,
        409: {"description": "Already undone, or the survivor was merged since"},
    },
)
def unmerge(merge_id: RowIdParam, principal: Reader, session: SessionDep) -> MergeRead:
    return service.unmerge(session, principal=principal, merge_id=merge_id)


@router.post(
    "/value-tiers/recompute",
    response_model=RecomputeRead,
    summary="Score every customer now and store their value tiers (admin)",
    description=(
        "Recency, frequency and what each customer was billed, against the value-tier policy in "
        "force (`GEODISPATCH_VALUE_TIERS_FILE`, docs/customers.md); the scores are replaced in "
        "one transaction. Run daily by `geodispatch customers tiers` from cron; this route is "
        "for an immediate rescoring. Dispatch runs from then on use the new tiers."
    ),
)
def recompute_value_tiers(
    _admin: AdminDep, session: SessionDep, settings: SettingsDep, request: Request
) -> RecomputeRead:
    regions = request.app.state.region_cache.index(session)
    policy = policy_of(settings.value_tiers_file)
    at = utc_now()
    counts = recompute(session, policy=policy, as_of=at, regions=regions)
    return RecomputeRead(
        scored=sum(counts.values()), by_tier={t.name: counts.get(t.name, 0) for t in policy.tiers},
        policy_id=policy.id, policy_version=policy.version, as_of=at,
    )  # fmt: skip


@router.get(
    "/{customer_id:int}",
    response_model=Customer360,
    summary="Customer 360: identifiers, leads, tickets, pay, ratings, open work, timeline",
    responses=NOT_FOUND,
)
def read_customer(customer: VisibleCustomer, session: SessionDep, request: Request) -> Customer360:
    regions = request.app.state.region_cache.index(session)
    return service.read_360(session, customer=customer, regions=regions)


@router.post(
    "/{customer_id:int}/merge",
    response_model=MergeRead,
    summary="Merge another customer of the same source into this one",
    description=(
        "For duplicates no rule suggested. Merging a customer with itself, with one of "
        "another source or with one that is not yours is 422 naming `duplicate_id`."
    ),
    responses={**NOT_FOUND, 409: {"description": "A customer is merged into another already"}},
)
def merge_customer(
    customer: VisibleCustomer, merge_in: MergeCreate, principal: Reader, session: SessionDep
) -> MergeRead:
    return service.merge_into(
        session, principal=principal, survivor=customer, duplicate_id=merge_in.duplicate_id,
        note=merge_in.note,
    )  # fmt: skip


Staff = Annotated[Principal, page_roles(Role.ADMIN, Role.DISPATCHER)]
DUPLICATES_PER_PAGE = 50


@page_router.get("/customers/duplicates", response_class=HTMLResponse)
def duplicates_page(
    principal: Staff, request: Request, session: SessionDep, cursor: Cursor = None
) -> HTMLResponse:
    """Show the open merge suggestions, each pair side by side with its evidence.

    Merging, refusing and undoing a merge go through the JSON API from the page's script.
    """
    queue = service.list_suggestions(
        session, principal=principal, status="open", cursor=cursor, limit=DUPLICATES_PER_PAGE
    )
    title = "Probable duplicates" if page_language(request) == "en" else "疑似重复客户"
    return render(request, "duplicates.html", {"title": title, "queue": queue})
