"""``geodispatch demo problem``, ``solve`` and the dispatch benchmarks from the command line."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from distributed import LocalCluster
from typer.testing import CliRunner

from api.cli import app
from api.config import PROJECT_ROOT, get_settings

runner = CliRunner()


def small_problem_document() -> dict[str, Any]:
    """Two technicians and five orders in central Shanghai, no breaks (a quick solve)."""
    day = "2026-11-23T{}:00+08:00"
    techs = [
        {"id": f"t{k}", "start": [121.47 - 0.02 * k, 31.22], "skills": {"plumbing": 1 + k},
         "shifts": [{"start": day.format("08:00"), "end": day.format("18:00")}]}
        for k in range(2)
    ]  # fmt: skip
    orders = [
        {"id": f"o{i}", "location": [121.44 + 0.01 * i, 31.21], "duration_s": 2700,
         "required_skills": {"plumbing": 1},
         "windows": [{"start": day.format("09:00"), "end": day.format("12:00")}]}
        for i in range(5)
    ]  # fmt: skip
    orders.append({"id": "expert", "location": [121.45, 31.2], "duration_s": 1800,
                   "required_skills": {"plumbing": 3}})  # fmt: skip
    return {"origin": "2026-11-23T00:00:00+08:00", "technicians": techs, "orders": orders}


@pytest.fixture
def local_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Dask scheduler configured, as on a laptop."""
    monkeypatch.delenv("GEODISPATCH_DASK_SCHEDULER", raising=False)
    get_settings.cache_clear()


