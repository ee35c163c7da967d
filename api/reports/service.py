"""The reports: the repository's grouped rows shaped into figures, rates and money."""

from collections import defaultdict
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.orm import Session

from api.earnings.schemas import MoneyRead
from api.reports import repository
from api.reports.repository import ComponentPay, FunnelCount, RegionPay, SlaCount
from api.reports.rules import Period, component_name, share, week_of
from api.reports.schemas import (
    Bucket,
    CostComponent,
    CostReport,
    CostRow,
    LeadFunnelChannel,
    LeadFunnelReport,
    LeadFunnelRow,
    LeadFunnelStages,
    PeriodRead,
    SlaFigures,
    SlaReport,
    SlaRow,
    UtilisationReport,
    UtilisationRow,
)

STAGES = ("received", "junk", "contacted", "qualified", "converted")


def _period_read(period: Period) -> PeriodRead:
    return PeriodRead(first=period.first, last=period.last, time_zone=period.time_zone)


# The lead funnel.
def lead_funnel(session: Session, *, period: Period) -> LeadFunnelReport:
    """Leads captured in ``period`` by channel and ISO week, with channel and grand totals."""
    counts = repository.lead_funnel(session, period=period)
    rows = [
        LeadFunnelRow(
            week=week_of(c.week_start),
            week_start=c.week_start,
            channel=c.channel,
            **_stages([c]).model_dump(),
        )
        for c in counts
    ]
    by_channel: dict[str, list[FunnelCount]] = defaultdict(list)
    for count in counts:
        by_channel[count.channel].append(count)
    channels = [
        LeadFunnelChannel(channel=channel, **_stages(group).model_dump())
        for channel, group in sorted(by_channel.items())
    ]
    return LeadFunnelReport(
        period=_period_read(period), rows=rows, channels=channels, totals=_stages(counts)
    )


def _stages(counts: list[FunnelCount]) -> LeadFunnelStages:
    sums = {stage: sum(getattr(c, stage) for c in counts) for stage in STAGES}
    return LeadFunnelStages(
        **sums, conversion_rate=share(sums["converted"], sums["received"] - sums["junk"])
    )


# SLA.
def sla(session: Session, *, period: Period, now: datetime) -> SlaReport:
    """First response and resolution per region, and over all regions."""
    responses = {c.region_id: c for c in repository.first_response(session, period=period, now=now)}
    resolved = {c.region_id: c for c in repository.resolution(session, period=period, now=now)}
    regions = sorted(responses.keys() | resolved.keys(), key=lambda r: (r is None, r or ""))
    rows = [
        SlaRow(
            region_id=region,
            first_response=_figures(responses.get(region)),
            resolution=_figures(resolved.get(region)),
        )
        for region in regions
    ]
    totals = SlaRow(
        region_id=None,
        first_response=_total(rows, "first_response"),
        resolution=_total(rows, "resolution"),
    )
    return SlaReport(period=_period_read(period), rows=rows, totals=totals)


def _figures(count: SlaCount | None) -> SlaFigures:
    if count is None:
        return SlaFigures(counted=0, on_time=0, late=0, open=0, on_time_rate=None,
                          median_min=None, p90_min=None)  # fmt: skip
    return SlaFigures(
        counted=count.on_time + count.late + count.open,
        on_time=count.on_time,
        late=count.late,
        open=count.open,
        on_time_rate=share(count.on_time, count.on_time + count.late),
        median_min=_minutes(count.median_s),
        p90_min=_minutes(count.p90_s),
    )


def _total(rows: list[SlaRow], kind: str) -> SlaFigures:
    """Add the regions' counts up; percentiles do not add up, so the total leaves them out."""
    figures: list[SlaFigures] = [getattr(row, kind) for row in rows]
    on_time, late = sum(f.on_time for f in figures), sum(f.late for f in figures)
    still_open = sum(f.open for f in figures)
    return SlaFigures(
        counted=on_time + late + still_open, on_time=on_time, late=late, open=still_open,
        on_time_rate=share(on_time, on_time + late), median_min=None, p90_min=None,
    )  # fmt: skip


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


