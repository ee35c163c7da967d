"""``geodispatch bench city`` and ``bench insertion``: the dispatch targets, measured.

``city`` generates demo days on the real places at each size and records the time to the
first feasible plan (construction only, no local search; the compiled kernels are loaded
beforehand and that time is reported on its own), the plan after the time limit
(objective, share assigned, on-time rate, km), and the peak memory of this process and its
children (sampled with psutil). Sizes above the partition threshold are solved partitioned.
``insertion`` solves a 200/2,000 day, then times inserting urgent orders one by one into it.
Figures are printed and written as JSON with the solver's commit and the machine.
"""

import dataclasses
import json
import os
import platform
import statistics
import subprocess
import threading
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import psutil
import typer
from rich.console import Console
from rich.table import Table

from api.cli.common import fail, reports_errors
from api.cli.dispatching import (
    PLACES_FILE,
    PartitionChoice,
    load_places,
    partition_mode,
    solve_problem,
    write_json,
)
from api.config import PROJECT_ROOT
from dispatch import DispatchError, Kpis, Plan, Problem, SolveParams, TimeWindow, WorkOrder
from dispatch.demo import HOUR_S, DemoParams, demo_problem
from dispatch.insertion import Insertion, LivePlan
from dispatch.local_search import warm_up
from dispatch.partition import PartitionMode
from geo.distance import HaversineTravelTime

RESULTS = PROJECT_ROOT / "benchmarks" / "results"
ORDERS_PER_PART = 1000


class BasePlan(StrEnum):
    """Where the insertion benchmark's base plan comes from."""

    SOLVER = "solver"  # dispatch.solve within the time limit
    INSERTION = "insertion"  # every order inserted greedily (when the solver plan is empty)


console = Console()


