"""``bench polish``: each share and seed solved, the summary set against the search alone."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


def test_cli_solves_every_share_and_seed_and_compares_with_the_search_alone(
    tmp_path: Path,
) -> None:
    out = tmp_path / "polish.json"
    result = runner.invoke(
        app, ["bench", "polish", "--sizes", "5x30", "--time-limit", "1", "--shares", "0,0.2",
              "--seeds", "1,2", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert {"solver_commit", "load_average_1_5_15", "load_average_before"} <= set(document)
    (size,) = document["results"]
    assert [(r["seed"], r["polish_share"]) for r in size["rows"]] == [
        (1, 0.0),
        (1, 0.2),
        (2, 0.0),
        (2, 0.2),
    ]  # seeds interleaved: a change of load falls on every share alike
    alone, polished = size["summary"]
    assert alone["polish_share"] == 0 and alone["median_polish_gain"] is None
    assert alone["objective_vs_search_alone"] == 1.0
    assert polished["runs"] == 2 and polished["median_polish_gain"] >= 0
    for row in size["rows"]:
        parts = row["objective_parts"]
        assert row["objective"] == sum(parts.values())  # the plan's own objective, part by part
    assert "OR-Tools polish after the search" in result.output


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--shares", "0,0.7", "--shares takes shares in [0, 0.5]"),
     ("--seeds", "one", "--seeds takes whole numbers >= 0")],
)  # fmt: skip
def test_bad_lists_end_with_one_line(option: str, value: str, message: str) -> None:
    result = runner.invoke(app, ["bench", "polish", option, value])
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
