"""``geodispatch settle``: settle completed orders from a file, and what-if simulations.

``geodispatch settle ORDERS --rate-card CARD --regions REGIONS --out PAYOUTS.json`` is the same
command as ``geodispatch settle run ORDERS ...``: a first argument that is not a sub-command
name is taken as the orders file of ``run``. The orders format (JSON or CSV) is documented in
``docs/settlement.md``; this module is the only place that reads or writes those files.
"""

import csv
import json
import math
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import track
from rich.table import Table
from typer.core import TyperGroup

from api.cli.common import fail, reports_errors
from api.config import get_settings
from api.datafiles import DataFileError, load_regions, read_json
from geo.distance import haversine_m
from geo.regions import RegionIndex
from settlement.batch import settle_batch
from settlement.breakdown import PayoutBreakdown
from settlement.columns import OrderColumns
from settlement.errors import SettlementError
from settlement.money import Money
from settlement.order import CompletedOrder
from settlement.ratecard import RateCard, check_regions, parse_rate_card
from settlement.whatif import Comparison, WhatIf, simulate

_PROGRESS_FROM = 10_000  # orders; smaller inputs finish before a bar would be worth drawing


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


def load_card(path: Path) -> RateCard:
    """Read a rate card from TOML (``.toml``) or JSON and parse it."""
    try:
        if path.suffix == ".toml":
            with path.open("rb") as handle:
                return parse_rate_card(tomllib.load(handle))
    except OSError as err:
        raise DataFileError(f"cannot read {path}: {err.strerror}", path=str(path)) from err
    except tomllib.TOMLDecodeError as err:
        raise DataFileError(f"{path}: invalid TOML: {err}", path=str(path)) from err
    return parse_rate_card(read_json(path))


def load_orders(path: Path) -> list[CompletedOrder]:
    """Read orders from a JSON list (or ``{"orders": [...]}``) or a CSV file with a header."""
    if path.suffix == ".csv":
        try:
            with path.open(encoding="utf-8", newline="") as handle:
                rows: list[Mapping[str, Any]] = list(csv.DictReader(handle))
        except OSError as err:
            raise DataFileError(f"cannot read {path}: {err.strerror}", path=str(path)) from err
    else:
        document = read_json(path)
        listed = document.get("orders") if isinstance(document, dict) else document
        if not isinstance(listed, list):
            raise DataFileError(f"{path}: expected a list of orders", path=str(path))
        rows = listed
    rows_iter: Iterable[Mapping[str, Any]] = rows
    if len(rows) >= _PROGRESS_FROM:
        rows_iter = track(rows, description="reading orders", console=Console(stderr=True))
    return [_order(row, path, number) for number, row in enumerate(rows_iter, start=1)]


def _order(row: Mapping[str, Any], path: Path, number: int) -> CompletedOrder:
    """Turn one JSON object or CSV row into an order, naming the row on any error."""
    try:
        if not isinstance(row, Mapping):
            raise ValueError("expected an object")
        origin = _origin(row)
        lon, lat = float(row["lon"]), float(row["lat"])
        return CompletedOrder(
            order_id=str(row["order_id"]),
            technician_id=str(row["technician_id"]),
            service_type=str(row["service_type"]),
            service_at=datetime.fromisoformat(str(row["service_at"])),
            lon=lon,
            lat=lat,
            units=int(_given(row, "units") or 1),
            flags=frozenset(_listed(row.get("flags"))),
            is_urgent=_boolean(_given(row, "is_urgent")),
            rating=int(r) if (r := _given(row, "rating")) is not None else None,
            travel_m=_travel_m(row, origin, lon, lat),
            origin_lon=origin[0] if origin else None,
            origin_lat=origin[1] if origin else None,
            demand_supply_ratio=_ratio(_given(row, "demand_supply_ratio")),
            materials=_materials(row.get("materials")),
        )
    except KeyError as err:
        raise DataFileError(f"{path}: order {number}: missing field {err}", row=number) from err
    except (ValueError, TypeError, InvalidOperation) as err:
        raise DataFileError(f"{path}: order {number}: {err}", row=number) from err
    except SettlementError as err:
        raise DataFileError(f"{path}: order {number}: {err}", row=number) from err


