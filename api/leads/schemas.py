"""Lead bodies and responses: capture, batch, CSV import results, touches, owners, funnel."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from api.fields import JSON_NUMBER, Count, Flag, Timestamp
from api.leads.rules.model import Channel
from api.schemas import CrsName, Latitude, Longitude, Strict
from api.tickets.schemas import (
    MAX_WINDOWS,
    ChannelId,
    Priority,
    SkillLevel,
    SkillName,
    TicketType,
    Window,
)

ProductLine = Annotated[
    str, Field(pattern=r"^[a-z0-9_]{1,64}$", examples=["central_ac"], description="e.g. central_ac")
]
Text200 = Annotated[str, Field(max_length=200)]
MAX_LEAD_BATCH = 1000
TOUCH_KINDS = Literal["call", "sms", "email", "visit", "note"]
TOUCH_OUTCOMES = Literal["reached", "no_answer", "voicemail", "replied", "bounced", "declined"]

LEAD_EXAMPLE: JsonDict = {
    "external_id": "form-20261122-0042",
    "channel": "web_form",
    "campaign": "double11-ac",
    "name": "王芳",
    "phone": "139 1234 5678",
    "email": "wang.fang@qq.com",
    "product_line": "central_ac",
    "address": "上海市浦东新区张杨路 500 号",
    "location": [121.5254, 31.2281],
    "crs": "gcj02",
    "notes": "3-bedroom flat, wants a quote before December",
}


class LeadCreate(Strict):
    """A lead as a channel captured it; at least a phone or an e-mail, or it is rejected."""

    model_config = ConfigDict(json_schema_extra={"examples": [LEAD_EXAMPLE]})

    external_id: str | None = Field(default=None, max_length=128, description="your own id")
    channel: Channel = Field(default=Channel.API, description="where the lead came from")
    campaign: str | None = Field(default=None, max_length=128)
    name: Text200 | None = None
    phone: str | None = Field(default=None, max_length=64, description="any format; default CN")
    email: str | None = Field(default=None, max_length=320)
    product_line: ProductLine | None = None
    address: str | None = Field(default=None, max_length=500)
    location: tuple[Longitude, Latitude] | None = Field(
        default=None, description="[lon, lat] in `crs`; stored as WGS84"
    )
    crs: CrsName = "wgs84"
    notes: str | None = Field(default=None, max_length=2000)
    captured_at: Timestamp | None = Field(
        default=None, description="when the channel captured it; default and upper bound: now"
    )
    member_id: ChannelId | None = Field(default=None, description="your loyalty member id")
    marketplace_buyer_id: ChannelId | None = Field(
        default=None, description="the buyer id of a marketplace order (Tmall, JD, ...)"
    )
    wechat_open_id: ChannelId | None = Field(default=None, description="WeChat open id")


class LeadBatchCreate(Strict):
    """Up to 1,000 leads, validated all together: one bad item refuses the whole batch."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "leads": [
                        LEAD_EXAMPLE,
                        {"channel": "offline_event", "campaign": "home-expo-2026",
                         "name": "李雷", "phone": "+86 138 1234 5678",
                         "product_line": "water_heater"},
                    ]
                }
            ]
        }
    )  # fmt: skip

    leads: list[LeadCreate] = Field(min_length=1, max_length=MAX_LEAD_BATCH)


class ScoreLineRead(BaseModel):
    code: str
    label: str
    points: int
    max_points: int


class ScoreRead(BaseModel):
    total: int = Field(description="0-100: the sum of the lines")
    band: Literal["hot", "warm", "cold"]
    lines: list[ScoreLineRead]


class RejectionRead(BaseModel):
    code: str = Field(description="no_contact, invalid_phone, invalid_email, test_contact, ...")
    reason: str


class FirstResponseRead(BaseModel):
    due_at: datetime | None
    responded_at: datetime | None
    is_at_risk: bool
    is_overdue: bool


class LeadRead(BaseModel):
    id: int
    source: str
    external_id: str | None
    channel: Channel
    campaign: str | None
    name: str | None
    phone: str | None = Field(description="E.164")
    email: str | None
    product_line: str | None
    address: str | None
    notes: str | None
    location: tuple[float, float] | None = Field(description="[lon, lat] WGS84")
    region_id: str | None
    team: str | None
    status: Literal["new", "assigned", "contacted", "converted", "rejected"]
    rejection: RejectionRead | None
    score: ScoreRead | None
    owner_id: str | None
    assignment_reason: str | None
    first_response: FirstResponseRead
    touch_count: int = Field(description="inbound captures of this person, the first included")
    last_touched_at: datetime
    ticket_id: int | None
    customer_id: int | None = Field(description="the customer the lead belongs to")
    converted_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TouchRead(BaseModel):
    id: int
    direction: Literal["inbound", "outbound"]
    kind: str
    channel: str | None
    campaign: str | None
    outcome: str | None
    note: str | None
    at: datetime