# Cost.
def cost(session: Session, *, period: Period) -> CostReport:
    """Technician pay per region and currency, split by component, and the totals."""
    regions = repository.pay_by_region(session, period=period)
    components = repository.pay_by_component(session, period=period)
    rows = _cost_rows(regions, components)
    totals_by_currency: dict[str, RegionPay] = {}
    for r in regions:
        seen = totals_by_currency.get(r.currency, RegionPay(None, r.currency, 0, 0))
        totals_by_currency[r.currency] = RegionPay(
            None, r.currency, seen.orders + r.orders, seen.pay_fen + r.pay_fen,
            seen.billed_orders + r.billed_orders, seen.billed_fen + r.billed_fen,
            seen.billed_pay_fen + r.billed_pay_fen,
        )  # fmt: skip
    all_components: dict[tuple[str, str], ComponentPay] = {}
    for c in components:
        key = (c.currency, c.code)
        before = all_components.get(key)
        fen = c.amount_fen + (before.amount_fen if before else 0)
        all_components[key] = ComponentPay(None, c.currency, c.code, fen)
    totals = _cost_rows(list(totals_by_currency.values()), list(all_components.values()))
    return CostReport(period=_period_read(period), rows=rows, totals=totals)


def _cost_rows(regions: list[RegionPay], components: list[ComponentPay]) -> list[CostRow]:
    parts: dict[tuple[str | None, str], list[ComponentPay]] = defaultdict(list)
    for component in components:
        parts[component.region_id, component.currency].append(component)
    return [
        CostRow(
            region_id=r.region_id,
            orders=r.orders,
            pay=MoneyRead.of_fen(r.pay_fen, r.currency),
            pay_per_order=MoneyRead.of_fen(_per_order_fen(r.pay_fen, r.orders), r.currency)
            if r.orders
            else None,
            billed_orders=r.billed_orders,
            billed=MoneyRead.of_fen(r.billed_fen, r.currency) if r.billed_orders else None,
            margin=MoneyRead.of_fen(margin, r.currency) if r.billed_orders else None,
            margin_per_order=MoneyRead.of_fen(_per_order_fen(margin, r.billed_orders), r.currency)
            if r.billed_orders
            else None,
            components=[
                CostComponent(
                    code=c.code,
                    label_en=component_name(c.code)[0],
                    label_zh=component_name(c.code)[1],
                    amount=MoneyRead.of_fen(c.amount_fen, c.currency),
                    share=share(c.amount_fen, r.pay_fen),
                )
                for c in sorted(parts[r.region_id, r.currency], key=lambda c: -c.amount_fen)
            ],
        )
        for r in regions
        for margin in [r.billed_fen - r.billed_pay_fen]
    ]


def _per_order_fen(pay_fen: int, orders: int) -> int:
    """Return ``pay_fen / orders`` rounded half-up to the fen (the one rounding rule).

    >>> _per_order_fen(1001, 2), _per_order_fen(-1001, 2)
    (501, -501)
    """
    return int((Decimal(pay_fen) / orders).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# Utilisation.
def utilisation(session: Session, *, period: Period, by: Bucket) -> UtilisationReport:
    """Shift, break, service, travel and idle minutes per technician and day or ISO week."""
    times = repository.utilisation(session, period=period, by_week=by == "week")
    rows = []
    for t in times:
        shift_min = round(t.shift_s / 60)
        available = max(shift_min - t.break_min, 0)
        service, travel = round(t.service_s / 60), round(t.travel_s / 60)
        rows.append(
            UtilisationRow(
                technician_id=t.technician_id,
                name=t.name,
                bucket_start=t.bucket_start,
                shift_min=shift_min,
                break_min=t.break_min,
                available_min=available,
                service_min=service,
                travel_min=travel,
                idle_min=max(available - service - travel, 0),
                visits=t.visits,
                utilisation=share(service, available),
            )
        )
    return UtilisationReport(period=_period_read(period), by=by, rows=rows)
