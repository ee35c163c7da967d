"""Customers on the wire: the list, the Customer 360, merge suggestions and merges."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.earnings.schemas import MoneyRead
from api.fields import RowId
from api.schemas import Strict

SuggestionStatus = Literal["open", "accepted", "refused", "unmerged"]
EventKind = Literal[
    "lead_captured", "lead_touch", "ticket_created", "status_change", "merged", "unmerged"
]


class CustomerRead(BaseModel):
    """A customer of one source: one person, whatever channel they came through."""

    id: int
    source: str
    name: str
    phone: str | None = Field(description="E.164, as first known")
    email: str | None
    address: str | None = Field(description="the first address known")
    merged_into_id: int | None = Field(description="set while merged into another customer")
    created_at: datetime


class CustomerPage(BaseModel):
    """One page of customers; pass ``next_cursor`` as ``cursor`` for the next one."""

    items: list[CustomerRead]
    next_cursor: str | None = Field(description="null on the last page")


class IdentifierRead(BaseModel):
    """An identifier of one channel; it names this customer only, within the source."""

    kind: str = Field(description="phone, email, member_id, marketplace_buyer_id, wechat_open_id")
    value: str
    created_at: datetime


class CustomerLeadRead(BaseModel):
    id: int
    channel: str
    campaign: str | None
    status: str
    ticket_id: int | None
    created_at: datetime


class CustomerTicketRead(BaseModel):
    """A ticket of the customer with its status, the technician's pay and the rating."""

    id: int
    external_id: str
    type: str
    status: str
    priority: str
    technician_id: str | None
    sla_due_at: datetime | None
    is_overdue: bool = Field(description="past its deadline and not yet completed")
    is_sla_breached: bool = Field(description="overdue now, or finished after its deadline")
    technician_pay: MoneyRead | None = Field(description="the settled payout; null until settled")
    rating: int | None = Field(description="the customer's rating, 1-5")
    created_at: datetime


class EventRead(BaseModel):
    """One entry of the customer's timeline."""

    at: datetime
    kind: EventKind
    summary: str
    lead_id: int | None = None
    ticket_id: int | None = None
    merge_id: int | None = None


class EvidenceRead(BaseModel):
    """Why two customers are probably one person."""

    code: str = Field(description="same_phone_different_name, same_name_nearby, shared_identifier")
    detail: str
    distance_m: float | None = Field(default=None, description="for same_name_nearby")


class MergeRead(BaseModel):
    """One merge: who merged what into whom, when, on what evidence, and what moved."""

    id: int
    source: str
    survivor_id: int
    merged_id: int
    suggestion_id: int | None
    evidence: list[EvidenceRead]
    moved: dict[str, list[int]] = Field(description="ticket, lead and identifier ids re-pointed")
    merged_at: datetime
    merged_by: str = Field(description="the API key id that merged (or the migration)")
    unmerged_at: datetime | None
    unmerged_by: str | None


class RecomputeRead(BaseModel):
    """How many customers were scored, by tier, under which policy, as of when."""

    scored: int
    by_tier: dict[str, int]
    policy_id: str
    policy_version: int
    as_of: datetime


class ValueScoreRead(BaseModel):
    """The RFM scores (1-5 each) that gave the customer their tier (docs/customers.md)."""

    recency: int
    frequency: int
    monetary: int
    services: int = Field(description="services completed in the policy's look-back window")
    billed: MoneyRead = Field(description="billed in the window")
    last_service_at: datetime | None
    policy_id: str
    policy_version: int
    computed_at: datetime


class Customer360(CustomerRead):
    """Everything about one customer: identifiers, leads, tickets, money, open work, timeline."""

    identifiers: list[IdentifierRead]
    leads: list[CustomerLeadRead]
    tickets: list[CustomerTicketRead]
    open_ticket_ids: list[int] = Field(description="open work: tickets not finished")
    sla_breach_ticket_ids: list[int]
    technician_pay_total: list[MoneyRead] = Field(description="settled pay, one per currency")
    spend: list[MoneyRead] = Field(
        description="what the customer was billed for done work (their bills' totals, "
        "docs/customer-bill.md), one per currency"
    )
    tier: str | None = Field(description="value tier (A/B/C) as last scored; null before that")
    value: ValueScoreRead | None = Field(description="the scores behind the tier")
    merges: list[MergeRead]
    timeline: list[EventRead] = Field(description="oldest first")


class SuggestionRead(BaseModel):
    """Two customers that are probably one person, with the evidence; a person decides."""

    id: int
    source: str
    customer: CustomerRead = Field(description="the earlier customer: it survives a merge")
    candidate: CustomerRead
    evidence: list[EvidenceRead]
    status: SuggestionStatus
    created_at: datetime
    decided_at: datetime | None
    decided_by_key_id: str | None


class SuggestionPage(BaseModel):
    items: list[SuggestionRead]
    next_cursor: str | None = Field(description="null on the last page")


class MergeCreate(Strict):
    """Merge another customer of the same source into this one (it keeps the history)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"duplicate_id": 42, "note": "same person, new phone"}]}
    )

    duplicate_id: RowId = Field(description="the customer to merge into the one in the path")
    note: str | None = Field(default=None, max_length=500, description="why, for the audit")
