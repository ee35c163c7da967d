"""What the ``/reports`` page draws: bars as shares of a whole, and the tables' cells.

The page draws its charts with plain HTML and CSS (a bar is a box whose width is a share), so
it needs nothing from outside and reads the same at any width. This module turns each report
into those shares and into the text of its table cells, in the page's language.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from api.earnings.schemas import MoneyRead
from api.reports.schemas import (
    CostReport,
    LeadFunnelReport,
    SlaFigures,
    SlaReport,
    UtilisationReport,
)
from geo.regions import RegionIndex

Language = Literal["zh", "en"]
#: Component colours, in order of the components' total pay (largest first); then grey.
PALETTE = ("#1f6feb", "#1a7f37", "#b35900", "#8250df", "#0f8a8a", "#c62828", "#6e7781")
CHANNELS = {
    "web_form": ("Web form", "网页表单"),
    "api": ("API", "接口"),
    "social": ("Social", "社交媒体"),
    "ads": ("Ads", "广告"),
    "offline_event": ("Offline event", "线下活动"),
    "partner": ("Partner", "合作伙伴"),
    "csv": ("CSV import", "CSV 导入"),
}
OUTSIDE = ("Outside every region", "区域外")


@dataclass(frozen=True)
class Segment:
    """A part of a bar: its share of the bar's track (0-100), colour class or colour, label."""

    percent: float
    label: str
    css_class: str = ""
    colour: str = ""


@dataclass(frozen=True)
class Bar:
    """One bar of a chart: a label, its segments, and the figure written beside it."""

    label: str
    segments: list[Segment]
    figure: str


@dataclass(frozen=True)
class Board:
    """One report on the page: bars, a legend, a table and its CSV link."""

    key: str
    bars: list[Bar]
    header: list[str]
    rows: list[list[str]]
    legend: list[Segment] = field(default_factory=list)
    groups: list[tuple[str, int]] = field(default_factory=list)  # header cells over columns
    details_header: list[str] = field(default_factory=list)
    details: list[list[str]] = field(default_factory=list)


def region_names(index: RegionIndex) -> dict[str, tuple[str, str]]:
    """Return each region's English and Chinese names by id."""
    return {r.id: (r.name_en, r.name_zh) for r in index.regions}


def boards(
    *,
    funnel: LeadFunnelReport,
    sla: SlaReport,
    cost: CostReport,
    utilisation: UtilisationReport,
    region_names: dict[str, tuple[str, str]],
    lang: Language,
) -> list[Board]:
    """Return the page's four boards, in the order a manager reads them."""
    say = _Say(lang, region_names)
    return [
        _funnel_board(funnel, say),
        _sla_board(sla, say),
        _cost_board(cost, say),
        _utilisation_board(utilisation, say),
    ]


class _Say:
    """The page's words and numbers in its language."""

    def __init__(self, lang: Language, region_names: dict[str, tuple[str, str]]) -> None:
        self.lang = lang
        self.names = region_names

    def __call__(self, english: str, chinese: str) -> str:
        return chinese if self.lang == "zh" else english

    def region(self, region_id: str | None) -> str:
        if region_id is None:
            return self(*OUTSIDE)
        english, chinese = self.names.get(region_id, (region_id, region_id))
        return self(english, chinese)

    def channel(self, channel: str) -> str:
        english, chinese = CHANNELS.get(channel, (channel, channel))
        return self(english, chinese)

    @staticmethod
    def rate(value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.0f}%"

    @staticmethod
    def count(value: int) -> str:
        return f"{value:,}"

    def minutes(self, value: float | None) -> str:
        if value is None:
            return "—"
        if value < 120:
            return f"{value:.0f} {self('min', '分钟')}"
        return f"{value / 60:.1f} {self('h', '小时')}"

    def orders(self, n: int) -> str:
        return self(f"{n:,} order" + ("" if n == 1 else "s"), f"{n:,} 单")

    def hours(self, minutes: int) -> str:
        return f"{minutes / 60:.1f}"

    @staticmethod
    def money(money: MoneyRead | None) -> str:
        if money is None:
            return "—"
        symbol = "¥" if money.currency == "CNY" else f"{money.currency} "
        return f"{symbol}{money.amount:,.2f}"


