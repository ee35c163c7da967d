"""Customers' use cases: who sees a customer, the Customer 360, merge suggestions and merges.

Linking tickets and leads to customers is :mod:`api.customers.identity`. Staff see every
customer; an integrator only its own source's (404 for another's, so ids reveal nothing).
A merge re-points the merged customer's tickets, leads and identifiers to the survivor and
records what it moved; an un-merge moves exactly those back. Both are audited (key, time,
evidence) and nothing is deleted.
"""

import base64
import binascii
from collections import defaultdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy.orm import Session

from api.auth import Principal, Role, require_roles, utc_now
from api.bills.service import bill_totals
from api.customers import repository as repo
from api.customers.rules import (
    InvalidIdentifier,
    email_value,
    merge_refusal,
    name_key,
    phone_value,
)
from api.customers.schemas import (
    Customer360,
    CustomerLeadRead,
    CustomerPage,
    CustomerRead,
    CustomerTicketRead,
    EventRead,
    IdentifierRead,
    MergeRead,
    SuggestionPage,
    SuggestionRead,
    SuggestionStatus,
    ValueScoreRead,
)
from api.customers.value_store import stored_score
from api.db.tables import CustomerMergeRow, CustomerRow, CustomerValueRow, MergeSuggestionRow
from api.deps import SessionDep
from api.earnings.schemas import MoneyRead
from api.errors import ApiError, invalid_field
from api.fields import RowIdParam
from api.tickets.rules import OPEN_STATUSES
from geo.regions import RegionIndex

Reader = Annotated[Principal, require_roles(Role.ADMIN, Role.DISPATCHER, Role.INTEGRATOR)]
FINISHED = ("completed", "confirmed", "settled")


def _sees(principal: Principal, source: str) -> bool:
    return principal.is_staff or source == principal.source


def visible_customer(
    customer_id: RowIdParam, session: SessionDep, principal: Reader
) -> CustomerRow:
    """Load a customer the caller may see; 404 otherwise."""
    row = repo.get(session, customer_id=customer_id)
    if row is None or not _sees(principal, row.source):
        raise ApiError(404, "not_found", f"no customer {customer_id}")
    return row


VisibleCustomer = Annotated[CustomerRow, Depends(visible_customer)]


def customer_read(row: CustomerRow) -> CustomerRead:
    """Shape one customer."""
    return CustomerRead(
        id=row.id, source=row.source, name=row.name, phone=row.phone, email=row.email,
        address=row.address, merged_into_id=row.merged_into_id, created_at=row.created_at,
    )  # fmt: skip


# Listing and searching.
def list_customers(
    session: Session,
    *,
    principal: Principal,
    phone: str | None,
    email: str | None,
    name: str | None,
    cursor: str | None,
    limit: int,
) -> CustomerPage:
    """Return a page of live customers the caller may see, matching every filter given."""
    try:
        where = repo.CustomerFilter(
            source=None if principal.is_staff else principal.source,
            phone=phone_value(phone, field_name="phone") if phone else None,
            email=email_value(email, field_name="email").casefold() if email else None,
            name=name_key(name) if name else None,
        )
    except InvalidIdentifier as err:
        raise invalid_field(err.field, str(err), location="query") from err
    rows = repo.listing(session, where=where, after_id=_after(cursor, "c1"), limit=limit + 1)
    return CustomerPage(
        items=[customer_read(r) for r in rows[:limit]],
        next_cursor=_cursor("c1", rows[limit - 1].id) if len(rows) > limit else None,
    )


def _cursor(prefix: str, after_id: int) -> str:
    return base64.urlsafe_b64encode(f"{prefix}:{after_id}".encode()).decode().rstrip("=")


def _after(cursor: str | None, prefix: str) -> int | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        head, _, after = raw.partition(b":")
        if head != prefix.encode() or not after.isdigit():
            raise ValueError(cursor)
        return int(after)
    except (ValueError, binascii.Error) as err:
        raise invalid_field("cursor", "not a cursor this API returned", location="query") from err