class PeakMemory:
    """Sample the resident memory of this process and its children until stopped."""

    def __init__(self, every_s: float = 0.05) -> None:
        self.peak_b = 0
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:  # a child ended between listing and reading
                    continue
            self.peak_b = max(self.peak_b, total)
            self._stop.wait(self._every_s)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def provenance() -> dict[str, Any]:
    """Solver commit and machine, so that a figure can be traced to code and hardware."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True)
        return done.stdout.strip() or "unknown"

    return {
        "solver_commit": git("log", "-1", "--format=%h %s", "--", "dispatch/"),
        "head": git("rev-parse", "--short", "HEAD"),
        "python": platform.python_version(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],  # other work slows us
    }


def _sizes(text: str) -> list[tuple[int, int]]:
    try:
        pairs = [tuple(int(x) for x in size.lower().split("x")) for size in text.split(",")]
    except ValueError as err:
        raise fail(f"--sizes must look like 50x500,200x2000, got {text!r}") from err
    if any(len(p) != 2 or min(p) < 1 for p in pairs):
        raise fail(f"--sizes must look like 50x500,200x2000, got {text!r}")
    return [(p[0], p[1]) for p in pairs]


def _plan_figures(plan: Plan, wall_s: float) -> dict[str, Any]:
    k = plan.kpis
    total = k.assigned + k.unassigned
    return {
        "wall_s": round(wall_s, 2), "objective": k.objective, "assigned": k.assigned,
        "share_assigned": round(k.assigned / total, 4) if total else 1.0,
        "on_time_rate": round(k.on_time_rate, 4),
        "travel_km": None if k.travel_km is None else round(k.travel_km, 1),
        "load_spread_h": round(k.load_spread_s / 3600, 2),
    }  # fmt: skip


def _timed_solve(
    problem: Problem, params: SolveParams, mode: PartitionMode | None
) -> dict[str, Any]:
    """Solve and return the plan's figures, or the solver's error as a figure of its own."""
    started = time.perf_counter()
    try:
        plan = solve_problem(problem, params, mode, ORDERS_PER_PART)
    except DispatchError as err:  # a failed size is a result, not the end of the benchmark
        return {"wall_s": round(time.perf_counter() - started, 2), "error": err.code,
                "message": str(err)}  # fmt: skip
    return _plan_figures(plan, time.perf_counter() - started)


def _city_size(problem: Problem, time_limit: float, seed: int) -> dict[str, Any]:
    mode = partition_mode(PartitionChoice.AUTO, problem)
    construction_only = SolveParams(time_limit, seed=seed, use_local_search=False)
    with PeakMemory() as memory:
        first = _timed_solve(problem, construction_only, mode)
        full = _timed_solve(problem, SolveParams(time_limit, seed=seed), mode)
    return {
        "partitioned": mode.value if mode else None,
        "first_feasible": first,
        "after_limit": full,
        "peak_memory_mb": round(memory.peak_b / 2**20),
    }


def _share(figures: dict[str, Any], key: str) -> str:
    return figures["error"] if "error" in figures else f"{figures[key]:.1%}"


@reports_errors
def bench_city(
    sizes: Annotated[str, typer.Option(help="technicians x orders, comma-separated.")] = (
        "50x500,200x2000,1000x10000"
    ),
    time_limit: Annotated[float, typer.Option(help="Seconds per solve.")] = 30.0,
    seed: Annotated[int, typer.Option(help="Demo seed.")] = 1,
    lunch_breaks: Annotated[bool, typer.Option(help="Give shifts a lunch break.")] = True,
    json_out: Annotated[Path, typer.Option("--json", help="Result file.")] = RESULTS / "city.json",
) -> None:
    """Solve demo days of each size and record speed, quality and memory."""
    places = load_places(PLACES_FILE)
    kernels_s = warm_up()
    console.print(f"compiled kernels loaded in {kernels_s:.1f} s")
    results = []
    for technicians, orders in _sizes(sizes):
        started = time.perf_counter()
        problem = demo_problem(
            places,
            HaversineTravelTime(),
            DemoParams(technicians, orders, seed=seed, has_lunch_breaks=lunch_breaks),
        )
        generate_s = time.perf_counter() - started
        console.print(f"{technicians}x{orders}: generated in {generate_s:.1f} s, solving...")
        figures = _city_size(problem, time_limit, seed)
        results.append({"size": f"{technicians}x{orders}", "generate_s": round(generate_s, 1),
                        **figures})  # fmt: skip
        del problem
    table = Table(title=f"demo city, {time_limit:g} s limit")
    for column in ("size", "part.", "first s", "first assigned", "limit s", "assigned",
                   "on time", "km", "objective", "peak MB"):  # fmt: skip
        table.add_column(column, justify="right")
    for r in results:
        first, full = r["first_feasible"], r["after_limit"]
        table.add_row(
            r["size"], r["partitioned"] or "-", f"{first['wall_s']:.1f}",
            _share(first, "share_assigned"), f"{full['wall_s']:.1f}",
            _share(full, "share_assigned"), _share(full, "on_time_rate"),
            f"{full['travel_km']:,.0f}" if full.get("travel_km") is not None else "-",
            f"{full['objective']:,}" if "objective" in full else "-", str(r["peak_memory_mb"]),
        )  # fmt: skip
    console.print(table)
    write_json(json_out, {**provenance(), "time_limit_s": time_limit, "seed": seed,
                          "lunch_breaks": lunch_breaks, "kernel_load_s": round(kernels_s, 2),
                          "results": results})  # fmt: skip
    console.print(f"wrote {json_out}")


def _urgent(order: WorkOrder) -> WorkOrder:
    """Turn a generated order into a same-day emergency (whole-day window, 2-hour SLA)."""
    return dataclasses.replace(
        order, priority=2, windows=(TimeWindow(8 * HOUR_S, 17 * HOUR_S),),
        sla_deadline_s=10 * HOUR_S,
    )  # fmt: skip


@reports_errors
def bench_insertion(
    technicians: Annotated[int, typer.Option(help="Technicians in the plan.")] = 200,
    orders: Annotated[int, typer.Option(help="Orders in the plan.")] = 2000,
    insertions: Annotated[int, typer.Option(help="Urgent orders to insert.")] = 200,
    time_limit: Annotated[float, typer.Option(help="Seconds to solve the base plan.")] = 30.0,
    seed: Annotated[int, typer.Option(help="Demo seed.")] = 1,
    lunch_breaks: Annotated[bool, typer.Option(help="Give shifts a lunch break.")] = True,
    base: Annotated[BasePlan, typer.Option(help="How the base plan is made.")] = BasePlan.SOLVER,
    json_out: Annotated[Path, typer.Option("--json", help="Result file.")] = RESULTS
    / "insertion.json",
    http: Annotated[
        bool, typer.Option("--http", help="Through the API: a demo day served by uvicorn.")
    ] = False,
    database_url: Annotated[
        str | None, typer.Option(help="With --http: an empty PostGIS database; else SpatiaLite.")
    ] = None,
    runs: Annotated[int, typer.Option(help="With --http: runs of --insertions calls.")] = 3,
) -> None:
    """Time urgent insertions, one by one, into a solved plan (or through the API: --http)."""
    if http:
        _bench_http(database_url, runs, insertions, seed, time_limit, json_out)
        return
    places = load_places(PLACES_FILE)
    day = demo_problem(
        places,
        HaversineTravelTime(),
        DemoParams(technicians, orders + insertions, seed=seed, has_lunch_breaks=lunch_breaks),
    )
    base_problem = dataclasses.replace(
        day, orders=day.orders[:orders], travel_s=_cut(day, orders), distance_m=None
    )
    urgent = tuple(_urgent(o) for o in day.orders[orders:])
    problem = dataclasses.replace(day, orders=(*day.orders[:orders], *urgent))
    started = time.perf_counter()
    if base is BasePlan.SOLVER:
        plan = solve_problem(
            base_problem, SolveParams(time_limit, seed=seed), None, ORDERS_PER_PART
        )
    else:
        plan = _inserted_one_by_one(base_problem)
    solve_s = time.perf_counter() - started
    started = time.perf_counter()
    live = LivePlan(problem, plan)
    prepare_s = time.perf_counter() - started
    timings_ms: list[float] = []
    placed_ms: list[float] = []
    deltas: list[int] = []
    for order in urgent:
        started = time.perf_counter()
        result = live.insert(order.id)
        timings_ms.append((time.perf_counter() - started) * 1000)
        if isinstance(result, Insertion):
            deltas.append(result.added_travel_s)
            placed_ms.append(timings_ms[-1])
    figures = {
        "plan": f"{technicians}x{orders}", "base": base.value,
        "base_assigned": plan.kpis.assigned,
        "base_solve_s": round(solve_s, 1), "prepare_ms": round(prepare_s * 1000, 1),
        "insertions": len(urgent), "inserted": len(deltas),
        "p50_ms": round(float(np.percentile(timings_ms, 50)), 2),
        "p95_ms": round(float(np.percentile(timings_ms, 95)), 2),
        "max_ms": round(max(timings_ms), 2),
        "inserted_p50_ms": _percentile(placed_ms, 50),
        "inserted_p95_ms": _percentile(placed_ms, 95),
        "mean_added_travel_min": round(statistics.fmean(deltas) / 60, 1) if deltas else None,
    }  # fmt: skip
    console.print(json.dumps(figures, indent=1))
    write_json(
        json_out,
        {
            **provenance(),
            "time_limit_s": time_limit,
            "seed": seed,
            "lunch_breaks": lunch_breaks,
            **figures,
        },
    )
    console.print(f"wrote {json_out}")


def _bench_http(
    database_url: str | None, runs: int, calls: int, seed: int, time_limit: float, json_out: Path
) -> None:
    from benchmarks.insertion_http import bench_http

    figures = bench_http(
        database_url=database_url, runs=runs, calls=calls, seed=seed, time_limit_s=time_limit
    )
    figures["load_average"] = [round(x, 2) for x in os.getloadavg()]
    console.print(json.dumps(figures, indent=1))
    write_json(json_out, {**provenance(), "seed": seed, **figures})
    console.print(f"wrote {json_out}")


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def _inserted_one_by_one(problem: Problem) -> Plan:
    """Build a plan by inserting every order, highest priority first (no solver)."""
    n = len(problem.orders)
    live = LivePlan(problem, Plan(problem.origin, (), (), Kpis(0, n, 1.0, None, 0.0, {}, 0, 0, 0)))
    for order in sorted(problem.orders, key=lambda o: -o.priority):
        live.insert(order.id)
    return live.plan


def _cut(problem: Problem, n_orders: int) -> Any:
    """Return the travel matrix without the orders after the first ``n_orders``."""
    n = len(problem.orders)
    keep = np.concatenate([np.arange(n_orders), np.arange(n, problem.n_nodes)])
    return np.ascontiguousarray(problem.travel_s[np.ix_(keep, keep)])