def _share(part: float, whole: float) -> float:
    return round(100 * part / whole, 2) if whole > 0 else 0.0


def _funnel_board(report: LeadFunnelReport, say: _Say) -> Board:
    t = report.totals
    stages = [
        (say("Received", "收到"), t.received, "stage"),
        (say("Contacted", "已联系"), t.contacted, "stage"),
        (say("Qualified", "已确认需求"), t.qualified, "stage"),
        (say("Converted", "转为工单"), t.converted, "ok"),
        (say("Junk", "无效"), t.junk, "bad"),
    ]
    bars = [
        Bar(
            label,
            [Segment(_share(n, t.received), label, css)],
            f"{say.count(n)} · {say.rate(n / t.received if t.received else None)}",
        )
        for label, n, css in stages
    ]
    header = [say("Channel", "渠道"), say("Received", "收到"), say("Junk", "无效"),
              say("Contacted", "已联系"), say("Qualified", "已确认"), say("Converted", "转化"),
              say("Conversion", "转化率")]  # fmt: skip
    rows = [
        [
            say.channel(c.channel),
            *(say.count(n) for n in (c.received, c.junk, c.contacted, c.qualified, c.converted)),
            say.rate(c.conversion_rate),
        ]
        for c in report.channels
    ]
    details = [
        [
            r.week,
            say.channel(r.channel),
            *(say.count(n) for n in (r.received, r.junk, r.contacted, r.qualified, r.converted)),
            say.rate(r.conversion_rate),
        ]
        for r in report.rows
    ]
    return Board("lead-funnel", bars, header, rows,
                 details_header=[say("Week", "周"), *header], details=details)  # fmt: skip


def _sla_board(report: SlaReport, say: _Say) -> Board:
    kinds = ((say("response", "响应"), "first_response"), (say("completion", "完工"), "resolution"))
    bars = []
    for row in report.rows:
        for kind_label, kind in kinds:
            figures: SlaFigures = getattr(row, kind)
            decided = figures.on_time + figures.late
            if decided == 0:  # nothing met or missed yet: no bar to draw
                continue
            segments = [
                Segment(_share(figures.on_time, decided), say("on time", "按时"), "ok"),
                Segment(_share(figures.late, decided), say("late", "超时"), "bad"),
            ]
            figure = f"{say.rate(figures.on_time_rate)} {say('of', '/')} {decided}"
            bars.append(Bar(f"{say.region(row.region_id)} · {kind_label}", segments, figure))
    header = [say("Region", "区域"), say("Leads", "线索"), say("On time", "按时"),
              say("Median", "中位"), "P90", say("Tickets", "工单"), say("On time", "按时"),
              say("Median", "中位"), "P90"]  # fmt: skip
    groups = [("", 1), (say("First response", "首次响应"), 4), (say("Resolution", "完工"), 4)]
    rows = [
        [
            say.region(r.region_id),
            *_sla_cells(r.first_response, say),
            *_sla_cells(r.resolution, say),
        ]
        for r in report.rows
    ]
    legend = [Segment(0, say("on time", "按时"), "ok"), Segment(0, say("late", "超时"), "bad")]
    return Board("sla", bars, header, rows, legend=legend, groups=groups)


def _sla_cells(figures: SlaFigures, say: _Say) -> list[str]:
    counted = say.count(figures.counted)
    if figures.open:
        counted += f" ({figures.open} {say('open', '未到期')})"
    return [counted, say.rate(figures.on_time_rate), say.minutes(figures.median_min),
            say.minutes(figures.p90_min)]  # fmt: skip


