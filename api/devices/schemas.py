"""Device bodies: registering a device, posting its events, what each event did, its incidents."""

from datetime import date, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.db.spatial import lonlat
from api.db.tables import DeviceIncidentRow, DeviceRow
from api.devices.rules import FaultCode, MetricName, ModelName
from api.fields import Day, Number, RowId, Timestamp
from api.schemas import CrsName, Latitude, Longitude, Strict

MAX_EVENTS = 1000
ExternalId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][\w.:-]*$")]


class DeviceCreate(Strict):
    """An installed unit: whose it is, where, which model (of the rules file), its warranty."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "external_id": "SN-AC3000-0001",
                    "customer_id": 1,
                    "model": "AC-3000",
                    "location": [121.4737, 31.2304],
                    "address": "黄浦区南京东路 100 号 1201 室",
                    "warranty_until": "2028-06-30",
                }
            ]
        }
    )

    external_id: ExternalId = Field(description="your id of the unit (serial number); unique")
    customer_id: RowId = Field(description="the customer it is installed for (of your source)")
    model: ModelName = Field(description="a model of the device rules (docs/devices.md)")
    location: tuple[Longitude, Latitude] = Field(description="[lon, lat] in the datum of `crs`")
    crs: CrsName = Field(default="wgs84", description="datum of `location`; stored as WGS84")
    address: str = Field(min_length=1, max_length=500)
    warranty_until: Day | None = Field(default=None, description="last day of the warranty")


class EventCreate(Strict):
    """A reading (``metric`` and ``value``) or an alarm (``fault_code``) of the device."""

    kind: Literal["reading", "alarm"]
    occurred_at: Timestamp = Field(description="when the device saw it; not in the future")
    metric: MetricName | None = Field(default=None, description="readings: a metric of the model")
    value: Number | None = Field(default=None, description="readings: a finite number")
    fault_code: FaultCode | None = Field(default=None, description="alarms: the device's code")

    @model_validator(mode="after")
    def _shape_of_kind(self) -> Self:
        if self.kind == "reading" and (self.metric is None or self.value is None):
            raise ValueError("a reading needs `metric` and `value`")
        if self.kind == "reading" and self.fault_code is not None:
            raise ValueError("a reading has no `fault_code`")
        if self.kind == "alarm" and self.fault_code is None:
            raise ValueError("an alarm needs `fault_code`")
        if self.kind == "alarm" and (self.metric is not None or self.value is not None):
            raise ValueError("an alarm has no `metric` or `value`: send a reading beside it")
        return self


class EventBatchCreate(Strict):
    """One or more events of one device, stored all or none."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {"kind": "reading", "occurred_at": "2026-12-03T09:00:00+08:00",
                         "metric": "outlet_temp_c", "value": 64.5},
                        {"kind": "alarm", "occurred_at": "2026-12-03T09:00:05+08:00",
                         "fault_code": "E4"},
                    ]
                }
            ]
        }
    )  # fmt: skip

    events: list[EventCreate] = Field(min_length=1, max_length=MAX_EVENTS)


class IncidentRead(BaseModel):
    """A fault the rules found on a device, the maintenance ticket it opened and its evidence."""

    id: int
    device_id: int
    fault_key: str = Field(description="the rule id; for a repeated fault, `rule:code`")
    rule_id: str
    status: Literal["open", "closed"]
    ticket_id: int | None
    event_count: int = Field(description="firings counted on it, the first included")
    first_event_at: datetime
    last_event_at: datetime
    opened_at: datetime
    closed_at: datetime | None
    evidence: dict[str, Any] = Field(
        description="`rules` (id@version), `reason`, the firing's values and the related events"
    )

    @classmethod
    def of(cls, row: DeviceIncidentRow) -> Self:
        return cls.model_validate(row, from_attributes=True)


class IncidentList(BaseModel):
    items: list[IncidentRead]


class DeviceRead(BaseModel):
    """A device with its open incidents."""

    id: int
    source: str
    external_id: str
    customer_id: int
    model: str
    location: tuple[float, float] = Field(description="[lon, lat], WGS84")
    address: str
    warranty_until: date | None
    is_under_warranty: bool = Field(description="today is on or before `warranty_until`")
    created_at: datetime
    open_incidents: list[IncidentRead]

    @classmethod
    def of(cls, row: DeviceRow, open_incidents: list[DeviceIncidentRow], *, today: date) -> Self:
        return cls(
            id=row.id, source=row.source, external_id=row.external_id,
            customer_id=row.customer_id, model=row.model, location=lonlat(row.location),
            address=row.address, warranty_until=row.warranty_until,
            is_under_warranty=row.warranty_until is not None and today <= row.warranty_until,
            created_at=row.created_at, open_incidents=[IncidentRead.of(i) for i in open_incidents],
        )  # fmt: skip


class FiredRead(BaseModel):
    """A rule an event fired, and the incident (and ticket) it counts on."""

    rule_id: str
    fault_key: str
    reason: str
    incident_id: int
    ticket_id: int | None
    opened: bool = Field(description="true: this event opened the incident and its ticket")


class EventResult(BaseModel):
    """What one posted event did (every event of an answered batch is stored)."""

    index: int = Field(description="its position in `events`")
    event_id: int
    fired: list[FiredRead]


class EventsPosted(BaseModel):
    """The batch's outcome, event by event, and the incidents it opened."""

    device_id: int
    received_at: datetime
    results: list[EventResult]
    opened_incidents: list[int]
