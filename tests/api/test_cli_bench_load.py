"""``geodispatch bench load``: locust, headless, briefly, against a fresh PostGIS database."""

import ast
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from benchmarks.load import LOCUSTFILE

runner = CliRunner()
KINDS = {
    "POST /v1/tickets", "GET /v1/tickets/{id}", "POST /v1/leads", "GET /v1/dispatch/availability",
    "GET /v1/earnings/{id}", "GET /v1/map/{layer}",
}  # fmt: skip


@pytest.mark.db
@pytest.mark.postgis
def test_a_short_run_writes_figures_per_kind(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    small = ["--users", "3", "--rate", "3", "--duration", "4", "--technicians", "4"]
    small += ["--orders", "12", "--workers", "1", "--json", str(out)]
    result = runner.invoke(
        app, ["bench", "load", *small],
        env={"TEST_POSTGIS_ADMIN_URL": os.environ["TEST_POSTGIS_ADMIN_URL"]},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["errors"] == 0 and figures["failures"] == {}, figures["failures"]
    overall = figures["overall"]
    assert overall["requests"] > 10 and overall["rps"] > 0
    assert 0 < overall["p50_ms"] <= overall["p95_ms"] <= overall["p99_ms"]
    assert set(figures["kinds"]) <= KINDS and "POST /v1/tickets" in figures["kinds"]
    assert figures["seeded"]["tickets"] > 0 and figures["service_processes"] == 1


def test_the_locustfile_imports_nothing_of_the_service() -> None:
    # locust patches the standard library with gevent as it imports the file: it must stay
    # out of the service's processes and bring none of the service into locust's.
    tree = ast.parse(LOCUSTFILE.read_text(encoding="utf-8"))
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}  # fmt: skip
    modules |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    tops = {module.split(".")[0] for module in modules}
    assert "locust" in tops
    assert not tops & {"api", "benchmarks", "dispatch", "settlement", "geo"}