class NurtureStepRead(BaseModel):
    seq: int
    day: int
    kind: str
    due_at: datetime
    done_at: datetime | None


class NurtureDueRead(BaseModel):
    lead_id: int
    owner_id: str | None
    name: str | None
    phone: str | None
    email: str | None
    band: str | None
    seq: int
    day: int
    kind: str = Field(description="call, sms or email: record it with POST /{lead_id}/touches")
    due_at: datetime


class LeadDetail(LeadRead):
    touches: list[TouchRead]
    nurture: list[NurtureStepRead]


class LeadCaptured(BaseModel):
    outcome: Literal["created", "merged", "rejected"] = Field(
        description="merged: the same person within the window; the existing lead counts a touch"
    )
    lead: LeadRead


class BatchItemResult(BaseModel):
    index: int = Field(description="0-based position in the request (CSV: see `row`)")
    row: int | None = Field(default=None, description="CSV line number (header is line 1)")
    outcome: Literal["created", "merged", "rejected"]
    lead_id: int
    status: str
    rejection: RejectionRead | None


class RowError(BaseModel):
    row: int = Field(description="CSV line number (header is line 1)")
    field: str
    message: str


class LeadBatchResult(BaseModel):
    created: int
    merged: int
    rejected: int
    results: list[BatchItemResult]
    errors: list[RowError] = Field(
        default_factory=list, description="CSV partial mode: rows refused and not imported"
    )


class LeadPage(BaseModel):
    items: list[LeadRead]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null at end")


class TouchCreate(Strict):
    """An outbound contact with the lead; the first call, SMS, e-mail or visit meets the SLA."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"kind": "call", "outcome": "reached", "note": "wants a quote"}]
        }
    )

    kind: TOUCH_KINDS
    outcome: TOUCH_OUTCOMES | None = None
    note: str | None = Field(default=None, max_length=2000)
    at: Timestamp | None = Field(default=None, description="default and upper bound: now")


class LeadOwnerWrite(Strict):
    """Someone who works leads: a territory team (region attribute `team`) and product lines."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "陈静", "team": "team-310115", "product_lines": ["central_ac"]}]
        }
    )

    name: Text200 = Field(min_length=1)
    team: str | None = Field(default=None, max_length=64)
    product_lines: list[ProductLine] = Field(default_factory=list, max_length=50)
    max_open_leads: Annotated[int, Field(ge=1, le=10_000), JSON_NUMBER] | None = None
    is_active: Flag = True


class LeadOwnerRead(BaseModel):
    id: str
    name: str
    team: str | None
    product_lines: list[str]
    max_open_leads: int | None
    is_active: bool
    open_leads: int


class ConvertCreate(Strict):
    """What the ticket needs beyond the lead; the lead gives location, address and customer."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "install",
                    "duration_min": 120,
                    "skills": {"aircon": 2},
                    "time_windows": [["2026-11-25T09:00:00+08:00", "2026-11-25T12:00:00+08:00"]],
                }
            ]
        }
    )

    type: TicketType
    duration_min: Count = Field(ge=1, le=24 * 60, description="expected time on site")
    skills: dict[SkillName, SkillLevel] = Field(default_factory=dict, max_length=20)
    time_windows: list[Window] = Field(default_factory=list, max_length=MAX_WINDOWS)
    priority: Priority = "normal"
    sla_due_at: Timestamp | None = None
    external_id: str | None = Field(
        default=None, min_length=1, max_length=128, description="default: lead-<lead id>"
    )
    location: tuple[Longitude, Latitude] | None = Field(
        default=None, description="[lon, lat] in `crs`; default: the lead's location"
    )
    crs: CrsName = "wgs84"
    address: str | None = Field(
        default=None, min_length=1, max_length=500, description="default: the lead's address"
    )
    notes: str | None = Field(default=None, max_length=2000, description="default: the lead's")


class Converted(BaseModel):
    ticket_id: int
    lead: LeadRead


class FunnelRow(BaseModel):
    channel: str
    campaign: str | None = Field(description="null when not grouped by campaign, or none given")
    leads: int = Field(description="captured and not rejected")
    rejected: int
    contacted: int
    tickets: int = Field(description="converted into a ticket")
    completed: int = Field(description="ticket completed, confirmed or settled")
    paid: int = Field(description="ticket settled")


class Funnel(BaseModel):
    group_by: Literal["channel", "campaign"]
    rows: list[FunnelRow]
    totals: FunnelRow
