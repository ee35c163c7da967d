"""Dispatch bodies: runs and their plans, manual assignments, urgent insertion, availability."""

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.fields import Day as StrictDay
from api.fields import Flag, Number, RowId
from api.schemas import Strict

Day = StrictDay  # fields named ``date`` shadow the type inside their class
RunStatus = Literal["queued", "running", "succeeded", "failed"]
MAX_SCOPE_TICKETS = 10_000  # the run's problem-size cap (Settings) usually binds first


class RegionDayScope(Strict):
    """Every open ticket of a region (and the regions inside it) on one local day."""

    region_id: str = Field(min_length=1, max_length=64, examples=["310101"])
    date: Day


class TicketScope(Strict):
    """An explicit list of tickets; the day is ``date`` or that of their first time window."""

    ticket_ids: list[RowId] = Field(min_length=1, max_length=MAX_SCOPE_TICKETS)
    date: Day | None = None


class RunCreate(Strict):
    """A run to submit: what to plan and how long the solver may search."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"scope": {"region_id": "310101", "date": "2026-11-23"}, "time_limit_s": 10},
                {"scope": {"ticket_ids": [101, 102, 103]}, "time_limit_s": 2},
            ]
        },
    )

    scope: RegionDayScope | TicketScope
    time_limit_s: Number | None = Field(
        default=None,
        gt=0,
        description="solver time limit in seconds; at most the service's cap (422 above it); "
        "default: the service's default",
    )


class ErrorRead(BaseModel):
    """Why a run failed (the API's error shape)."""

    code: str
    message: str
    details: dict[str, Any]


class StopRead(BaseModel):
    """One visit; ``order_id`` is the ticket id, times are ISO 8601 with the day's offset."""

    order_id: str
    arrival: datetime
    start: datetime
    end: datetime
    wait_s: int
    slack_s: int = Field(
        description="how much later service could start without breaking later stops"
    )
    lateness_s: int = Field(description="seconds past the ticket's SLA deadline")
    travel_s: int = Field(description="from the previous stop or the base")


class PlanRouteRead(BaseModel):
    """A technician's stops in visiting order."""

    model_config = ConfigDict(populate_by_name=True)

    technician_id: str
    shift_index: int
    depart: datetime
    return_: datetime = Field(alias="return")
    travel_s: int
    service_s: int
    distance_m: float | None
    stops: list[StopRead]


class UnassignedRead(BaseModel):
    """A ticket the plan leaves out and why (``no_skill``, ``unreachable``, ``capacity``...)."""

    order_id: str
    reason: str
    message: str


class PlanRead(BaseModel):
    """The plan in the documented plan format (``docs/problem-format.md``)."""

    format: str
    origin: datetime
    routes: list[PlanRouteRead]
    unassigned: list[UnassignedRead]
    kpis: dict[str, Any]


class RunRead(BaseModel):
    """A run: where it is, and once done its KPIs and plan."""

    id: int
    status: RunStatus
    phase: str = Field(description="queued, solving or done")
    progress: float = Field(
        ge=0, le=1, description="share done; while solving, the elapsed share of the time limit"
    )
    scope: dict[str, Any]
    day: date
    time_limit_s: float
    n_tickets: int = Field(description="tickets in the scope, including those left out up front")
    n_technicians: int
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None = Field(
        description="last sign of life of the service process that owns a queued or running run"
    )
    error: ErrorRead | None
    kpis: dict[str, Any] | None
    plan: PlanRead | None = Field(description="present once the run has succeeded")
    applied_at: datetime | None
    applied_by: str | None


class ApplyRead(BaseModel):
    """What applying a plan changed."""

    run_id: int
    applied_at: datetime
    scheduled: list[int] = Field(description="tickets now scheduled, by ticket id")
    unscheduled: list[int] = Field(description="tickets the plan leaves out, back to new")


Action = Literal["assign", "unassign", "pin", "unpin"]


class AssignmentCreate(Strict):
    """A dispatcher's override; ``pin`` also makes later runs keep the ticket on the technician."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"ticket_id": 101, "action": "pin", "technician_id": "T-017"},
                {"ticket_id": 101, "action": "assign", "technician_id": "T-017", "force": True},
                {"ticket_id": 101, "action": "unassign"},
            ]
        },
    )

    ticket_id: RowId
    action: Action
    technician_id: str | None = Field(default=None, min_length=1, max_length=64)
    date: Day | None = Field(
        default=None, description="the day of the assignment; default: the ticket's first window"
    )
    force: Flag = Field(
        default=False, description="accept the constraint warnings (otherwise 409 lists them)"
    )

    @model_validator(mode="after")
    def _technician_when_needed(self) -> "AssignmentCreate":
        if self.action in {"assign", "pin"} and self.technician_id is None:
            raise ValueError(f"technician_id is required to {self.action}")
        if self.action in {"unassign", "unpin"} and self.technician_id is not None:
            raise ValueError(f"technician_id must not be sent to {self.action}")
        return self


class WarningRead(BaseModel):
    """A constraint the override breaks."""

    code: str = Field(
        examples=["skill_missing"],
        description="skill_missing, skill_level_too_low, no_shift, outside_shift, "
        "outside_territory, over_max_orders, over_capacity, technician_inactive",
    )
    message: str


class AssignmentRead(BaseModel):
    """The ticket after the override, with every warning that was accepted."""

    ticket_id: int
    status: str
    technician_id: str | None
    day: date | None
    is_pinned: bool
    warnings: list[WarningRead]


class InsertCreate(Strict):
    """An urgent ticket to put into the applied plan of its day."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"ticket_id": 250}]})

    ticket_id: RowId
    date: Day | None = Field(default=None, description="default: the ticket's first window")


class InsertRead(BaseModel):
    """Where the ticket went."""

    ticket_id: int
    run_id: int = Field(description="the applied plan that now includes it")
    technician_id: str
    position: int = Field(description="1-based stop number in the technician's route")
    eta_at: datetime
    start_at: datetime
    end_at: datetime
    cost_delta: int = Field(description="change of the plan objective (weighted travel + lateness)")
    added_travel_s: int
    elapsed_ms: float


class OfferRead(BaseModel):
    """A slot the plan can keep: service starts within ``[slot_start_at, slot_end_at]``."""

    technician_id: str
    slot_start_at: datetime
    slot_end_at: datetime
    planned_start_at: datetime = Field(description="start of service if booked now")
    added_travel_s: int
    cost_delta: int = Field(description="change of the plan objective; lower is better")


class AvailabilityRead(BaseModel):
    """The best offers, best first; empty with a ``reason`` when none fits."""

    run_id: int | None = Field(description="the applied plan the offers fit into, if any")
    offers: list[OfferRead]
    reason: str | None = None