# The Customer 360.
def read_360(session: Session, *, customer: CustomerRow, regions: RegionIndex) -> Customer360:
    """Return everything about ``customer``, its timeline oldest first."""
    now = utc_now()
    leads = repo.leads_of(session, customer_id=customer.id)
    facts = repo.tickets_of(session, customer_id=customer.id)
    changes = repo.status_changes(session, ticket_ids=[f.ticket.id for f in facts])
    finished_at = {c.ticket_id: c.at for c in changes if c.to_status == "completed"}
    tickets = [_ticket_read(f, finished_at.get(f.ticket.id), now) for f in facts]
    pay: dict[str, int] = defaultdict(int)
    for f in facts:
        if f.pay_fen is not None and f.pay_currency is not None:
            pay[f.pay_currency] += f.pay_fen
    merges = repo.merges_of(session, customer_id=customer.id)
    timeline = _timeline(session, leads, facts, changes, merges)
    scored = stored_score(session, customer_id=customer.id)
    return Customer360(
        **customer_read(customer).model_dump(),
        identifiers=[
            IdentifierRead(kind=i.kind, value=i.value, created_at=i.created_at)
            for i in repo.identifiers(session, customer_ids=[customer.id])
        ],
        leads=[
            CustomerLeadRead(
                id=lead.id,
                channel=lead.channel,
                campaign=lead.campaign,
                status=lead.status,
                ticket_id=lead.ticket_id,
                created_at=lead.created_at,
            )
            for lead in leads
        ],
        tickets=tickets,
        open_ticket_ids=[t.id for t in tickets if t.status in OPEN_STATUSES],
        sla_breach_ticket_ids=[t.id for t in tickets if t.is_sla_breached],
        technician_pay_total=[MoneyRead.of_fen(fen, cur) for cur, fen in sorted(pay.items())],
        spend=_spend(session, [f.ticket.id for f in facts], regions),
        tier=None if scored is None else scored.tier,
        value=None if scored is None else _value_read(scored),
        merges=[merge_read(m) for m in merges],
        timeline=timeline,
    )


def _spend(session: Session, ticket_ids: list[int], regions: RegionIndex) -> list[MoneyRead]:
    """Sum the customer's bills by currency (tickets without a bill are not counted)."""
    totals: dict[str, int] = defaultdict(int)
    for total in bill_totals(session, ticket_ids, regions=regions).values():
        totals[total.currency] += total.to_fen()
    return [MoneyRead.of_fen(fen, currency) for currency, fen in sorted(totals.items())]


def _value_read(row: CustomerValueRow) -> ValueScoreRead:
    return ValueScoreRead(
        recency=row.recency, frequency=row.frequency, monetary=row.monetary,
        services=row.services, billed=MoneyRead.of_fen(row.billed_fen, "CNY"),
        last_service_at=row.last_service_at, policy_id=row.policy_id,
        policy_version=row.policy_version, computed_at=row.computed_at,
    )  # fmt: skip


def _ticket_read(
    f: repo.TicketFacts, completed_at: datetime | None, now: datetime
) -> CustomerTicketRead:
    t = f.ticket
    due = t.sla_due_at
    is_overdue = due is not None and t.status in OPEN_STATUSES and due < now
    finished_late = due is not None and completed_at is not None and completed_at > due
    return CustomerTicketRead(
        id=t.id, external_id=t.external_id, type=t.type, status=t.status, priority=t.priority,
        technician_id=t.technician_id, sla_due_at=due, is_overdue=is_overdue,
        is_sla_breached=is_overdue or finished_late,
        technician_pay=None if f.pay_fen is None or f.pay_currency is None
        else MoneyRead.of_fen(f.pay_fen, f.pay_currency),
        rating=f.rating, created_at=t.created_at,
    )  # fmt: skip


