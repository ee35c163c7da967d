"""``geodispatch bench reports``: a small quarter seeded, each report timed and checked."""

import json
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()
REPORTS = ("lead_funnel", "sla", "cost", "utilisation_day", "utilisation_week")


def test_seeds_a_quarter_and_times_every_report(tmp_path: Path) -> None:
    out = tmp_path / "results" / "reports.json"
    args = ["bench", "reports", "--tickets", "600", "--technicians", "12", "--runs", "2",
            "--json", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["database"] == "sqlite" and 85 <= figures["period"]["days"] <= 91
    rows = figures["rows"]
    assert rows["tickets"] == rows["leads"] == 600
    assert rows["status_changes"] > 3 * rows["tickets"] and rows["settlements"] > 400
    for name in REPORTS:
        report = figures["reports"][name]
        assert len(report["runs_s"]) == 2 and 0 < report["median_s"] < 30
        assert report["rows"] > 0, name
    # Every lead is captured inside the quarter; one ticket in fifty is settled twice.
    assert figures["reports"]["lead_funnel"]["leads_received"] == 600
    settled = figures["reports"]["cost"]["orders_settled"]
    assert settled < rows["settlements"] <= settled * 1.1
    assert "slowest report" in result.output
