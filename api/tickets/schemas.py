"""Ticket bodies: the contract integrators code against (``POST /v1/tickets`` and friends).

Models import no repository: what a response needs from the database arrives as rows.
"""

import base64
import binascii
import itertools
from collections import Counter
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict

from api.customers.rules import email_value, phone_value
from api.db.spatial import lonlat
from api.db.tables import CustomerRow, TicketRow
from api.errors import ApiError
from api.fields import JSON_NUMBER, Count, Timestamp, base64_within
from api.schemas import CrsName, Latitude, Longitude, Strict
from api.tickets.rules import Confirmation, NewCustomer, NewTicket, TicketStatus, sla_flags

# Creating and reading tickets.
TicketType = Literal["install", "repair", "maintenance", "inspection", "consult"]
Priority = Literal["normal", "urgent", "emergency"]
SkillName = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]
SkillLevel = Annotated[int, Field(ge=1, le=10), JSON_NUMBER]
Window = tuple[Timestamp, Timestamp]
# Difficulty flags and material codes are keys of the rate card's rules.
CardTerm = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][\w.-]*$")]

MAX_WINDOW = timedelta(days=31)
MAX_WINDOWS = 20
MAX_TICKET_BATCH = 10_000

_EXAMPLE: JsonDict = {
    "external_id": "SO-2026-000123",
    "type": "repair",
    "location": [121.4737, 31.2304],
    "crs": "gcj02",
    "address": "上海市黄浦区南京东路 100 号 12 楼 1203",
    "duration_min": 90,
    "skills": {"aircon": 2},
    "time_windows": [["2026-11-23T09:00:00+08:00", "2026-11-23T12:00:00+08:00"]],
    "priority": "urgent",
    "sla_due_at": "2026-11-23T18:00:00+08:00",
    "customer": {"name": "王女士", "phone": "+86 138 0013 8000"},
    "notes": "Unit leaks water; parking in basement B2.",
    "demand": 1,
    "units": 2,
    "difficulty": ["high_floor_no_lift"],
    "materials": [{"code": "copper_pipe_m", "quantity": 3}],
}


ChannelId = Annotated[
    str,
    Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$", description="printable ASCII"),
]


class CustomerIn(Strict):
    """Who the work is for: linked to the one customer of your source it identifies.

    An identifier your source already knows links the ticket to that customer at once (a phone
    only when the name agrees); a probable match is offered for merge, never merged silently
    (`docs/customers.md`). Customers are never shared with other integrators.
    """

    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(
        default=None, max_length=32, description="any format (national numbers read as CN); "
        "stored in E.164; a number that does not parse is 422"
    )  # fmt: skip
    email: EmailStr | None = None
    member_id: ChannelId | None = Field(default=None, description="your loyalty member id")
    marketplace_buyer_id: ChannelId | None = Field(
        default=None, description="the buyer id of a marketplace order (Tmall, JD, ...)"
    )
    wechat_open_id: ChannelId | None = Field(default=None, description="WeChat open id")

    @field_validator("phone")
    @classmethod
    def _phone_parses(cls, phone: str | None) -> str | None:
        return None if phone is None else phone_value(phone, field_name="phone")

    @field_validator("email")
    @classmethod
    def _email_canonical(cls, email: str | None) -> str | None:
        return None if email is None else email_value(email, field_name="email")

    def new_customer(self) -> NewCustomer:
        """Return the customer as the identity rules take it."""
        return NewCustomer(
            self.name, self.phone, self.email, self.member_id, self.marketplace_buyer_id,
            self.wechat_open_id,
        )  # fmt: skip


class TicketCustomerRead(BaseModel):
    """The customer a ticket belongs to (``GET /v1/customers/{id}`` has the whole story)."""

    id: int | None = Field(description="the customer's id")
    name: str
    phone: str | None = Field(description="E.164")
    email: str | None
    tier: str | None = Field(
        default=None,
        description="the customer's value tier (A/B/C, docs/customers.md) as last scored; null "
        "before the first scoring, and in the answer to a creation",
    )


class MaterialIn(Strict):
    """A material the job uses, priced by the rate card's material deduction."""

    code: CardTerm = Field(description="a material code of the rate card, e.g. copper_pipe_m")
    quantity: Count = Field(ge=1, le=100_000, description="units of the material used")


