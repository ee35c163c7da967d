"""Manager reports as JSON: lead funnel, SLA, cost, utilisation (definitions: docs/reports.md)."""

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from api.earnings.schemas import MoneyRead

Bucket = Literal["day", "week"]


class PeriodRead(BaseModel):
    """The local days a report covers, both included, and their time zone."""

    first: date
    last: date
    time_zone: str = Field(examples=["Asia/Shanghai"])


class LeadFunnelStages(BaseModel):
    """Leads captured in a week through a channel, by the furthest stage each reached."""

    received: int = Field(description="every lead captured, junk included")
    junk: int = Field(description="rejected at capture (invalid contact, spam, test)")
    contacted: int = Field(description="not junk; a first response recorded, or converted")
    qualified: int = Field(description="contacted and reached (a call, SMS, e-mail or visit "
                           "answered `reached` or `replied`), or converted")  # fmt: skip
    converted: int = Field(description="converted into a ticket")
    conversion_rate: float | None = Field(description="converted / (received - junk)")


class LeadFunnelRow(LeadFunnelStages):
    """One channel in one ISO week (local time)."""

    week: str = Field(examples=["2026-W49"])
    week_start: date = Field(description="the Monday of the week")
    channel: str


class LeadFunnelChannel(LeadFunnelStages):
    """One channel over the whole period."""

    channel: str


class LeadFunnelReport(BaseModel):
    """Leads captured in the period, by channel and ISO week of capture."""

    period: PeriodRead
    rows: list[LeadFunnelRow]
    channels: list[LeadFunnelChannel]
    totals: LeadFunnelStages


class SlaFigures(BaseModel):
    """Deadlines of one kind in one region: met, missed, still open, and the time taken."""

    counted: int = Field(description="on_time + late + open")
    on_time: int
    late: int = Field(description="done after the deadline, or not done and past it")
    open: int = Field(description="not done, deadline still ahead")
    on_time_rate: float | None = Field(description="on_time / (on_time + late)")
    median_min: float | None = Field(description="median time taken (nearest rank), minutes")
    p90_min: float | None = Field(description="90th percentile (nearest rank), minutes")


class SlaRow(BaseModel):
    """One region (``null``: outside every region)."""

    region_id: str | None
    first_response: SlaFigures = Field(
        description="leads captured in the period: first response against its deadline; "
        "time from capture to first response"
    )
    resolution: SlaFigures = Field(
        description="tickets whose SLA deadline falls in the period (cancelled ones left "
        "out): first completion against `sla_due_at`; time from creation to completion"
    )


class SlaReport(BaseModel):
    """First-response and resolution SLA by region."""

    period: PeriodRead
    rows: list[SlaRow]
    totals: SlaRow


class CostComponent(BaseModel):
    """What one pay component (a breakdown line's ``code``) cost in a region."""

    code: str = Field(examples=["base_fee"])
    label_en: str
    label_zh: str
    amount: MoneyRead
    share: float | None = Field(description="of the region's pay")


class CostRow(BaseModel):
    """Technician pay in one region (``null``: outside every region) and currency."""

    region_id: str | None
    orders: int = Field(description="settled orders with a service date in the period")
    pay: MoneyRead = Field(description="sum of their payouts")
    pay_per_order: MoneyRead | None = Field(description="pay / orders, half-up to the fen")
    components: list[CostComponent]
    billed_orders: int = Field(
        description="of ``orders``, those with a customer bill (priced when they were settled)"
    )
    billed: MoneyRead | None = Field(description="what those orders were billed; null if none")
    margin: MoneyRead | None = Field(
        description="billed minus the technician pay of the same orders; null if none billed"
    )
    margin_per_order: MoneyRead | None = Field(
        description="margin / billed orders, half-up to the fen"
    )


class CostReport(BaseModel):
    """Technician pay by region and component, from the settlements that stand."""

    period: PeriodRead
    rows: list[CostRow]
    totals: list[CostRow] = Field(description="all regions, one row per currency")


class UtilisationRow(BaseModel):
    """One technician in one day or ISO week (local time)."""

    technician_id: str
    name: str
    bucket_start: date = Field(description="the day, or the Monday of the week")
    shift_min: int = Field(description="shift length, end minus start")
    break_min: int = Field(description="breaks planned in the shift")
    available_min: int = Field(description="shift minus breaks")
    service_min: int = Field(description="on site until completed, for visits completed")
    travel_min: int = Field(description="en route until on site, for those visits")
    idle_min: int = Field(description="available minus service and travel, at least 0")
    visits: int = Field(description="visits completed")
    utilisation: float | None = Field(description="service / available")


class UtilisationReport(BaseModel):
    """Technicians' time by day or ISO week: shifts against the work done."""

    period: PeriodRead
    by: Bucket
    rows: list[UtilisationRow]
