"""The demo day's figures, read back through the API, and their tables."""

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from api.demo.client import DemoApi
from api.demo.receiver import ReceivedDelivery
from api.demo.seeder import DemoDay
from api.demo.simulator import SimStats

SERVED = ("completed", "confirmed", "settled")


@dataclass
class Summary:
    """Orders, distance, unassigned reasons and payouts of the day."""

    statuses: Counter[str] = field(default_factory=Counter)
    served: int = 0
    on_time: int = 0
    timed: int = 0
    km: float = 0.0
    unassigned: Counter[str] = field(default_factory=Counter)
    by_region: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    by_component: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    earners: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    currency: str = "CNY"

    def total(self, tech_id: str) -> Decimal:
        """Return a technician's pay for the day."""
        return sum(self.earners[tech_id].values(), Decimal(0))


def summarise(api: DemoApi, seeded: DemoDay, stats: SimStats) -> Summary:
    """Read the day's tickets and earnings back and add the simulation's own figures."""
    summary = Summary(km=seeded.morning_km + stats.km, unassigned=Counter(seeded.unassigned))
    summary.unassigned.update({f"urgent: {k}": v for k, v in stats.urgent_refused.items()})
    for ticket_id in [*seeded.tickets, *stats.urgent_ids]:
        got = api.call("dispatcher", "GET", f"/v1/tickets/{ticket_id}")
        if got is not None and got.status_code == 200:
            summary.statuses[got.json()["status"]] += 1
    summary.served = sum(summary.statuses[s] for s in SERVED)
    summary.on_time, summary.timed = stats.on_time, stats.on_time + stats.late
    day = seeded.day.isoformat()
    for tech_id in seeded.technicians:
        got = api.call("dispatcher", "GET", f"/v1/earnings/{tech_id}?first={day}&last={day}")
        if got is not None and got.status_code == 200:
            _add_earnings(summary, tech_id, got.json()["orders"])
    return summary


def _add_earnings(summary: Summary, tech_id: str, orders: list[dict[str, Any]]) -> None:
    mine: dict[str, Decimal] = defaultdict(Decimal)
    for order in orders:
        summary.currency = order["total"]["currency"]
        summary.by_region[order["region_id"] or "outside"] += Decimal(order["total"]["amount"])
        for line in order["lines"]:
            amount = Decimal(line["amount"]["amount"])
            summary.by_component[line["code"]] += amount
            mine[line["code"]] += amount
    summary.earners[tech_id] = dict(mine)


def print_summary(console: Console, summary: Summary, seeded: DemoDay, stats: SimStats) -> None:
    """Print the figures as tables."""
    orders = Table(title=f"demo day {seeded.day}")
    orders.add_column("figure")
    orders.add_column("value", justify="right")
    n = sum(summary.statuses.values())
    rows = [
        ("orders (incl. urgent arrivals)", f"{n} ({seeded.leads_created} leads captured, "
                                                f"{seeded.leads_rejected} rejected)"),
        ("served (completed, confirmed, settled)", f"{summary.served} / {n}"),
        ("morning: done before the simulation", str(len(seeded.morning_done))),
        ("on time (simulated arrivals in a window)", f"{summary.on_time} / {summary.timed}"),
        ("km driven (straight line)", f"{summary.km:,.1f}"),
        ("urgent orders: arrived / inserted", f"{stats.urgent_created} / {stats.urgent_inserted}"),
        ("GPS pings", str(stats.pings)),
        *(() if (alarm := seeded.device_alarm) is None else (
            ("device alarm storm", f"{alarm.alarms} alarms of device {alarm.device_id}: "
             f"1 maintenance ticket (#{alarm.ticket_id}), incident counted {alarm.event_count}"),
        )),
        *(() if not seeded.inquiry_tickets else (
            ("inquiries confirmed as tickets", ", ".join(
                f"#{i.ticket_id} {i.ticket_type}" for i in seeded.inquiry_tickets)),
        )),
        *((f"status {s}", str(c)) for s, c in sorted(summary.statuses.items())),
        *((f"unassigned: {r}", str(c)) for r, c in sorted(summary.unassigned.items())),
    ]  # fmt: skip
    for row in rows:
        orders.add_row(*row)
    console.print(orders)
    console.print(_money_table("payouts by region", summary.by_region, summary.currency))
    console.print(_money_table("payouts by component", summary.by_component, summary.currency))
    ranked = sorted((t for t in summary.earners if summary.total(t) > 0), key=summary.total,
                    reverse=True)  # fmt: skip
    idle = len(seeded.technicians) - len(ranked)
    if idle:
        console.print(f"{idle} technician(s) had no settled order today", highlight=False)
    if ranked:
        for title, tech_id in (("top earner", ranked[0]), ("bottom earner", ranked[-1])):
            breakdown = summary.earners[tech_id]
            label = f"{title}: {tech_id}, {summary.total(tech_id)} {summary.currency}"
            console.print(_money_table(label, breakdown, summary.currency))


def _money_table(title: str, amounts: dict[str, Decimal], currency: str) -> Table:
    table = Table(title=title)
    table.add_column("")
    table.add_column(currency, justify="right")
    for key, amount in sorted(amounts.items(), key=lambda kv: -kv[1]):
        table.add_row(key, f"{amount:,.2f}")
    table.add_row("total", f"{sum(amounts.values(), Decimal(0)):,.2f}", style="bold")
    return table


def escalations_table(receiver_url: str, received: Sequence[ReceivedDelivery]) -> Table:
    """Return the escalations the demo receiver accepted, a row each, and where it listens."""
    accepted = [r for r in received if r.is_accepted]
    refused = len(received) - len(accepted)
    table = Table(
        title=f"escalations delivered to the demo receiver: {len(accepted)}",
        caption=f"listening at {receiver_url}; every signature checked"
        + (f"; {refused} POST(s) refused (bad signature or body)" if refused else ""),
    )
    for column in ("subject", "rule", "notified", "received (UTC)"):
        table.add_column(column)
    for r in accepted:
        table.add_row(_subject(r), str(r.rule_id), ", ".join(r.notify), f"{r.received_at:%H:%M:%S}")
    return table


def delivery_line(delivery: ReceivedDelivery) -> str:
    """Return ``escalation delivered: ticket #41, rule overdue-30, notified sup-pudong (…)``."""
    notified = ", ".join(delivery.notify) or "nobody"
    return (f"escalation delivered: {_subject(delivery)}, rule {delivery.rule_id}, "
            f"notified {notified} (signature valid)")  # fmt: skip


def _subject(delivery: ReceivedDelivery) -> str:
    if delivery.subject_kind is None:
        return "?"
    return f"{delivery.subject_kind} #{delivery.subject_id}"