def _unique(values: list[str], what: str) -> None:
    repeated = sorted(v for v, n in Counter(values).items() if n > 1)
    if repeated:
        raise ValueError(f"{what} listed more than once: {', '.join(repeated)}")


class TicketCreate(Strict):
    """One work order as an integrator or dispatcher submits it."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    external_id: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="your own id for the order, unique within your source; printable ASCII",
    )
    type: TicketType
    location: tuple[Longitude, Latitude] = Field(description="[lon, lat] in the datum of `crs`")
    crs: CrsName = Field(default="wgs84", description="datum of `location`; stored as WGS84")
    address: str = Field(min_length=1, max_length=500)
    duration_min: Count = Field(ge=1, le=24 * 60, description="expected time on site")
    skills: dict[SkillName, SkillLevel] = Field(
        default_factory=dict,
        max_length=20,
        description="required skills with their minimum level (1-10), from the skill catalogue",
    )
    time_windows: list[Window] = Field(
        default_factory=list,
        max_length=MAX_WINDOWS,
        description="allowed arrival windows [[start, end], ...], ISO 8601 with an offset; "
        "each at most 31 days, none overlapping; empty: any time",
    )
    priority: Priority = "normal"
    sla_due_at: Timestamp | None = Field(default=None, description="service deadline")
    customer: CustomerIn | None = None
    notes: str | None = Field(default=None, max_length=2000)
    demand: Count = Field(
        default=0,
        ge=0,
        le=10_000,
        description="parts the technician carries to the job; counts against their capacity",
    )
    units: Count = Field(
        default=1,
        ge=1,
        le=1000,
        description="units of work (locks installed, units serviced); the rate card's unit "
        "fee pays each unit beyond the first",
    )
    difficulty: list[CardTerm] = Field(
        default_factory=list,
        max_length=20,
        description="difficulty flags of the rate card's difficulty rule (e.g. "
        "high_floor_no_lift); a flag no rate card in force defines is 422",
    )
    materials: list[MaterialIn] = Field(
        default_factory=list,
        max_length=50,
        description="materials used, each code at most once; deducted at the rate card's "
        "price; a code no rate card in force defines is 422",
    )

    @field_validator("difficulty")
    @classmethod
    def _flags_once(cls, flags: list[str]) -> list[str]:
        _unique(flags, "difficulty flags")
        return flags

    @field_validator("materials")
    @classmethod
    def _materials_once(cls, materials: list[MaterialIn]) -> list[MaterialIn]:
        _unique([m.code for m in materials], "material codes")
        return materials

    @field_validator("time_windows")
    @classmethod
    def _windows_are_sane(cls, windows: list[Window]) -> list[Window]:
        for start, end in windows:
            if not start < end:
                raise ValueError(f"window starts at {start.isoformat()}, not before its end")
            if end - start > MAX_WINDOW:
                raise ValueError(f"window longer than {MAX_WINDOW.days} days")
        ordered = sorted(windows)
        for (_, end), (start, _) in itertools.pairwise(ordered):
            if start < end:
                raise ValueError("time windows overlap; merge them into one")
        return ordered


_BATCH_EXAMPLE: JsonDict = {
    "tickets": [
        _EXAMPLE,
        {
            "external_id": "SO-2026-000124",
            "type": "install",
            "location": [121.5447, 31.2216],
            "crs": "gcj02",
            "address": "上海市浦东新区锦绣路 1001 弄 8 号 602 室",
            "duration_min": 150,
            "skills": {"aircon": 3, "electrical": 1},
            "time_windows": [
                ["2026-11-24T13:00:00+08:00", "2026-11-24T17:00:00+08:00"],
                ["2026-11-25T09:00:00+08:00", "2026-11-25T12:00:00+08:00"],
            ],
            "sla_due_at": "2026-11-25T18:00:00+08:00",
            "customer": {"name": "陈先生", "phone": "+86 137 6543 2109"},
            "notes": "New split unit in the master bedroom; call 30 minutes ahead.",
            "demand": 4,
        },
    ]
}


class TicketBatchCreate(Strict):
    """Up to 10,000 tickets, stored all together or not at all."""

    model_config = ConfigDict(json_schema_extra={"examples": [_BATCH_EXAMPLE]})

    tickets: list[TicketCreate] = Field(min_length=1, max_length=MAX_TICKET_BATCH)


class SlaRead(BaseModel):
    """Where a ticket stands against its deadline (computed when read)."""

    at_risk: bool = Field(description="due within the configured margin and not yet completed")
    overdue: bool = Field(description="past its deadline and not yet completed")


class TicketRead(BaseModel):
    """A ticket as the API returns it."""

    id: int
    source: str
    external_id: str
    type: str
    location: tuple[float, float] = Field(description="[lon, lat], WGS84")
    region_id: str | None = Field(description="most specific region, null outside every region")
    address: str
    duration_min: int
    skills: dict[str, int]
    time_windows: list[tuple[datetime, datetime]]
    priority: str
    sla_due_at: datetime | None
    sla: SlaRead
    status: TicketStatus
    technician_id: str | None
    customer: TicketCustomerRead | None
    notes: str | None
    demand: int
    units: int
    difficulty: list[str]
    materials: list[MaterialIn]
    created_at: datetime
    updated_at: datetime


class TicketCreated(BaseModel):
    """One ticket of a batch, as stored."""

    id: int
    external_id: str
    region_id: str | None
    status: TicketStatus


class TicketBatchRead(BaseModel):
    """What a batch stored, in the order it was sent."""

    count: int
    tickets: list[TicketCreated]


def ticket_read(
    row: TicketRow, customer: CustomerRow | None, *, now: datetime, margin: timedelta,
    tier: str | None = None,
) -> TicketRead:  # fmt: skip
    """Shape a stored ticket for the API."""
    at_risk, overdue = sla_flags(
        status=row.status, sla_due_at=row.sla_due_at, now=now, at_risk_margin=margin
    )
    return TicketRead(
        id=row.id,
        source=row.source,
        external_id=row.external_id,
        type=row.type,
        location=lonlat(row.location),
        region_id=row.region_id,
        address=row.address,
        duration_min=row.duration_min,
        skills=row.skills,
        time_windows=[
            (datetime.fromisoformat(s), datetime.fromisoformat(e)) for s, e in row.time_windows
        ],
        priority=row.priority,
        sla_due_at=row.sla_due_at,
        sla=SlaRead(at_risk=at_risk, overdue=overdue),
        status=TicketStatus(row.status),
        technician_id=row.technician_id,
        customer=None
        if customer is None
        else TicketCustomerRead(
            id=customer.id,
            name=customer.name,
            phone=customer.phone,
            email=customer.email,
            tier=tier,
        ),
        notes=row.notes,
        demand=row.demand,
        units=row.units,
        difficulty=row.difficulty,
        materials=[MaterialIn.model_validate(m) for m in row.materials],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def created_read(
    ticket_id: int,
    ticket: NewTicket,
    *,
    customer_id: int | None,
    now: datetime,
    margin: timedelta,
) -> TicketRead:
    """Shape a ticket just stored from what was stored, without reading it back."""
    at_risk, overdue = sla_flags(
        status=TicketStatus.NEW, sla_due_at=ticket.sla_due_at, now=now, at_risk_margin=margin
    )
    customer = ticket.customer
    return TicketRead(
        id=ticket_id,
        source=ticket.source,
        external_id=ticket.external_id,
        type=ticket.type,
        location=(ticket.lon, ticket.lat),
        region_id=ticket.region_id,
        address=ticket.address,
        duration_min=ticket.duration_min,
        skills=ticket.skills,
        time_windows=ticket.windows,
        priority=ticket.priority,
        sla_due_at=ticket.sla_due_at,
        sla=SlaRead(at_risk=at_risk, overdue=overdue),
        status=TicketStatus.NEW,
        technician_id=None,
        customer=None
        if customer is None
        else TicketCustomerRead(
            id=customer_id, name=customer.name, phone=customer.phone, email=customer.email
        ),
        notes=ticket.notes,
        demand=ticket.demand,
        units=ticket.units,
        difficulty=list(ticket.difficulty),
        materials=[MaterialIn(code=code, quantity=n) for code, n in ticket.materials],
        created_at=now,
        updated_at=now,
    )


# Pages of tickets and the opaque cursors between them.
class TicketPage(BaseModel):
    """One page of tickets; pass ``next_cursor`` as ``cursor`` for the next one."""

    items: list[TicketRead]
    next_cursor: str | None = Field(description="null on the last page")


def encode_cursor(after_id: int) -> str:
    """Return the opaque cursor of the page after ticket ``after_id``."""
    return base64.urlsafe_b64encode(f"t1:{after_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """Return the ticket id a cursor continues after (422 naming ``cursor`` if it is not ours)."""
    if cursor is None:
        return None
    try:
        prefix, _, after = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).partition(
            b":"
        )
        if prefix != b"t1" or not after.isdigit():
            raise ValueError(cursor)
        return int(after)
    except (ValueError, binascii.Error) as err:
        raise ApiError(
            422,
            "validation_error",
            "cursor: not a cursor this API returned",
            {"errors": [{"field": "cursor", "message": "invalid cursor"}]},
        ) from err


# Moving a ticket: transition bodies, the customer's confirmation, the history they leave.
MAX_SIGNATURE_IMAGE_BYTES = 256 * 1024


class SignatureIn(Strict):
    """The customer's confirmation that the work is done."""

    signer_name: str = Field(min_length=1, max_length=200)
    signed_at: Timestamp
    image_base64: Annotated[str, base64_within(MAX_SIGNATURE_IMAGE_BYTES)] | None = Field(
        default=None, description="PNG or JPEG of the signature, base64, at most 256 KiB decoded"
    )
    image_media_type: Literal["image/png", "image/jpeg"] | None = None

    @model_validator(mode="after")
    def _media_type_with_image(self) -> "SignatureIn":
        if (self.image_base64 is None) != (self.image_media_type is None):
            raise ValueError("image_base64 and image_media_type go together")
        return self

    def image(self) -> bytes | None:
        """Return the decoded image, if any."""
        return None if self.image_base64 is None else base64.b64decode(self.image_base64)


