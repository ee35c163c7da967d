"""Reports as CSV: one header row, one row per figure line, UTF-8 with a byte-order mark.

The byte-order mark makes Excel (which otherwise reads a CSV in the machine's code page, GBK on
a Chinese Windows) open Chinese names and labels correctly; other readers skip it. Text that
a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``) is prefixed with
``'``. Money is a decimal amount with its currency in its own column; an empty region is
outside every region; an empty rate or percentile has nothing to measure.
"""

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal

from api.reports.schemas import CostReport, LeadFunnelReport, SlaReport, UtilisationReport

BOM = "\ufeff"
Cell = str | int | float | Decimal | date | None
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    r"""Return the CSV document: BOM, header, rows, CRLF line ends.

    >>> csv_text(["name", "amount"], [["=SUM(A1)", Decimal("-1.50")], [None, 3]])
    "\ufeffname,amount\r\n'=SUM(A1),-1.50\r\n,3\r\n"
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return BOM + out.getvalue()


def _cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return f"'{value}" if value.startswith(FORMULA_STARTS) else value
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


FUNNEL_HEADER = ("week", "week_start", "channel", "received", "junk", "contacted", "qualified",
                 "converted", "conversion_rate")  # fmt: skip


def funnel_csv(report: LeadFunnelReport) -> str:
    """One row per ISO week and channel."""
    return csv_text(
        FUNNEL_HEADER,
        (
            [
                r.week,
                r.week_start,
                r.channel,
                r.received,
                r.junk,
                r.contacted,
                r.qualified,
                r.converted,
                r.conversion_rate,
            ]
            for r in report.rows
        ),
    )


_SLA_FIGURES = ("counted", "on_time", "late", "open", "on_time_rate", "median_min", "p90_min")
SLA_HEADER = (
    "region_id",
    *(f"first_response_{name}" for name in _SLA_FIGURES),
    *(f"resolution_{name}" for name in _SLA_FIGURES),
)


def sla_csv(report: SlaReport) -> str:
    """One row per region: first-response figures, then resolution figures."""
    return csv_text(
        SLA_HEADER,
        (
            [
                r.region_id,
                *(getattr(r.first_response, name) for name in _SLA_FIGURES),
                *(getattr(r.resolution, name) for name in _SLA_FIGURES),
            ]
            for r in report.rows
        ),
    )


COST_HEADER = ("region_id", "currency", "orders", "pay", "pay_per_order", "billed_orders",
               "billed", "margin", "margin_per_order", "component", "label_en", "label_zh",
               "amount", "share")  # fmt: skip


def cost_csv(report: CostReport) -> str:
    """One row per region, currency and component (the region's figures repeated)."""
    return csv_text(
        COST_HEADER,
        (
            [
                r.region_id,
                r.pay.currency,
                r.orders,
                r.pay.amount,
                r.pay_per_order.amount if r.pay_per_order else None,
                r.billed_orders,
                r.billed.amount if r.billed else None,
                r.margin.amount if r.margin else None,
                r.margin_per_order.amount if r.margin_per_order else None,
                c.code,
                c.label_en,
                c.label_zh,
                c.amount.amount,
                c.share,
            ]
            for r in report.rows
            for c in r.components
        ),
    )


UTILISATION_HEADER = ("technician_id", "name", "bucket_start", "shift_min", "break_min",
                      "available_min", "service_min", "travel_min", "idle_min", "visits",
                      "utilisation")  # fmt: skip


def utilisation_csv(report: UtilisationReport) -> str:
    """One row per technician and day (or week)."""
    return csv_text(
        UTILISATION_HEADER,
        (
            [
                r.technician_id,
                r.name,
                r.bucket_start,
                r.shift_min,
                r.break_min,
                r.available_min,
                r.service_min,
                r.travel_min,
                r.idle_min,
                r.visits,
                r.utilisation,
            ]
            for r in report.rows
        ),
    )
