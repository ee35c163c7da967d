"""``geodispatch bench api`` against a real uvicorn and a fresh PostGIS database, briefly."""

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


@pytest.mark.postgis
def test_short_run_writes_median_figures(tmp_path: Path) -> None:
    out = tmp_path / "api.json"
    small = ["--rate", "20", "--duration", "1", "--warmup", "0", "--batch", "5"]
    small += ["--rate-card-kb", "8"]  # every ticket names a flag of an 8 KiB card
    small += ["--customers", "new"]  # a new person on every ticket
    result = runner.invoke(
        app,
        ["bench", "api", *small, "--repeat", "2", "--workers", "1", "--json", str(out)],
        env={"TEST_POSTGIS_ADMIN_URL": os.environ["TEST_POSTGIS_ADMIN_URL"]},
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text(encoding="utf-8"))
    single = figures["single"]
    assert single["runs"] == 2 and len(figures["single_runs"]) == 2
    assert single["requests"] == 40 and single["statuses"] == {"201": 40}
    p99s = sorted(run["p99_ms"] for run in figures["single_runs"])
    assert single["p99_ms"] == pytest.approx(sum(p99s) / 2, abs=0.01)
    assert 0 < single["p50_ms"] <= single["p99_ms"] <= single["max_ms"] * 1.001
    assert figures["batch"]["tickets"] == 5 and figures["batch"]["seconds"] > 0
    assert figures["uvicorn_workers"] == 1 and figures["meets_batch"] is True
    assert figures["customers"] == "new"
    assert 7.5 < figures["rate_card"]["kib"] <= 8 and figures["rate_card"]["flags"] > 50
    assert "median p50 / p95 / p99" in result.output


def test_an_unreachable_server_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    bad = "postgresql+psycopg://postgres@127.0.0.1:1/postgres"
    result = runner.invoke(app, ["bench", "api", "--admin-url", bad, "--json", str(tmp_path / "a")])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "cannot use the database: connection failed" in result.output