class TransitionCreate(Strict):
    """Move a ticket to another status."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"to": "en_route", "note": "leaving the depot"},
                {"to": "scheduled", "technician_id": "T-017"},
                {
                    "to": "confirmed",
                    "signature": {
                        "signer_name": "王女士",
                        "signed_at": "2026-11-23T11:40:00+08:00",
                    },
                    "rating": 5,
                },
            ]
        }
    )

    to: TicketStatus
    note: str | None = Field(default=None, max_length=1000)
    technician_id: str | None = Field(
        default=None, max_length=64, description="staff only, with `to: scheduled`: assign"
    )
    signature: SignatureIn | None = Field(default=None, description="required with `confirmed`")
    rating: Annotated[int, Field(ge=1, le=5), JSON_NUMBER] | None = Field(
        default=None,
        description="with `confirmed`: the customer's rating of the work, 1-5 (the rate "
        "card's review bonus pays by it); omit it when the customer gave none",
    )

    @field_validator("rating")
    @classmethod
    def _rating_confirms(cls, rating: int | None, info: ValidationInfo) -> int | None:
        if rating is not None and info.data.get("to") is not TicketStatus.CONFIRMED:
            raise ValueError("a rating is only accepted with to=confirmed")
        return rating

    @model_validator(mode="after")
    def _extras_fit_target(self) -> "TransitionCreate":
        if (self.to is TicketStatus.CONFIRMED) != (self.signature is not None):
            raise ValueError("a signature is required with, and only with, to=confirmed")
        if self.technician_id is not None and self.to is not TicketStatus.SCHEDULED:
            raise ValueError("technician_id is only accepted with to=scheduled")
        return self

    def confirmation(self) -> Confirmation | None:
        """Return what the customer confirmed, if this is the confirmation."""
        if (signature := self.signature) is None:
            return None
        return Confirmation(
            signer_name=signature.signer_name,
            signed_at=signature.signed_at,
            image=signature.image(),
            image_media_type=signature.image_media_type,
            rating=self.rating,
        )


class StatusChangeRead(BaseModel):
    """One entry of a ticket's history."""

    id: int
    from_status: TicketStatus | None
    to_status: TicketStatus
    at: datetime
    actor_key_id: str | None
    note: str | None
