"""Webhook subscriptions and their delivery log."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, Field, UrlConstraints
from pydantic_core import PydanticCustomError

from api.fields import Flag
from api.schemas import Strict
from api.tickets.rules import TicketStatus

#: A status change per status, and an escalation rule's firing on a ticket or a lead.
ESCALATION_EVENT_TYPES = ("ticket.escalated", "lead.escalated")
EVENT_TYPES = (
    "ticket.*",
    *(f"ticket.{status.value}" for status in TicketStatus),
    *ESCALATION_EVENT_TYPES,
)
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
MAX_URL_LENGTH = 2000  # the column's length


def _fits_the_column(url: AnyHttpUrl) -> AnyHttpUrl:
    """Refuse a URL whose normal form (IDNA host, percent-encoded path) outgrows the column."""
    if len(str(url)) > MAX_URL_LENGTH:
        raise PydanticCustomError(
            "url_too_long",
            "is {length} characters once encoded; at most {limit}",
            {"length": len(str(url)), "limit": MAX_URL_LENGTH},
        )
    return url


WebhookUrl = Annotated[
    AnyHttpUrl,
    UrlConstraints(max_length=MAX_URL_LENGTH, allowed_schemes=["https", "http"]),
    AfterValidator(_fits_the_column),
    Field(examples=["https://shop-a.example.cn/hooks/geodispatch"]),
]
Secret = Annotated[
    str,
    Field(min_length=16, max_length=128, pattern=r"^[\x21-\x7e]+$",
          description="your own signing secret; omit it to have one generated"),
]  # fmt: skip


class SubscriptionCreate(Strict):
    """Where to POST your tickets' status changes, and which ones."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://shop-a.example.cn/hooks/geodispatch",
                    "event_types": ["ticket.completed", "ticket.cancelled", "ticket.failed"],
                    "description": "order status sync",
                }
            ]
        },
    )

    url: WebhookUrl
    event_types: list[EventType] = Field(
        min_length=1,
        max_length=len(EVENT_TYPES),
        description="`ticket.<status>` per status, or `ticket.*` for every change",
    )
    secret: Secret | None = None
    description: str | None = Field(default=None, max_length=500)
    is_active: Flag = True


class SubscriptionUpdate(Strict):
    """Change a subscription; omitted fields stay as they are."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"is_active": False}]}
    )

    url: WebhookUrl | None = None
    event_types: list[EventType] | None = Field(
        default=None, min_length=1, max_length=len(EVENT_TYPES)
    )
    description: str | None = Field(default=None, max_length=500)
    is_active: Flag | None = None


class SubscriptionRead(BaseModel):
    id: int
    source: str
    url: str
    event_types: list[str]
    description: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class SubscriptionCreated(SubscriptionRead):
    secret: str = Field(description="shown only here: store it to verify signatures")


class DeliveryAttemptRead(BaseModel):
    attempt_no: int
    started_at: datetime
    latency_ms: int
    status_code: int | None
    error: str | None
    is_success: bool


class DeliveryRead(BaseModel):
    id: int = Field(description="also sent as X-Geodispatch-Delivery; the same on every retry")
    event_type: str
    ticket_id: int | None = Field(description="null for a lead's escalation (`lead.escalated`)")
    status: Literal["pending", "succeeded", "failed"]
    attempt_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    completed_at: datetime | None
    body: str = Field(description="the exact JSON that is signed and sent")
    attempts: list[DeliveryAttemptRead]


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    next_cursor: str | None