def test_solve_writes_a_plan_and_prints_a_summary(tmp_path: Path, local_executor: None) -> None:
    problem = tmp_path / "problem.json"
    problem.write_text(json.dumps(small_problem_document()))
    out = tmp_path / "out" / "plan.json"
    result = runner.invoke(
        app, ["solve", str(problem), "--time-limit", "2", "--out", str(out), "--partition", "none"]
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(out.read_text())
    served = {s["order_id"] for r in plan["routes"] for s in r["stops"]}
    assert served == {f"o{i}" for i in range(5)}
    assert [u["reason"] for u in plan["unassigned"]] == ["no_skill"]
    assert "assigned" in result.output and "5 / 6" in result.output
    assert "unassigned: no_skill" in result.output


def test_a_solve_loads_no_part_of_the_service_and_or_tools_only_after_its_search(
    tmp_path: Path,
) -> None:
    document = small_problem_document()
    lunch = {"earliest_start": "2026-11-23T12:00:00+08:00",
             "latest_start": "2026-11-23T13:00:00+08:00", "duration_s": 1800}  # fmt: skip
    for technician in document["technicians"]:
        technician["shifts"][0]["breaks"] = [lunch]  # polished in groups of routes
    problem = tmp_path / "problem.json"
    problem.write_text(json.dumps(document))
    args = ["solve", str(problem), "--time-limit", "2", "--partition", "none",
            "--out", str(tmp_path / "plan.json")]  # fmt: skip
    script = (
        "import sys\n"
        "from api.cli import app\n"
        "from dispatch.local_search import LocalSearch\n"
        "searched = LocalSearch.run\n"
        "def run(self, *args, **kwargs):\n"
        "    print('OR-TOOLS AT THE SEARCH', 'ortools' in sys.modules)\n"
        "    return searched(self, *args, **kwargs)\n"
        "LocalSearch.run = run\n"
        f"sys.argv = ['geodispatch', *{args!r}]\n"
        "try:\n"
        "    app()\n"
        "except SystemExit as done:\n"
        "    assert not done.code, done.code\n"
        "heavy = ('fastapi', 'starlette', 'sqlalchemy', 'geopandas', 'folium', 'pydantic_settings',"
        " 'distributed', 'ortools')\n"
        "print('LOADED', sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT_ROOT,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "OR-TOOLS AT THE SEARCH False" in done.stdout
    assert "LOADED ['ortools']" in done.stdout  # for the polish, after the search
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["kpis"]["assigned"] == 5
    assert plan["kpis"]["polish_gain"] >= 0


def test_solve_partitioned_by_region(tmp_path: Path, local_executor: None) -> None:
    problem = tmp_path / "problem.json"
    problem.write_text(json.dumps(small_problem_document()))
    out = tmp_path / "plan.json"
    result = runner.invoke(
        app, ["solve", str(problem), "--time-limit", "2", "--out", str(out),
              "--partition", "region", "--orders-per-part", "3"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["kpis"]["assigned"] == 5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON at line 1"),
        (json.dumps({"technicians": []}), "origin is required"),
        (json.dumps({**small_problem_document(), "orders": [{"id": "x"}]}),
         "orders[0].location is required"),
    ],
)  # fmt: skip
def test_bad_files_end_with_one_line_and_exit_1(tmp_path: Path, content: str, message: str) -> None:
    problem = tmp_path / "problem.json"
    problem.write_text(content)
    result = runner.invoke(app, ["solve", str(problem), "--out", str(tmp_path / "plan.json")])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "plan.json").exists()


def test_polish_share_zero_leaves_the_search_alone(tmp_path: Path, local_executor: None) -> None:
    problem = tmp_path / "problem.json"
    problem.write_text(json.dumps(small_problem_document()))
    out = tmp_path / "plan.json"
    args = ["solve", str(problem), "--time-limit", "1", "--out", str(out), "--partition", "none"]
    polished = runner.invoke(app, args)
    assert polished.exit_code == 0, polished.output
    assert json.loads(out.read_text())["kpis"]["polish_gain"] >= 0
    assert "OR-Tools polish gain" in polished.output
    alone = runner.invoke(app, [*args, "--polish-share", "0"])
    assert alone.exit_code == 0, alone.output
    assert json.loads(out.read_text())["kpis"]["polish_gain"] is None
    assert "OR-Tools polish gain" not in alone.output


def test_a_polish_share_out_of_range_ends_with_one_line(tmp_path: Path) -> None:
    problem = tmp_path / "problem.json"
    problem.write_text(json.dumps(small_problem_document()))
    out = tmp_path / "plan.json"
    result = runner.invoke(app, ["solve", str(problem), "--out", str(out), "--polish-share", "0.9"])
    assert result.exit_code != 0
    assert "polish_share must be in [0, 0.5]" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_a_lower_drop_penalty_leaves_a_far_order_out(tmp_path: Path, local_executor: None) -> None:
    document = small_problem_document()
    document["orders"].append({"id": "far", "location": [121.85, 31.45], "duration_s": 1800,
                               "required_skills": {"plumbing": 1}})  # fmt: skip
    problem = tmp_path / "problem.json"
    problem.write_text(json.dumps(document))
    out = tmp_path / "plan.json"
    args = ["solve", str(problem), "--time-limit", "1", "--out", str(out), "--partition", "none"]

    def unassigned(*options: str) -> set[str]:
        result = runner.invoke(app, [*args, *options])
        assert result.exit_code == 0, result.output
        return {u["order_id"] for u in json.loads(out.read_text())["unassigned"]}

    assert unassigned() == {"expert"}
    # ten minutes of driving is worth less than the round trip of over three hours to "far"
    assert unassigned("--drop-penalty", "600") == {"expert", "far"}


def test_the_balance_weight_prices_the_longest_day(tmp_path: Path, local_executor: None) -> None:
    problem = tmp_path / "problem.json"
    problem.write_text(json.dumps(small_problem_document()))
    out = tmp_path / "plan.json"
    result = runner.invoke(
        app,
        ["solve", str(problem), "--time-limit", "1", "--out", str(out), "--partition", "none",
         "--balance-weight", "100"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    kpis = json.loads(out.read_text())["kpis"]
    longest = max(kpis["load_s_by_technician"].values())  # one shift each
    unserved = 1_000_000  # "expert": no technician has the skill level
    assert kpis["objective"] == round(kpis["travel_min"] * 60) + unserved + 100 * longest


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--drop-penalty", "0", "drop_penalty and priority_factor must be >= 1"),
     ("--balance-weight", "-1", "balance_per_s must be >= 0")],
)  # fmt: skip
def test_bad_weights_end_with_one_line(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    problem = tmp_path / "problem.json"
    problem.write_text(json.dumps(small_problem_document()))
    out = tmp_path / "plan.json"
    result = runner.invoke(app, ["solve", str(problem), "--out", str(out), option, value])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["solve", str(tmp_path / "nope.json")])
    assert result.exit_code == 1 and "cannot read" in result.output


def test_demo_problem_is_a_valid_seeded_problem_file(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    for out in (first, second):
        result = runner.invoke(
            app, ["demo", "problem", "--technicians", "5", "--orders", "40", "--seed", "3",
                  "--out", str(out)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    assert first.read_text() == second.read_text()
    document = json.loads(first.read_text())
    assert len(document["technicians"]) == 5 and len(document["orders"]) == 40
    assert document["orders"][0]["windows"][0]["start"].endswith("+08:00")


def test_bench_insertion_writes_figures(tmp_path: Path) -> None:
    out = tmp_path / "insertion.json"
    result = runner.invoke(
        app, ["bench", "insertion", "--technicians", "5", "--orders", "40", "--insertions", "5",
              "--base", "insertion", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert figures["insertions"] == 5 and figures["p95_ms"] >= figures["p50_ms"] > 0
    assert figures["solver_commit"]


def test_bench_insertion_through_the_api_writes_figures(tmp_path: Path) -> None:
    # The demo day seeded, planned and applied through a served process, then timed calls.
    out = tmp_path / "insertion_http.json"
    result = runner.invoke(
        app, ["bench", "insertion", "--http", "--runs", "1", "--insertions", "3",
              "--time-limit", "2", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert figures["errors"] == 0 and figures["planned"] > 0
    assert sum(n for k, n in figures["statuses"].items() if k.startswith("insert ")) == 3
    assert figures["statuses"].get("availability 200") == 3
    for name in ("insert", "availability"):
        assert figures[name]["p95_ms"] >= figures[name]["median_ms"] > 0


def test_bench_city_rejects_bad_sizes(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "city", "--sizes", "50by500"])
    assert result.exit_code == 1 and "--sizes" in result.output


def test_bench_city_records_each_size(tmp_path: Path, local_executor: None) -> None:
    out = tmp_path / "city.json"
    result = runner.invoke(
        app, ["bench", "city", "--sizes", "3x20", "--time-limit", "1", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    (size,) = json.loads(out.read_text())["results"]
    assert size["size"] == "3x20" and size["partitioned"] is None
    assert size["peak_memory_mb"] > 0
    for phase in ("first_feasible", "after_limit"):
        assert "share_assigned" in size[phase] or "error" in size[phase]


def test_solve_on_the_configured_dask_scheduler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = small_problem_document()
    for i, order in enumerate(document["orders"]):
        order["region_id"] = "east" if i % 2 else "west"
    problem = tmp_path / "problem.json"
    problem.write_text(json.dumps(document))
    out = tmp_path / "plan.json"
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        monkeypatch.setenv("GEODISPATCH_DASK_SCHEDULER", cluster.scheduler_address)
        get_settings.cache_clear()
        try:
            result = runner.invoke(
                app, ["solve", str(problem), "--time-limit", "2", "--out", str(out),
                      "--partition", "region", "--orders-per-part", "3"],
            )  # fmt: skip
        finally:
            get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    plan = json.loads(out.read_text())
    assert plan["kpis"]["assigned"] + plan["kpis"]["unassigned"] == 6
