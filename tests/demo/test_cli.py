"""``geodispatch demo run`` end to end, and bad input ending with one line and exit status 1."""

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from api.cli.demo_day import demo_live_command, demo_run_command
from api.config import PROJECT_ROOT

app = typer.Typer()
app.command("run")(demo_run_command)
app.command("live")(demo_live_command)
runner = CliRunner()


def test_demo_run_fast_plays_the_day_and_prints_the_summary() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "demo", "run", "--fast", "--seed", "2"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    headings = ("served", "on time", "km driven", "payouts by region", "payouts by component",
                "top earner", "bottom earner", "escalations delivered to the demo receiver: ",
                "overdue-30", "no failed step")  # fmt: skip
    for heading in headings:
        assert heading in done.stdout, done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--speed", "-1"], "--speed must be above 0, got -1"),
        (["run", "--speed", "0"], "--speed must be above 0, got 0"),
        (["run", "--time-limit", "-2"], "--time-limit must not be negative"),
        (["live", "--speed", "-60"], "--speed must be above 0, got -60"),
    ],
)
def test_bad_values_end_with_one_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1 and message in result.output


@pytest.mark.parametrize(
    ("args", "name"),
    [(["live", "--size", "huge"], "--size"), (["run", "--speed", "fast"], "--speed"),
     (["run", "--bogus"], "--bogus")],
)  # fmt: skip
def test_unknown_option_values_are_usage_errors(args: list[str], name: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and name in result.output