def _timeline(
    session: Session,
    leads: list[Any],
    facts: list[repo.TicketFacts],
    changes: list[Any],
    merges: list[CustomerMergeRow],
) -> list[EventRead]:
    events = [
        EventRead(at=lead.created_at, kind="lead_captured", lead_id=lead.id,
                  summary=f"lead via {lead.channel} {lead.campaign or ''}".strip())
        for lead in leads
    ]  # fmt: skip
    touches = repo.touches_of(session, lead_ids=[lead.id for lead in leads])
    events += [
        EventRead(at=t.at, kind="lead_touch", lead_id=t.lead_id,
                  summary=f"{t.direction} {t.kind}" + (f": {t.outcome}" if t.outcome else ""))
        for t in touches
    ]  # fmt: skip
    events += [
        EventRead(at=f.ticket.created_at, kind="ticket_created", ticket_id=f.ticket.id,
                  summary=f"{f.ticket.type} ticket {f.ticket.external_id}")
        for f in facts
    ]  # fmt: skip
    events += [
        EventRead(at=c.at, kind="status_change", ticket_id=c.ticket_id,
                  summary=f"{c.from_status} → {c.to_status}")
        for c in changes
        if c.from_status is not None  # the creation is the ticket_created event
    ]  # fmt: skip
    for m in merges:
        what = f"customer {m.merged_id} merged into {m.survivor_id} by {m.merged_by}"
        events.append(EventRead(at=m.merged_at, kind="merged", merge_id=m.id, summary=what))
        if m.unmerged_at is not None:
            undone = f"merge {m.id} undone by {m.unmerged_by}"
            events.append(
                EventRead(at=m.unmerged_at, kind="unmerged", merge_id=m.id, summary=undone)
            )
    return sorted(events, key=lambda e: e.at)


def merge_read(row: CustomerMergeRow) -> MergeRead:
    """Shape one merge."""
    return MergeRead.model_validate({name: getattr(row, name) for name in MergeRead.model_fields})


# Merge suggestions: listed, accepted (a merge) or refused.
def list_suggestions(
    session: Session, *, principal: Principal, status: SuggestionStatus | None, cursor: str | None,
    limit: int,
) -> SuggestionPage:  # fmt: skip
    """Return a page of suggestions the caller may see, in id order."""
    rows = repo.suggestions(
        session, source=None if principal.is_staff else principal.source, status=status,
        after_id=_after(cursor, "s1"), limit=limit + 1,
    )  # fmt: skip
    return SuggestionPage(
        items=[suggestion_read(session, r) for r in rows[:limit]],
        next_cursor=_cursor("s1", rows[limit - 1].id) if len(rows) > limit else None,
    )


def suggestion_read(session: Session, row: MergeSuggestionRow) -> SuggestionRead:
    """Shape one suggestion with both customers."""
    first, second = (repo.get(session, customer_id=i) for i in (row.customer_id, row.candidate_id))
    assert first is not None and second is not None, "a suggestion's customers are never deleted"
    return SuggestionRead(
        id=row.id, source=row.source, customer=customer_read(first),
        candidate=customer_read(second), evidence=row.evidence, status=row.status,  # type: ignore[arg-type]
        created_at=row.created_at, decided_at=row.decided_at,
        decided_by_key_id=row.decided_by_key_id,
    )  # fmt: skip


def _suggestion(session: Session, principal: Principal, suggestion_id: int) -> MergeSuggestionRow:
    row = repo.get_suggestion(session, suggestion_id=suggestion_id, for_update=True)
    if row is None or not _sees(principal, row.source):
        raise ApiError(404, "not_found", f"no merge suggestion {suggestion_id}")
    if row.status != "open":
        raise ApiError(
            409, "suggestion_decided", f"merge suggestion {row.id} is {row.status}",
            {"status": row.status},
        )  # fmt: skip
    return row


def accept(session: Session, *, principal: Principal, suggestion_id: int) -> MergeRead:
    """Merge the suggestion's candidate into its (earlier) customer, with its evidence."""
    row = _suggestion(session, principal, suggestion_id)
    now = utc_now()
    merge = _merge(
        session, survivor_id=row.customer_id, merged_id=row.candidate_id, suggestion_id=row.id,
        evidence=row.evidence, actor=principal.key_id, now=now,
    )  # fmt: skip
    row.status, row.decided_at, row.decided_by_key_id = "accepted", now, principal.key_id
    session.commit()
    return merge_read(merge)


