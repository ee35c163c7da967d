"""``geodispatch bench solomon``: checked routes in the JSON file, gaps, clear errors."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from benchmarks import solomon as bench_solomon
from dispatch.solomon import SolomonInstance

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
    assert set(row) == {"instance", "status", "routes", "distance", "vehicles", "wall_s"}
    assert row["status"] == "ok"
    assert sorted(c for route in row["routes"] for c in route) == [1, 2, 3]
    assert row["distance"] >= 30.0 - 1e-6
    summary = json.loads((tmp_path / "results" / "solomon_summary.json").read_text())
    assert summary["summary"]["geodispatch"]["all"]["n"] == 1


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "solomon", str(tmp_path / "nope.txt")])
    assert result.exit_code == 1
    assert "no such file" in result.output


# Customer 2 (10 away) opens so late that no vehicle is back by the horizon (100).
UNSERVABLE = TINY.replace(
    "    2      6          8          5         10        30          2",
    "    2      6          8          5         90        95          2",
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("c101", "C1"), ("r112", "R1"), ("rc108", "RC1"), ("c205", "C2"), ("r211", "R2"),
     ("rc208", "RC2"), ("c1_2_6", "C1_2"), ("c2_2_10", "C2_2"), ("r1_2_7", "R1_2"),
     ("r2_2_9", "R2_2"), ("rc1_2_8", "RC1_2"), ("rc2_2_6", "RC2_2"), ("rc1_4_1", "RC1_4")],
)  # fmt: skip
def test_families_of_solomon_and_homberger_names(name: str, expected: str) -> None:
    assert bench_solomon.family(name) == expected


def test_summary_groups_the_200_customer_files_by_family(tmp_path: Path) -> None:
    names = ("r2_2_6", "r2_2_7", "rc1_2_6", "c201")
    for name in names:
        (tmp_path / f"{name}.txt").write_text(TINY.replace("TINY", name))
    bks = "".join(f"{name},2,30.0,hand\n" for name in names)
    (tmp_path / "bks.csv").write_text("instance,vehicles,distance,source\n" + bks)
    out = tmp_path / "solomon.json"
    files = [str(tmp_path / f"{name}.txt") for name in names]
    result = runner.invoke(
        app, ["bench", "solomon", *files, "--time-limit", "0.2", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "solomon_summary.json").read_text())["summary"]
    assert set(summary["geodispatch"]) == {"R2_2", "RC1_2", "C2", "all"}


def test_an_infeasible_or_failed_instance_is_a_row_and_the_batch_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "unservable.txt").write_text(UNSERVABLE.replace("TINY", "unservable"))
    (tmp_path / "crash.txt").write_text(TINY.replace("TINY", "crash"))
    (tmp_path / "tiny.txt").write_text(TINY)
    (tmp_path / "bks.csv").write_text("instance,vehicles,distance,source\ntiny,2,30.0,hand\n")
    solve = bench_solomon.solve_geodispatch

    def crash_on_crash(instance: SolomonInstance, limit_s: float) -> list[list[int]]:
        if instance.name == "crash":
            raise RuntimeError("kernel exploded")
        return solve(instance, limit_s)

    monkeypatch.setattr(bench_solomon, "solve_geodispatch", crash_on_crash)
    out = tmp_path / "solomon.json"
    files = [str(tmp_path / f"{n}.txt") for n in ("unservable", "crash", "tiny")]
    result = runner.invoke(
        app, ["bench", "solomon", *files, "--time-limit", "0.3", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = {row["instance"]: row for row in json.loads(out.read_text())}
    assert rows["unservable"]["status"] == "infeasible"
    assert "1 customers left unassigned" in rows["unservable"]["error"]
    assert rows["crash"]["status"] == "failed"
    assert rows["crash"]["error"] == "RuntimeError: kernel exploded"
    assert rows["tiny"]["status"] == "ok" and rows["tiny"]["distance"] >= 30.0 - 1e-6
    summary = json.loads((tmp_path / "solomon_summary.json").read_text())["summary"]
    assert summary["geodispatch"]["all"] == {
        "n": 1, "failed": 2, "mean_gap_pct": summary["geodispatch"]["all"]["mean_gap_pct"],
        "median_gap_pct": summary["geodispatch"]["all"]["median_gap_pct"],
    }  # fmt: skip
    assert "kernel exploded" in result.output