def _given(row: Mapping[str, Any], key: str) -> Any:
    """Return the field, treating a missing key and an empty CSV cell alike as None."""
    value = row.get(key)
    return None if value == "" else value


def _listed(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    return [str(v) for v in value] if isinstance(value, list) else str(value).split(";")


def _boolean(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if str(value).lower() in {"true", "1", "yes"}:
        return True
    if str(value).lower() in {"false", "0", "no"}:
        return False
    raise ValueError(f"is_urgent must be true or false, not {value!r}")


def _origin(row: Mapping[str, Any]) -> tuple[float, float] | None:
    if _given(row, "origin_lon") is None and _given(row, "origin_lat") is None:
        return None
    return float(row["origin_lon"]), float(row["origin_lat"])


def _travel_m(
    row: Mapping[str, Any], origin: tuple[float, float] | None, lon: float, lat: float
) -> int:
    """Return the stated distance, else the great-circle one from the origin (half-up, m)."""
    if (stated := _given(row, "travel_m")) is not None:
        return int(stated)
    if origin is None:
        return 0
    return math.floor(float(haversine_m(origin[0], origin[1], lon, lat)) + 0.5)


def _ratio(value: Any) -> Decimal | None:
    # A JSON number arrives as a float: its shortest repr is the decimal the writer meant.
    return None if value is None else Decimal(repr(value) if isinstance(value, float) else value)


def _materials(value: Any) -> tuple[tuple[str, int], ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, Mapping):
        return tuple((str(code), int(quantity)) for code, quantity in value.items())
    pairs = (item.split(":") for item in str(value).split(";"))
    return tuple((code, int(quantity)) for code, quantity in pairs)


def _money(money: Money) -> dict[str, str]:
    return {"amount": f"{money.amount:.2f}", "currency": money.currency}


def payout_json(breakdown: PayoutBreakdown) -> dict[str, Any]:
    """Return the wire form of a breakdown: Decimals as strings, money as amount + currency."""
    return {
        "order_id": breakdown.order_id,
        "technician_id": breakdown.technician_id,
        "service_type": breakdown.service_type,
        "region_id": breakdown.region_id,
        "service_date": breakdown.service_date.isoformat(),
        "nth_in_period": breakdown.nth_in_period,
        "rate_card_version": breakdown.rate_card_version,
        "total": _money(breakdown.total),
        "lines": [
            {
                "code": line.code,
                "label_zh": line.label_zh,
                "label_en": line.label_en,
                "basis": str(line.basis),
                "rate": str(line.rate),
                "amount": _money(line.amount),
                "rule_id": line.rule_id,
                "rate_card_version": line.rate_card_version,
            }
            for line in breakdown.lines
        ],
    }


def _index(regions_path: Path | None, *cards: RateCard) -> RegionIndex:
    settings = get_settings()
    path = regions_path or settings.regions_file
    index = RegionIndex(load_regions(path, max_vertices=settings.max_region_vertices))
    for card in cards:
        check_regions(card, [region.id for region in index])
    return index


def _write_json(path: Path, document: object) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    except OSError as err:
        raise fail(f"cannot write {path}: {err.strerror}") from err


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
    if len(settled) >= _PROGRESS_FROM:
        breakdowns = iter(
            track(
                breakdowns,
                total=len(settled),
                description="writing payouts",
                console=Console(stderr=True),
            )
        )
    total = Money.from_fen(int(settled.total_fen.sum()), card.currency)
    _write_json(
        out,
        {
            "rate_card": {
                "id": card.id,
                "version": card.version,
                "content_hash": card.content_hash,
            },
            "order_count": len(settled),
            "total": _money(total),
            "payouts": [payout_json(b) for b in breakdowns],
        },
    )
    typer.echo(f"settled {len(settled):,} orders under {card.version_label}: {total}; wrote {out}")


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
        _write_json(out, _whatif_json(result))
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
                "current": _money(c.current),
                "candidate": _money(c.candidate),
                "delta": _money(c.delta),
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
            "gained": _money(result.gained),
            "lost": _money(result.lost),
            "largest_gain": _money(result.largest_gain),
            "largest_loss": _money(result.largest_loss),
        },
    }
