"""``geodispatch bench startup``: every figure measured and written, in order."""

import json
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


def test_writes_the_time_to_each_step(tmp_path: Path) -> None:
    out = tmp_path / "results" / "startup.json"
    args = ["bench", "startup", "--technicians", "3", "--orders", "20", "--runs", "1",
            "--cold-runs", "0", "--worker-runs", "1", "--settle", "0", "--time-limit", "0.2",
            "--json", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text(encoding="utf-8"))
    cli = figures["cli_warm_cache"]["median"]
    steps = ["interpreter", "command", "read", "solve", "construction", "first_feasible", "exit"]
    times = [cli[step] for step in steps]
    assert all(t is not None and t > 0 for t in times) and times == sorted(times)
    assert 0 < cli["kpi_first_feasible_s"] < cli["exit"]
    assert figures["help_s"]["median"] > 0 and figures["kernel_load_s"]["median"] > 0
    assert figures["cli_cold_cache"] is None
    worker = figures["worker"]
    assert worker["worker_warm_up_s"][0] > 0  # the solver loaded as the worker started
    (run,) = worker["runs"]
    assert 0 <= run["submit_to_pickup"] <= run["submit_to_first_feasible"]
    assert worker["at_service_start"]["pickup_to_first_feasible"] > 0
    assert len(figures["load_average_before"]) == 3
    assert "search starts (construction)" in result.output
