"""``geodispatch bench devices`` against a real uvicorn and a fresh PostGIS database, briefly."""

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


@pytest.mark.postgis
def test_a_short_run_counts_events_and_finds_no_duplicate_incident(tmp_path: Path) -> None:
    out = tmp_path / "devices.json"
    small = ["--devices", "4", "--events", "20", "--batch", "5", "--connections", "4"]
    small += ["--burst-devices", "2", "--burst-threads", "4", "--burst-repeats", "2"]
    result = runner.invoke(
        app, ["bench", "devices", *small, "--workers", "1", "--json", str(out)],
        env={"TEST_POSTGIS_ADMIN_URL": os.environ["TEST_POSTGIS_ADMIN_URL"]},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text(encoding="utf-8"))
    throughput, burst = figures["throughput"], figures["burst"]
    assert throughput["statuses"] == {"201": 16} and throughput["events_accepted"] == 80
    assert throughput["events_per_s"] > 0
    assert burst["statuses"] == {"201": 16} and burst["sends_per_device"] == 8
    # Four threshold faults and two repeated faults: one incident and one ticket each.
    assert figures["faults"] == figures["expected_faults"] == 6
    assert figures["incidents"] == figures["maintenance_tickets"] == 6
    assert figures["duplicate_incidents"] == 0
    assert "0 duplicate incidents" in result.output


def test_an_unreachable_server_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    bad = "postgresql+psycopg://postgres@127.0.0.1:1/postgres"
    args = ["bench", "devices", "--admin-url", bad, "--json", str(tmp_path / "d.json")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "cannot use the database: connection failed" in result.output
