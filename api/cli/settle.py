"""``geodispatch settle``: settle completed orders from a file, and what-if simulations.

``geodispatch settle ORDERS --rate-card CARD --regions REGIONS --out PAYOUTS.json`` is the same
command as ``geodispatch settle run ORDERS ...``: a first argument that is not a sub-command
name is taken as the orders file of ``run``. Files are read and written by
:mod:`api.cli.settle_files`; the orders format (JSON or CSV) is in ``docs/settlement.md``.
"""

from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import track
from rich.table import Table
from typer.core import TyperGroup

from api.cli.common import reports_errors
from api.cli.settle_files import (
    PROGRESS_FROM,
    load_card,
    load_orders,
    money_json,
    payout_json,
    write_json,
    write_payouts,
)
from api.cli.settle_pending import settle_pending_command
from api.config import get_settings
from api.datafiles import load_regions
from geo.regions import RegionIndex
from settlement.batch import settle_batch
from settlement.columns import OrderColumns
from settlement.money import Money
from settlement.ratecard import RateCard, check_regions
from settlement.whatif import Comparison, WhatIf, simulate

if TYPE_CHECKING:
    from settlement.breakdown import PayoutBreakdown


class _RunByDefault(TyperGroup):
    """A group where ``settle ORDERS ...`` means ``settle run ORDERS ...``."""

    # ``ctx`` is typer's vendored click Context; typer exports no public name for that type.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


settle = typer.Typer(
    cls=_RunByDefault,
    no_args_is_help=True,
    help="Settle completed orders under a rate card; compare rate cards (what-if).",
)

OrdersArg = Annotated[Path, typer.Argument(help="orders file, .json or .csv (docs/settlement.md)")]
RegionsOpt = Annotated[
    Path | None, typer.Option(help="regions GeoJSON (default: the settings' regions_file)")
]


def _index(regions_path: Path | None, *cards: RateCard) -> RegionIndex:
    settings = get_settings()
    path = regions_path or settings.regions_file
    index = RegionIndex(load_regions(path, max_vertices=settings.max_region_vertices))
    for card in cards:
        check_regions(card, [region.id for region in index])
    return index


@settle.command("run")
@reports_errors
def run(
    orders: OrdersArg,
    rate_card: Annotated[Path, typer.Option("--rate-card", help="rate card, .toml or .json")],
    out: Annotated[Path, typer.Option(help="where to write the payouts JSON")],
    regions: RegionsOpt = None,
) -> None:
    """Settle every order of ORDERS and write each payout breakdown to --out."""
    card = load_card(rate_card)
    settled = settle_batch(
        card, OrderColumns.from_orders(load_orders(orders)), _index(regions, card)
    )
    breakdowns: Iterator[PayoutBreakdown] = settled.breakdowns()
    if len(settled) >= PROGRESS_FROM:
        breakdowns = iter(
            track(
                breakdowns,
                total=len(settled),
                description="writing payouts",
                console=Console(stderr=True),
            )
        )
    total = Money.from_fen(int(settled.total_fen.sum()), card.currency)
    header = {
        "rate_card": {"id": card.id, "version": card.version, "content_hash": card.content_hash},
        "order_count": len(settled),
        "total": money_json(total),
    }
    write_payouts(out, header, (payout_json(b) for b in breakdowns))
    typer.echo(f"settled {len(settled):,} orders under {card.version_label}: {total}; wrote {out}")


settle.command("pending")(settle_pending_command)


@settle.command("simulate")
@reports_errors
def simulate_command(
    current: Annotated[Path, typer.Option(help="the rate card in force")],
    candidate: Annotated[Path, typer.Option(help="the rate card to evaluate")],
    orders: Annotated[Path, typer.Option(help="past orders, .json or .csv")],
    regions: RegionsOpt = None,
    out: Annotated[Path | None, typer.Option(help="also write the comparison as JSON")] = None,
) -> None:
    """Price past orders under both cards and compare cost per region, service type, technician."""
    current_card, candidate_card = load_card(current), load_card(candidate)
    index = _index(regions, current_card, candidate_card)
    result = simulate(
        current_card, candidate_card, OrderColumns.from_orders(load_orders(orders)), index
    )
    _print_whatif(result, Console())
    if out is not None:
        write_json(out, _whatif_json(result))
        typer.echo(f"comparison written to {out}")


def _comparisons(title: str, rows: Iterable[Comparison], limit: int = 20) -> Table:
    table = Table(title=title)
    for column in ("group", "orders", "current", "candidate", "change"):
        table.add_column(column, justify="left" if column == "group" else "right")
    by_impact = sorted(rows, key=lambda c: (-abs(c.delta.amount), c.key))[:limit]
    for c in by_impact:
        change = c.delta.amount / c.current.amount if c.current.amount else Decimal(0)
        table.add_row(
            c.key,
            f"{c.order_count:,}",
            str(c.current),
            str(c.candidate),
            f"{c.delta} ({change:+.1%})",
        )
    return table


def _print_whatif(result: WhatIf, console: Console) -> None:
    console.print(f"[bold]{result.candidate_version}[/] against [bold]{result.current_version}[/]")
    console.print(_comparisons("total", [result.total]))
    console.print(_comparisons("by region (largest changes)", result.by_region))
    console.print(_comparisons("by service type", result.by_service_type))
    console.print(
        f"technicians paid more: {result.paid_more:,} (+{result.gained}, largest "
        f"+{result.largest_gain}); paid less: {result.paid_less:,} ({result.lost}, largest "
        f"{result.largest_loss}); unchanged: {result.unchanged:,}"
    )


def _whatif_json(result: WhatIf) -> dict[str, Any]:
    def rows(comparisons: Iterable[Comparison]) -> list[dict[str, Any]]:
        return [
            {
                "key": c.key,
                "orders": c.order_count,
                "current": money_json(c.current),
                "candidate": money_json(c.candidate),
                "delta": money_json(c.delta),
            }
            for c in comparisons
        ]

    return {
        "current": result.current_version,
        "candidate": result.candidate_version,
        "total": rows([result.total])[0],
        "by_region": rows(result.by_region),
        "by_service_type": rows(result.by_service_type),
        "by_technician": rows(result.by_technician),
        "technicians": {
            "paid_more": result.paid_more,
            "paid_less": result.paid_less,
            "unchanged": result.unchanged,
            "gained": money_json(result.gained),
            "lost": money_json(result.lost),
            "largest_gain": money_json(result.largest_gain),
            "largest_loss": money_json(result.largest_loss),
        },
    }
