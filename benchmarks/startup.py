"""``geodispatch bench startup``: how long from asking for a solve to the search starting.

Figures, each the median of ``--runs`` (default 5) and written with every run:

- **``geodispatch --help``**: process start (just before ``Popen``) to exit.
- **``geodispatch solve``** on a demo day (200 technicians / 2,000 orders by default), run as
  the console script runs it under :mod:`benchmarks.startup_probe`, which notes when the
  command starts, when the problem is read, when ``solve`` is called, when the search starts
  building routes and when the first feasible plan is there (the annealing starts). Times
  count from just before ``Popen``. With the numba cache warm (kernels compiled before, as
  after ``make deps``) and empty (``NUMBA_CACHE_DIR`` pointed at an empty folder for each of
  ``--cold-runs``, as on a new machine: each compiles the kernels).
- **A dispatch run in the service's worker**: the service's own ``RunExecutor`` with
  ``warm=True`` as the service starts it (its database writes replaced by notes of the
  times), runs of the same day submitted one after another. The first is submitted
  ``--settle`` seconds after the executor starts (the service has been up a little while
  when the first dispatcher asks), the others once the one before has finished. Pick-up is
  when the worker announces the run (``running``); the first feasible plan is the pick-up
  plus the plan's ``kpis.first_feasible_s``. A run submitted at the very start of the
  service (the worker still starting) is measured once on its own.
- The seconds a fresh process takes to load the compiled kernels once numba is imported
  (``dispatch.local_search.warm_up``).

With the load average before and after, and whether the children read compiled bytecode.
Nothing else of ours should run meanwhile: the figures are wall-clock times.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from api.cli.common import reports_errors
from api.cli.dispatching import PLACES_FILE, load_places, write_json
from api.config import PROJECT_ROOT
from api.dispatch.runs import RunExecutor
from benchmarks.city import RESULTS, provenance
from dispatch import Plan, Problem, SolveParams, Unassigned
from dispatch.demo import DemoParams, demo_problem
from dispatch.problem_io import problem_to_dict
from geo.distance import HaversineTravelTime

if TYPE_CHECKING:
    from concurrent.futures import Future

console = Console()
STEPS = ("interpreter", "command", "read", "solve", "construction", "first_feasible")
KERNELS_SCRIPT = (
    "import json, time\n"
    "import dispatch.local_search as ls\n"
    "started = time.perf_counter()\n"
    "ls.warm_up()\n"
    "print(json.dumps(time.perf_counter() - started))\n"
)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _command() -> list[str]:
    """``geodispatch`` as installed beside this interpreter, else ``python -m api.cli``."""
    script = Path(sys.executable).with_name("geodispatch")
    return [str(script)] if script.exists() else [sys.executable, "-m", "api.cli"]


def _help_s() -> float:
    started = time.time()
    subprocess.run([*_command(), "--help"], capture_output=True, check=True, cwd=PROJECT_ROOT)
    return time.time() - started


def _cli_solve(problem_file: Path, work: Path, time_limit: float, env: dict[str, str]) -> Any:
    """One ``geodispatch solve`` under the probe: seconds from ``Popen`` to each step."""
    marks_file, plan_file = work / "marks.json", work / "plan.json"
    marks_file.unlink(missing_ok=True)
    args = [sys.executable, "-m", "benchmarks.startup_probe", str(marks_file), "solve",
            str(problem_file), "--time-limit", str(time_limit), "--partition", "none",
            "--out", str(plan_file)]  # fmt: skip
    started = time.time()
    done = subprocess.run(args, capture_output=True, text=True, cwd=PROJECT_ROOT, env=env)
    wall_s = time.time() - started
    if done.returncode != 0:
        raise RuntimeError(f"geodispatch solve failed: {done.stderr.strip()[-400:]}")
    marks = json.loads(marks_file.read_text(encoding="utf-8"))
    kpis = json.loads(plan_file.read_text(encoding="utf-8"))["kpis"]
    return {
        **{step: round(marks[step] - started, 3) for step in STEPS if step in marks},
        "exit": round(wall_s, 3),
        "kpi_first_feasible_s": kpis.get("first_feasible_s"),
        "kpi_solve_s": kpis.get("solve_s"),
    }


def _kernel_load_s(env: dict[str, str]) -> float:
    done = subprocess.run([sys.executable, "-c", KERNELS_SCRIPT], capture_output=True,
                          text=True, check=True, cwd=PROJECT_ROOT, env=env)  # fmt: skip
    return float(json.loads(done.stdout.strip().splitlines()[-1]))


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [*STEPS, "exit", "kpi_first_feasible_s"]
    return {key: _median([r[key] for r in runs if r.get(key) is not None]) for key in keys}


def _no_database() -> AbstractContextManager[Session]:
    raise RuntimeError("bench startup writes no run to a database")


class TimedRunExecutor(RunExecutor):
    """The service's run executor with its database writes replaced by notes of the times."""

    def __init__(self, workers: int, *, warm: bool) -> None:
        self.picked_up: dict[int, float] = {}
        self.outcomes: dict[int, Future[Plan]] = {}
        self._noted = threading.Condition()
        super().__init__(workers=workers, sessions=_no_database, lease_s=3600.0, warm=warm)

    def _started(self, run_id: int, at: Any) -> None:
        with self._noted:
            self.picked_up[run_id] = at.timestamp()
            self._noted.notify_all()

    def _finish(
        self, run_id: int, future: "Future[Plan]", excluded: tuple[Unassigned, ...]
    ) -> None:
        with self._noted:
            self.outcomes[run_id] = future
            self._noted.notify_all()
        self.leases.release(run_id)

    def timed_run(self, run_id: int, problem: Problem, params: SolveParams) -> dict[str, float]:
        """Submit one run, wait for it; seconds from submission to pick-up and first plan."""
        submitted = time.time()
        self.submit(run_id, problem, params, ())
        with self._noted:
            if not self._noted.wait_for(lambda: run_id in self.outcomes, timeout=600):
                raise RuntimeError(f"run {run_id} did not finish within 600 s")
            picked = self.picked_up.get(run_id)
        plan = self.outcomes[run_id].result()
        first = plan.kpis.first_feasible_s or 0.0
        picked = submitted if picked is None else picked
        return {
            "submit_to_pickup": round(picked - submitted, 3),
            "pickup_to_first_feasible": round(first, 3),
            "submit_to_first_feasible": round(picked - submitted + first, 3),
        }


