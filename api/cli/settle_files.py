"""Settlement files: rate cards (TOML/JSON), orders (JSON/CSV) and payouts (JSON).

The orders format is documented in ``docs/settlement.md``. Every problem is a
:class:`~api.datafiles.DataFileError` naming the file and, for orders, the order's position.
"""

import csv
import json
import math
import tomllib
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import track

from api.datafiles import DataFileError, read_json
from geo.distance import haversine_m
from settlement.breakdown import PayoutBreakdown
from settlement.errors import SettlementError
from settlement.money import Money
from settlement.order import CompletedOrder
from settlement.ratecard import RateCard, parse_rate_card

#: Inputs at least this long show a progress bar; smaller ones finish before it is worth drawing.
PROGRESS_FROM = 10_000


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
    if len(rows) >= PROGRESS_FROM:
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


def money_json(money: Money) -> dict[str, str]:
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
        "total": money_json(breakdown.total),
        "lines": [
            {
                "code": line.code,
                "label_zh": line.label_zh,
                "label_en": line.label_en,
                "basis": str(line.basis),
                "rate": str(line.rate),
                "amount": money_json(line.amount),
                "rule_id": line.rule_id,
                "rate_card_version": line.rate_card_version,
            }
            for line in breakdown.lines
        ],
    }


def write_json(path: Path, document: object) -> None:
    """Write ``document`` as UTF-8 JSON, creating the parent directory."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    except OSError as err:
        raise DataFileError(f"cannot write {path}: {err.strerror}", path=str(path)) from err


def write_payouts(path: Path, header: Mapping[str, object], payouts: Iterable[object]) -> None:
    """Write ``{**header, "payouts": [...]}`` streaming the payouts one by one.

    A million breakdowns never sit in memory at once: each is serialised as it is built.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as handle:
            # The document with an empty list, cut before "]}": the payouts go in between.
            skeleton = json.dumps({**header, "payouts": []}, ensure_ascii=False)
            handle.write(skeleton[: -len("]}")] + "\n")
            for position, payout in enumerate(payouts):
                handle.write(",\n" if position else "")
                handle.write(json.dumps(payout, ensure_ascii=False))
            handle.write("\n]}\n")
    except OSError as err:
        raise DataFileError(f"cannot write {path}: {err.strerror}", path=str(path)) from err
