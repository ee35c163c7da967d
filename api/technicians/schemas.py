"""Technician bodies: profiles, shifts, GPS pings and the day's route."""

from datetime import date, datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

from api.fields import JSON_NUMBER, Count, Day, Flag, Number, Timestamp
from api.schemas import CrsName, Latitude, Longitude, Strict
from api.tickets.rules import TicketStatus
from api.tickets.schemas import SkillLevel, SkillName

TechnicianId = str
MAX_PING_BATCH = 1000
MAX_SHIFTS = 62
MaxOrders = Annotated[int, Field(ge=1, le=100), JSON_NUMBER]
Capacity = Annotated[int, Field(ge=0, le=100_000), JSON_NUMBER]

_EXAMPLE: JsonDict = {
    "id": "T-017",
    "name": "张伟",
    "phone": "+86 139 1234 5678",
    "home_base": [121.4451, 31.2200],
    "skills": {"aircon": 3, "electrical": 2},
    "territory": ["310101", "310104"],
    "max_orders": 8,
    "capacity": 20,
    "shifts": [
        {
            "day": "2026-11-23",
            "start_at": "2026-11-23T08:00:00+08:00",
            "end_at": "2026-11-23T18:00:00+08:00",
            "breaks": [
                {
                    "earliest_start_at": "2026-11-23T11:30:00+08:00",
                    "latest_start_at": "2026-11-23T13:00:00+08:00",
                    "duration_min": 45,
                }
            ],
        }
    ],
}


class BreakIn(Strict):
    """A break of ``duration_min`` that starts between the two instants."""

    earliest_start_at: Timestamp
    latest_start_at: Timestamp
    duration_min: Count = Field(ge=1, le=240)

    @model_validator(mode="after")
    def _ordered(self) -> "BreakIn":
        if self.latest_start_at < self.earliest_start_at:
            raise ValueError("latest_start_at is before earliest_start_at")
        return self


class ShiftIn(Strict):
    """One working day; ``day`` is the local date the shift belongs to."""

    day: Day
    start_at: Timestamp
    end_at: Timestamp
    breaks: list[BreakIn] = Field(default_factory=list, max_length=5)

    @model_validator(mode="after")
    def _fits(self) -> "ShiftIn":
        if not self.start_at < self.end_at:
            raise ValueError("start_at must be before end_at")
        if self.end_at - self.start_at > timedelta(hours=24):
            raise ValueError("a shift lasts at most 24 hours")
        for b in self.breaks:
            end = b.latest_start_at + timedelta(minutes=b.duration_min)
            if b.earliest_start_at < self.start_at or end > self.end_at:
                raise ValueError("every break must lie within the shift")
        return self


def _unique_days(shifts: list[ShiftIn]) -> list[ShiftIn]:
    days = [s.day for s in shifts]
    if len(set(days)) != len(days):
        raise ValueError("one shift per day")
    return shifts


class TechnicianCreate(Strict):
    """A new technician; the id is yours and stays stable."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    id: TechnicianId = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    home_base: tuple[Longitude, Latitude] = Field(description="[lon, lat] in the datum of `crs`")
    crs: CrsName = "wgs84"
    skills: dict[SkillName, SkillLevel] = Field(default_factory=dict, max_length=20)
    territory: list[str] | None = Field(
        default=None, max_length=200, description="region ids served; null: anywhere"
    )
    max_orders: MaxOrders | None = Field(default=None, description="per day")
    capacity: Capacity | None = Field(default=None, description="parts carried")
    is_active: Flag = True
    shifts: list[ShiftIn] = Field(default_factory=list, max_length=MAX_SHIFTS)

    @model_validator(mode="after")
    def _one_shift_per_day(self) -> "TechnicianCreate":
        _unique_days(self.shifts)
        return self


class TechnicianUpdate(Strict):
    """Fields to change; those left out keep their value."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "phone": "+86 139 8765 4321",
                    "home_base": [121.4521, 31.2286],
                    "crs": "gcj02",
                    "skills": {"aircon": 4, "electrical": 2, "plumbing": 1},
                    "territory": ["310101", "310104", "310105"],
                    "max_orders": 10,
                }
            ]
        }
    )

    # Left out, a field keeps its value; null clears it where it may be empty (phone,
    # territory, max_orders, capacity), and the others do not take null (422).
    name: Annotated[str, Field(min_length=1, max_length=200)] | SkipJsonSchema[None] = None
    phone: str | None = Field(default=None, max_length=32)
    home_base: tuple[Longitude, Latitude] | SkipJsonSchema[None] = None
    crs: CrsName = "wgs84"
    skills: Annotated[dict[SkillName, SkillLevel], Field(max_length=20)] | SkipJsonSchema[None] = (
        None
    )
    territory: list[str] | None = Field(default=None, max_length=200)
    max_orders: MaxOrders | None = None
    capacity: Capacity | None = None
    is_active: Flag | SkipJsonSchema[None] = None