def _worker_runs(
    problem: Problem, params: SolveParams, runs: int, settle_s: float
) -> dict[str, Any]:
    started = time.time()
    executor = TimedRunExecutor(1, warm=True)
    try:
        ready = [f.result(timeout=600) for f in executor.workers_ready]
        ready_s = time.time() - started
        time.sleep(max(settle_s - ready_s, 0.0))  # the service has been up a little while
        timed = [executor.timed_run(k, problem, params) for k in range(runs)]
    finally:
        executor.shutdown()
    executor = TimedRunExecutor(1, warm=True)
    try:
        at_start = executor.timed_run(0, problem, params)
    finally:
        executor.shutdown()
    keys = ("submit_to_pickup", "pickup_to_first_feasible", "submit_to_first_feasible")
    return {
        "service_start_to_workers_ready_s": round(ready_s, 3),
        "worker_warm_up_s": [None if w is None else round(w, 3) for _, w in ready],
        "settle_s": settle_s,
        "runs": timed,
        "median": {key: _median([r[key] for r in timed]) for key in keys},
        "at_service_start": at_start,
    }


def _bytecode_note(env: dict[str, str]) -> dict[str, Any]:
    """Whether the children read compiled bytecode (it halves numba's import time)."""
    import importlib.util

    import numba.core.dispatcher

    source = numba.core.dispatcher.__file__ or ""
    return {
        "PYTHONDONTWRITEBYTECODE": env.get("PYTHONDONTWRITEBYTECODE"),
        "numba_bytecode_cached": Path(importlib.util.cache_from_source(source)).exists(),
    }


LABELS = {
    "interpreter": "interpreter up",
    "command": "solve command starts",
    "read": "problem read",
    "solve": "solve() called",
    "construction": "search starts (construction)",
    "first_feasible": "first feasible plan (annealing)",
    "exit": "process exits",
    "kpi_first_feasible_s": "kpis.first_feasible_s",
}


def _table(title: str, columns: dict[str, dict[str, Any]]) -> Table:
    """Return a table of the steps (rows) for each set of runs (columns: their medians)."""
    table = Table(title=title)
    table.add_column("seconds")
    for name in columns:
        table.add_column(name, justify="right")
    for key, label in LABELS.items():
        cells = [columns[name].get(key) for name in columns]
        table.add_row(label, *("-" if c is None else f"{c:.2f}" for c in cells))
    return table