def refuse(session: Session, *, principal: Principal, suggestion_id: int) -> SuggestionRead:
    """Refuse a suggestion: the pair is kept apart and not offered again."""
    row = _suggestion(session, principal, suggestion_id)
    row.status, row.decided_at, row.decided_by_key_id = "refused", utc_now(), principal.key_id
    session.flush()
    read = suggestion_read(session, row)
    session.commit()
    return read


# Merges asked for by hand, and un-merges.
def merge_into(
    session: Session, *, principal: Principal, survivor: CustomerRow, duplicate_id: int,
    note: str | None,
) -> MergeRead:  # fmt: skip
    """Merge ``duplicate_id`` into ``survivor``; 422 naming ``duplicate_id`` when it cannot be."""
    duplicate = repo.get(session, customer_id=duplicate_id)
    if duplicate is None or not _sees(principal, duplicate.source):
        raise invalid_field("duplicate_id", f"no customer {duplicate_id} of your source")
    refusal = merge_refusal(survivor.source, duplicate.source, survivor.id, duplicate.id)
    if refusal is not None:
        raise invalid_field("duplicate_id", refusal)
    suggestion = repo.open_suggestion_of(session, first=survivor.id, second=duplicate.id)
    evidence = list(suggestion.evidence) if suggestion is not None else []
    evidence.append({"code": "by_hand", "detail": note or "merged by hand", "distance_m": None})
    now = utc_now()
    merge = _merge(
        session, survivor_id=survivor.id, merged_id=duplicate.id,
        suggestion_id=suggestion.id if suggestion is not None and suggestion.status == "open"
        else None, evidence=evidence, actor=principal.key_id, now=now,
    )  # fmt: skip
    if suggestion is not None and suggestion.status == "open":
        suggestion.status, suggestion.decided_at = "accepted", now
        suggestion.decided_by_key_id = principal.key_id
    session.commit()
    return merge_read(merge)


def _merge(
    session: Session, *, survivor_id: int, merged_id: int, suggestion_id: int | None,
    evidence: list[dict[str, Any]], actor: str, now: datetime,
) -> CustomerMergeRow:  # fmt: skip
    """Lock both customers (in id order, so concurrent merges cannot deadlock) and merge."""
    locked = {
        i: repo.get(session, customer_id=i, for_update=True)
        for i in sorted((survivor_id, merged_id))
    }
    survivor, merged = locked[survivor_id], locked[merged_id]
    assert survivor is not None and merged is not None, "customers are never deleted"
    for row in (survivor, merged):
        if row.merged_into_id is not None:
            raise ApiError(
                409, "customer_merged",
                f"customer {row.id} is merged into {row.merged_into_id}; use that one",
                {"customer_id": row.id, "merged_into_id": row.merged_into_id},
            )  # fmt: skip
    return repo.merge(
        session, survivor=survivor, merged=merged, suggestion_id=suggestion_id,
        evidence=evidence, actor=actor, now=now,
    )  # fmt: skip


def unmerge(session: Session, *, principal: Principal, merge_id: int) -> MergeRead:
    """Undo a merge: what it moved goes back, the merged customer lives again."""
    row = repo.get_merge(session, merge_id=merge_id, for_update=True)
    if row is None or not _sees(principal, row.source):
        raise ApiError(404, "not_found", f"no merge {merge_id}")
    if row.unmerged_at is not None:
        raise ApiError(409, "merge_undone", f"merge {row.id} is already undone", {})
    survivor = repo.get(session, customer_id=row.survivor_id, for_update=True)
    if survivor is not None and survivor.merged_into_id is not None:
        raise ApiError(
            409, "customer_merged",
            f"customer {survivor.id} has since been merged into {survivor.merged_into_id}; "
            "undo that merge first",
            {"customer_id": survivor.id, "merged_into_id": survivor.merged_into_id},
        )  # fmt: skip
    repo.unmerge(session, merge=row, actor=principal.key_id, now=utc_now())
    read = merge_read(row)
    session.commit()
    return read
