"""``geodispatch bench solomon``: checked routes in the JSON file, gaps, clear errors."""

import json
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()
TINY = """TINY
VEHICLE
NUMBER     CAPACITY
  2         10
CUSTOMER
CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME
    0      0          0          0          0       100          0
    1      3          4          5          0        10          2
    2      6          8          5         10        30          2
    3      0          5          6          0        50          1
"""


def test_writes_checked_routes_and_summary(tmp_path: Path) -> None:
    instance = tmp_path / "tiny.txt"
    instance.write_text(TINY)
    (tmp_path / "bks.csv").write_text("instance,vehicles,distance,source\ntiny,2,30.0,hand\n")
    out = tmp_path / "results" / "solomon.json"
    result = runner.invoke(
        app, ["bench", "solomon", str(instance), "--time-limit", "0.5", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(out.read_text())
    assert set(row) == {"instance", "routes", "distance", "vehicles", "wall_s"}
    assert sorted(c for route in row["routes"] for c in route) == [1, 2, 3]
    assert row["distance"] >= 30.0 - 1e-6
    summary = json.loads((tmp_path / "results" / "solomon_summary.json").read_text())
    assert summary["summary"]["geodispatch"]["all"]["n"] == 1


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "solomon", str(tmp_path / "nope.txt")])
    assert result.exit_code == 1
    assert "no such file" in result.output