@reports_errors
def bench_startup(
    technicians: Annotated[int, typer.Option(help="Technicians of the demo day.")] = 200,
    orders: Annotated[int, typer.Option(help="Orders of the demo day.")] = 2000,
    seed: Annotated[int, typer.Option(help="Demo seed.")] = 1,
    runs: Annotated[int, typer.Option(min=1, help="Runs per figure (median).")] = 5,
    cold_runs: Annotated[
        int, typer.Option(min=0, help="CLI solves on an empty numba cache (each compiles).")
    ] = 5,
    worker_runs: Annotated[int, typer.Option(min=0, help="Dispatch runs in a worker.")] = 5,
    settle: Annotated[
        float, typer.Option(min=0, help="Seconds the service is up before the first run.")
    ] = 10.0,
    time_limit: Annotated[float, typer.Option(help="Seconds per solve.")] = 1.0,
    json_out: Annotated[Path, typer.Option("--json", help="Result file.")] = RESULTS
    / "startup.json",
) -> None:
    """Time ``--help``, a CLI solve (warm and cold numba cache) and a worker's run to the search."""
    load_before = [round(x, 2) for x in os.getloadavg()]
    env = dict(os.environ)
    problem = demo_problem(
        load_places(PLACES_FILE), HaversineTravelTime(), DemoParams(technicians, orders, seed=seed)
    )
    params = SolveParams(time_limit, seed=seed)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as folder:
        work = Path(folder)
        problem_file = work / "problem.json"
        write_json(problem_file, problem_to_dict(problem))
        console.print(f"{technicians}x{orders} day written; loading the kernels once (compiles "
                      "them on a new machine)...")  # fmt: skip
        _kernel_load_s(env)  # fills the numba cache if it is empty
        kernels = [_kernel_load_s(env) for _ in range(runs)]
        helps = [_help_s() for _ in range(runs)]
        console.print("geodispatch solve, numba cache warm...")
        warm = [_cli_solve(problem_file, work, time_limit, env) for _ in range(runs)]
        cold = []
        for k in range(cold_runs):
            console.print(f"geodispatch solve, numba cache empty ({k + 1}/{cold_runs})...")
            cache = work / f"numba-cache-{k}"
            cold.append(_cli_solve(problem_file, work, time_limit,
                                   {**env, "NUMBA_CACHE_DIR": str(cache)}))  # fmt: skip
        console.print("dispatch runs in a worker...")
        worker = _worker_runs(problem, params, worker_runs, settle) if worker_runs else None
    results = {
        **provenance(),
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "python": _bytecode_note(env),
        "day": f"{technicians}x{orders}", "seed": seed, "time_limit_s": time_limit,
        "help_s": {"median": _median(helps), "runs": [round(h, 3) for h in helps]},
        "kernel_load_s": {"median": _median(kernels), "runs": [round(k, 3) for k in kernels]},
        "cli_warm_cache": {"median": _summary(warm), "runs": warm},
        "cli_cold_cache": {"median": _summary(cold), "runs": cold} if cold else None,
        "worker": worker,
    }  # fmt: skip
    columns = {"numba cache warm": results["cli_warm_cache"]["median"]}
    if cold:
        columns["numba cache empty"] = results["cli_cold_cache"]["median"]
    title = f"geodispatch solve, {technicians}x{orders} day: from Popen, median of {runs}"
    console.print(_table(title, columns))
    console.print(f"geodispatch --help: {results['help_s']['median']:.2f} s; kernels loaded "
                  f"after import: {results['kernel_load_s']['median']:.2f} s")  # fmt: skip
    if worker:
        m, first = worker["median"], worker["at_service_start"]
        console.print(
            f"worker: submit -> pick-up {m['submit_to_pickup']:.2f} s, pick-up -> first "
            f"feasible plan {m['pickup_to_first_feasible']:.2f} s (runs after {settle:g} s of "
            f"service); a run at service start: {first['submit_to_first_feasible']:.2f} s"
        )
    console.print(f"load average {load_before} before, {results['load_average_after']} after")
    write_json(json_out, results)
    console.print(f"wrote {json_out}")
