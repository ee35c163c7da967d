"""The ``geodispatch settle`` commands on the demo card and regions (api/cli/settle.py)."""

import csv
import json
import tomllib
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from api.config import PROJECT_ROOT

CARD = PROJECT_ROOT / "data" / "rate_card.toml"
REGIONS = PROJECT_ROOT / "data" / "regions.geojson"
ORDERS = [
    {
        "order_id": "A-1",
        "technician_id": "tech-7",
        "service_type": "ac_repair",
        "service_at": "2026-11-18T06:00:00+08:00",
        "lon": 121.480135,
        "lat": 31.217995,
        "flags": ["old_building"],
        "rating": 5,
        "origin_lon": 121.55,
        "origin_lat": 31.23,
    },
    {
        "order_id": "A-2",
        "technician_id": "tech-7",
        "service_type": "smart_lock_install",
        "service_at": "2026-11-18T14:30:00+08:00",
        "lon": 120.603379,
        "lat": 31.316563,
        "units": 3,
        "travel_m": 9500,
        "demand_supply_ratio": "1.6",
        "materials": {"customer_supplied_part": 1},
    },
]


def run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_settle_json_orders_writes_explained_payouts(tmp_path: Path):
    orders = tmp_path / "orders.json"
    orders.write_text(json.dumps(ORDERS), encoding="utf-8")
    out = tmp_path / "payouts.json"
    result = run("settle", orders, "--rate-card", CARD, "--regions", REGIONS, "--out", out)
    assert result.exit_code == 0, result.output
    payouts = json.loads(out.read_text(encoding="utf-8"))
    first, second = payouts["payouts"]
    assert payouts["order_count"] == 2
    assert first["region_id"] == "310101"
    labels = [line["label_en"] for line in first["lines"]]
    assert "region coefficient 1.4 (Huangpu District)" in labels
    assert "early morning 06:00-08:00 x1.3" in labels
    assert any(label.startswith("Huangpu river crossing") for label in labels)
    assert second["region_id"] == "320508"
    assert any("weighted indicators" in line["label_en"] for line in second["lines"])
    total = sum(float(line["amount"]["amount"]) for p in payouts["payouts"] for line in p["lines"])
    assert round(total, 2) == float(payouts["total"]["amount"])


def test_settle_run_reads_csv(tmp_path: Path):
    orders = tmp_path / "orders.csv"
    fields = ["order_id", "technician_id", "service_type", "service_at", "lon", "lat", "flags"]
    fields += ["is_urgent", "materials"]
    with orders.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        row = {k: ORDERS[0][k] for k in fields[:6]}
        writer.writerow(
            row
            | {
                "flags": "old_building;high_floor_no_lift",
                "is_urgent": "true",
                "materials": "refrigerant_kg:2",
            }
        )
    out = tmp_path / "payouts.json"
    result = run("settle", "run", orders, "--rate-card", CARD, "--regions", REGIONS, "--out", out)
    assert result.exit_code == 0, result.output
    codes = [line["code"] for line in json.loads(out.read_text())["payouts"][0]["lines"]]
    assert codes.count("difficulty") == 2
    assert "urgency_bonus" in codes and "material_deduction" in codes


def test_bad_order_row_is_named(tmp_path: Path):
    orders = tmp_path / "orders.json"
    orders.write_text(json.dumps([ORDERS[0], {**ORDERS[1], "service_at": "2026-11-18T14:30"}]))
    result = CliRunner().invoke(
        app,
        [
            "settle",
            str(orders),
            "--rate-card",
            str(CARD),
            "--regions",
            str(REGIONS),
            "--out",
            str(tmp_path / "o.json"),
        ],
    )
    assert result.exit_code == 1
    assert "order 2" in result.output and "timezone-aware" in result.output


def test_simulate_compares_cards(tmp_path: Path):
    orders = tmp_path / "orders.json"
    orders.write_text(json.dumps({"orders": ORDERS}), encoding="utf-8")
    text = CARD.read_text(encoding="utf-8")
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(
        text.replace("version = 1", "version = 2").replace(
            '"310101" = "1.40"', '"310101" = "1.50"'
        ),
        encoding="utf-8",
    )
    assert tomllib.loads(candidate.read_text())["version"] == 2
    out = tmp_path / "whatif.json"
    result = run(
        "settle",
        "simulate",
        "--current",
        CARD,
        "--candidate",
        candidate,
        "--orders",
        orders,
        "--regions",
        REGIONS,
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    comparison = json.loads(out.read_text())
    assert comparison["technicians"]["paid_more"] == 1
    by_region = {row["key"]: row for row in comparison["by_region"]}
    assert by_region["310101"]["delta"]["amount"] != "0.00"
    assert by_region["320508"]["delta"]["amount"] == "0.00"