class ShiftsPut(Strict):
    """Shifts to set, replacing any shift already on the same day."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "shifts": [
                        {
                            "day": "2026-11-24",
                            "start_at": "2026-11-24T08:00:00+08:00",
                            "end_at": "2026-11-24T17:30:00+08:00",
                            "breaks": [
                                {
                                    "earliest_start_at": "2026-11-24T11:30:00+08:00",
                                    "latest_start_at": "2026-11-24T13:00:00+08:00",
                                    "duration_min": 45,
                                }
                            ],
                        },
                        {
                            "day": "2026-11-25",
                            "start_at": "2026-11-25T13:00:00+08:00",
                            "end_at": "2026-11-25T21:00:00+08:00",
                        },
                    ]
                }
            ]
        }
    )

    shifts: list[ShiftIn] = Field(min_length=1, max_length=MAX_SHIFTS)

    @model_validator(mode="after")
    def _one_shift_per_day(self) -> "ShiftsPut":
        _unique_days(self.shifts)
        return self


class PingIn(Strict):
    """One GPS fix as the device recorded it."""

    location: tuple[Longitude, Latitude]
    recorded_at: Timestamp = Field(description="device time of the fix")
    accuracy_m: Number | None = Field(default=None, ge=0, le=100_000)


class PingBatch(Strict):
    """Up to 1,000 pings in any order; a repeated ``recorded_at`` is stored once."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "crs": "gcj02",
                    "pings": [
                        {
                            "location": [121.4737, 31.2304],
                            "recorded_at": "2026-11-23T09:15:02+08:00",
                            "accuracy_m": 8.5,
                        }
                    ],
                }
            ]
        }
    )

    crs: CrsName = Field(default="wgs84", description="datum of every ping's location")
    pings: list[PingIn] = Field(min_length=1, max_length=MAX_PING_BATCH)


class PingRead(BaseModel):
    """A stored position (WGS84)."""

    location: tuple[float, float]
    recorded_at: datetime
    received_at: datetime
    accuracy_m: float | None


class PingBatchRead(BaseModel):
    """What a batch of pings did."""

    received: int
    stored: int
    duplicates: int = Field(description="pings whose recorded_at was already stored")
    current: PingRead | None = Field(description="position with the latest recorded_at")


class BreakRead(BaseModel):
    """A stored break."""

    earliest_start_at: datetime
    latest_start_at: datetime
    duration_min: int


class ShiftRead(BaseModel):
    """A stored shift."""

    day: date
    start_at: datetime
    end_at: datetime
    breaks: list[BreakRead]


class TechnicianRead(BaseModel):
    """A technician as the API returns it."""

    id: str
    name: str
    phone: str | None
    home_base: tuple[float, float] = Field(description="[lon, lat], WGS84")
    skills: dict[str, int]
    territory: list[str] | None
    max_orders: int | None
    capacity: int | None
    is_active: bool
    current: PingRead | None = Field(description="latest known position")
    created_at: datetime
    updated_at: datetime


class TechnicianPage(BaseModel):
    """One page of technicians, in id order."""

    items: list[TechnicianRead]
    next_cursor: str | None


class RouteStop(BaseModel):
    """One ticket of the day's route."""

    ticket_id: int
    external_id: str
    status: TicketStatus
    location: tuple[float, float]
    address: str
    duration_min: int
    priority: str
    time_windows: list[tuple[datetime, datetime]]
    sequence: int | None = Field(
        default=None, description="position in the applied dispatch plan; null if not planned"
    )
    eta_at: datetime | None = Field(default=None, description="planned arrival")
    start_at: datetime | None = Field(default=None, description="planned start of service")
    end_at: datetime | None = Field(default=None, description="planned end of service")
    is_pinned: bool = False


class TechnicianRouteRead(BaseModel):
    """A technician's assigned tickets for a day: planned stops in plan order, then the rest."""

    technician_id: str
    day: date
    shift: ShiftRead | None
    current: PingRead | None
    stops: list[RouteStop]