def _cost_board(report: CostReport, say: _Say) -> Board:
    by_code: dict[str, Decimal] = defaultdict(Decimal)
    labels: dict[str, str] = {}
    for total in report.totals:
        for c in total.components:
            by_code[c.code] += c.amount.amount
            labels[c.code] = say(c.label_en, c.label_zh)
    ranked = sorted(by_code, key=lambda code: -by_code[code])
    colour = {code: PALETTE[min(i, len(PALETTE) - 1)] for i, code in enumerate(ranked)}
    largest = max((r.pay.amount for r in report.rows), default=Decimal(0))
    bars = [
        Bar(
            say.region(r.region_id),
            [
                Segment(
                    _share(float(c.amount.amount), float(largest)),
                    labels[c.code],
                    colour=colour[c.code],
                )
                for c in r.components
                if c.amount.amount > 0
            ],
            f"{say.money(r.pay)} · {say.orders(r.orders)}",
        )
        for r in report.rows
    ]
    legend = [Segment(0, labels[code], colour=colour[code]) for code in ranked]
    header = [say("Region", "区域"), say("Orders", "订单"), say("Pay", "师傅收入"),
              say("Per order", "每单"), say("Billed", "客户账单"), say("Margin", "毛利"),
              say("Largest component", "最大构成")]  # fmt: skip
    rows = [
        [
            say.region(r.region_id),
            say.count(r.orders),
            say.money(r.pay),
            say.money(r.pay_per_order),
            say.money(r.billed),
            say.money(r.margin),
            f"{say(r.components[0].label_en, r.components[0].label_zh)} "
            f"{say.rate(r.components[0].share)}"
            if r.components
            else "—",
        ]
        for r in [*report.rows, *report.totals]
    ]
    if report.totals:
        for row in rows[len(report.rows) :]:
            row[0] = say("All regions", "全部区域")
    details_header = [say("Region", "区域"), say("Component", "构成"), say("Pay", "金额"),
                      say("Share", "占比")]  # fmt: skip
    details = [
        [
            say.region(r.region_id),
            say(c.label_en, c.label_zh),
            say.money(c.amount),
            say.rate(c.share),
        ]
        for r in report.rows
        for c in r.components
    ]
    return Board("cost", bars, header, rows, legend=legend, details_header=details_header,
                 details=details)  # fmt: skip


def _utilisation_board(report: UtilisationReport, say: _Say) -> Board:
    totals: dict[str, list[int]] = {}
    names: dict[str, str] = {}
    for r in report.rows:
        sums = totals.setdefault(r.technician_id, [0, 0, 0, 0, 0])
        for i, n in enumerate((r.available_min, r.service_min, r.travel_min, r.idle_min, r.visits)):
            sums[i] += n
        names[r.technician_id] = r.name
    bars = []
    rows = []
    for tech, (available, service, travel, idle, visits) in totals.items():
        whole = max(available, service + travel)
        label = f"{names[tech]} ({tech})" if names[tech] != tech else tech
        segments = [
            Segment(_share(service, whole), say("service", "服务"), "ok"),
            Segment(_share(travel, whole), say("travel", "路上"), "warn"),
            Segment(_share(idle, whole), say("idle", "空闲"), "idle"),
        ]
        rate = service / available if available else None
        bars.append(Bar(label, segments, say.rate(rate)))
        rows.append([label, say.rate(rate), say.count(visits), say.hours(available),
                     say.hours(service), say.hours(travel), say.hours(idle)])  # fmt: skip
    header = [say("Technician", "师傅"), say("Utilisation", "利用率"), say("Visits", "完工"),
              say("Available h", "可用小时"), say("Service h", "服务小时"),
              say("Travel h", "路上小时"), say("Idle h", "空闲小时")]  # fmt: skip
    legend = [Segment(0, say("service", "服务"), "ok"), Segment(0, say("travel", "路上"), "warn"),
              Segment(0, say("idle", "空闲"), "idle")]  # fmt: skip
    details = [
        [
            r.bucket_start.isoformat(),
            f"{r.name} ({r.technician_id})",
            say.rate(r.utilisation),
            say.count(r.visits),
            say.hours(r.available_min),
            say.hours(r.service_min),
            say.hours(r.travel_min),
            say.hours(r.idle_min),
        ]
        for r in report.rows
    ]
    return Board("utilisation", bars, header, rows, legend=legend,
                 details_header=[say("Week of", "周起"), *header], details=details)  # fmt: skip
