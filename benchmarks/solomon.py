"""``geodispatch bench solomon``: solution quality on the Solomon VRPTW instances.

Each instance is solved by :func:`dispatch.solve` with Euclidean double-precision distances
(scaled to integers for OR-Tools, rounded up so integer feasibility implies exact
feasibility), checked by the independent checker in :mod:`dispatch.solomon`, and compared
with the distance-only best-known solutions (``bks.csv`` beside the instance files). With
``--peers``, PyVRP and VROOM get the same instances, time budget and one thread.
"""

import csv
import json
import os
import re
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from api.cli.common import fail, reports_errors
from dispatch import SolveParams, solve, warm_up
from dispatch.solomon import (
    SOLOMON_WEIGHTS,
    TIME_SCALE,
    InfeasibleSolution,
    SolomonInstance,
    check_solution,
    gap_percent,
    parse_solomon,
    solomon_problem,
)

Solver = Callable[[SolomonInstance, float], list[list[int]]]
console = Console()
SOLOMON_NAME = re.compile(r"(rc|r|c)([12])\d\d")  # r101: family R1
HOMBERGER_NAME = re.compile(r"(rc|r|c)([12])_(\d+)_\d+")  # r2_2_6: family R2 at 200 customers


def family(instance: str) -> str:
    """Return the family of an instance: ``R1`` for r101, ``RC2_2`` for rc2_2_6.

    Gehring & Homberger's files keep their size (``_2`` for 200 customers, ``_4`` for 400)
    so they are never averaged with Solomon's 100-customer instances of the same family.

    Examples
    --------
    >>> [family(n) for n in ("c101", "r205", "rc108", "c1_2_6", "r2_2_10", "rc1_4_1", "tiny")]
    ['C1', 'R2', 'RC1', 'C1_2', 'R2_2', 'RC1_4', 'TINY']
    """
    name = instance.lower()
    if match := SOLOMON_NAME.fullmatch(name):
        return f"{match[1]}{match[2]}".upper()
    if match := HOMBERGER_NAME.fullmatch(name):
        return f"{match[1]}{match[2]}_{match[3]}".upper()
    return name.rstrip("0123456789_").upper() or name.upper()


def solve_geodispatch(instance: SolomonInstance, time_limit_s: float) -> list[list[int]]:
    """Solve with our solver; return routes as customer numbers."""
    plan = solve(solomon_problem(instance), SolveParams(time_limit_s, weights=SOLOMON_WEIGHTS))
    if plan.unassigned:
        raise InfeasibleSolution(f"{len(plan.unassigned)} customers left unassigned")
    return [[int(stop.order_id) for stop in route.stops] for route in plan.routes]


def _scaled_matrix(instance: SolomonInstance) -> Any:
    return np.ceil(instance.distances() * TIME_SCALE - 1e-6).astype(np.int64)


def solve_pyvrp(instance: SolomonInstance, time_limit_s: float) -> list[list[int]]:
    """Solve with PyVRP's hybrid genetic search on the same scaled integer matrix."""
    import pyvrp
    import pyvrp.stop

    model, scaled = pyvrp.Model(), _scaled_matrix(instance)
    locations = [
        model.add_location(x=int(x), y=int(y)) for x, y in zip(instance.x, instance.y, strict=True)
    ]
    model.add_depot(locations[0], tw_early=0, tw_late=int(instance.due[0]) * TIME_SCALE)
    model.add_vehicle_type(
        num_available=instance.vehicles, capacity=instance.capacity,
        tw_early=0, tw_late=int(instance.due[0]) * TIME_SCALE,
    )  # fmt: skip
    for c in range(1, instance.n_customers + 1):
        model.add_client(
            locations[c], delivery=int(instance.demand[c]),
            service_duration=int(instance.service[c]) * TIME_SCALE,
            tw_early=int(instance.ready[c]) * TIME_SCALE, tw_late=int(instance.due[c]) * TIME_SCALE,
        )  # fmt: skip
    for i, frm in enumerate(locations):
        for j, to in enumerate(locations):
            model.add_edge(frm, to, distance=int(scaled[i, j]), duration=int(scaled[i, j]))
    result = model.solve(pyvrp.stop.MaxRuntime(time_limit_s), display=False)
    # Activities number clients from 0 among clients; customer numbers start at 1.
    return [[a.idx + 1 for a in route if a.is_client()] for route in result.best.routes()]


def solve_vroom(instance: SolomonInstance, time_limit_s: float) -> list[list[int]]:
    """Solve with VROOM (exploration level 5, one thread) on the same scaled matrix."""
    import vroom

    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=_scaled_matrix(instance))
    horizon = int(instance.due[0]) * TIME_SCALE
    for v in range(instance.vehicles):
        problem.add_vehicle(
            vroom.Vehicle(v + 1, start=0, end=0, capacity=[instance.capacity],
                          time_window=vroom.TimeWindow(0, horizon))
        )  # fmt: skip
    for c in range(1, instance.n_customers + 1):
        window = vroom.TimeWindow(
            int(instance.ready[c]) * TIME_SCALE, int(instance.due[c]) * TIME_SCALE
        )
        problem.add_job(
            vroom.Job(c, location=c, default_service=int(instance.service[c]) * TIME_SCALE,
                      delivery=[int(instance.demand[c])], time_windows=[window])
        )  # fmt: skip
    solution = problem.solve(
        exploration_level=5, nb_threads=1, timeout=timedelta(seconds=time_limit_s)
    )
    steps = solution.routes
    jobs = steps[steps["type"] == "job"]
    return [list(map(int, group["id"])) for _, group in jobs.groupby("vehicle_id", sort=True)]


def _load_bks(folder: Path) -> dict[str, float]:
    path = folder / "bks.csv"
    if not path.exists():
        return {}
    with path.open() as handle:
        return {row["instance"]: float(row["distance"]) for row in csv.DictReader(handle)}


def _run(
    name: str, solver: Solver, instances: list[SolomonInstance], limit_s: float
) -> list[dict[str, Any]]:
    results = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"{name}", total=len(instances))
        for instance in instances:
            progress.update(task, description=f"{name} {instance.name}")
            results.append(_attempt(solver, instance, limit_s))
            progress.advance(task)
    return results


def _attempt(solver: Solver, instance: SolomonInstance, limit_s: float) -> dict[str, Any]:
    """Solve and check one instance; a failure or an infeasible answer is a row, not an abort.

    ``ImportError`` (a peer that is not installed) is left to the caller.
    """
    started = time.perf_counter()
    row: dict[str, Any] = {"instance": instance.name, "status": "ok", "routes": [],
                           "distance": None, "vehicles": None}  # fmt: skip
    try:
        row["routes"] = [r for r in solver(instance, limit_s) if r]
        row["vehicles"] = len(row["routes"])
        row["distance"] = round(check_solution(instance, row["routes"]), 4)
    except ImportError:
        raise
    except InfeasibleSolution as err:
        row |= {"status": "infeasible", "error": str(err)}
    except Exception as err:  # one solver crash must not end the batch
        row |= {"status": "failed", "error": f"{type(err).__name__}: {err}"}
    row["wall_s"] = round(time.perf_counter() - started, 3)
    return row


def _report(name: str, results: list[dict[str, Any]], bks: dict[str, float]) -> dict[str, Any]:
    table = Table(title=f"{name}: gap to the distance-only best-known solutions")
    for column in ("instance", "vehicles", "distance", "bks", "gap %", "wall s"):
        table.add_column(column, justify="left" if column == "instance" else "right")
    by_family: dict[str, list[float]] = {}
    failed: dict[str, int] = {}
    for r in results:
        best = bks.get(r["instance"])
        key = family(r["instance"])
        if r["status"] != "ok":
            failed[key] = failed.get(key, 0) + 1
            table.add_row(r["instance"], "-", r["status"], f"{best:.2f}" if best else "-",
                          "-", f"{r['wall_s']:.1f}")  # fmt: skip
            console.print(f"[yellow]{name} {r['instance']}: {r['error']}[/]", highlight=False)
            continue
        gap = gap_percent(r["distance"], best) if best else None
        if gap is not None:
            by_family.setdefault(key, []).append(gap)
        table.add_row(
            r["instance"], str(r["vehicles"]), f"{r['distance']:.2f}",
            f"{best:.2f}" if best else "-", f"{gap:.2f}" if gap is not None else "-",
            f"{r['wall_s']:.1f}",
        )  # fmt: skip
    console.print(table)
    summary: dict[str, Any] = {}
    for key in sorted(set(by_family) | set(failed)):
        summary[key] = _figures(by_family.get(key, []), failed.get(key, 0))
    all_gaps = [g for gaps in by_family.values() for g in gaps]
    summary["all"] = _figures(all_gaps, sum(failed.values()))
    for key, figures in summary.items():
        mean, median = figures["mean_gap_pct"], figures["median_gap_pct"]
        console.print(
            f"{name} {key}: mean gap {'-' if mean is None else f'{mean:.2f} %'}, median "
            f"{'-' if median is None else f'{median:.2f} %'} over {figures['n']}"
            + (f", {figures['failed']} failed or infeasible" if figures["failed"] else "")
        )
    return summary


def _figures(gaps: list[float], failed: int) -> dict[str, Any]:
    """Mean and median gap over the solved instances; how many failed (not in the gaps)."""
    return {
        "n": len(gaps), "failed": failed,
        "mean_gap_pct": round(statistics.fmean(gaps), 3) if gaps else None,
        "median_gap_pct": round(statistics.median(gaps), 3) if gaps else None,
    }  # fmt: skip


@reports_errors
def bench_solomon(
    files: Annotated[list[Path], typer.Argument(help="Solomon instance files (c101.txt ...).")],
    time_limit: Annotated[float, typer.Option(help="Seconds per instance and solver.")] = 10.0,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the results.")] = Path(
        "benchmarks/results/solomon.json"
    ),
    peers: Annotated[bool, typer.Option(help="Also run PyVRP and VROOM when installed.")] = False,
) -> None:
    """Solve Solomon instances, check every solution and print the gap to the best known."""
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise fail(f"no such file: {', '.join(missing)}")
    instances = [parse_solomon(f.read_text()) for f in files]
    bks = _load_bks(files[0].parent)
    # Outside every instance's budget: after a change to the search, the first process
    # compiles the kernels (about a minute), which would otherwise eat the first budget.
    kernels_s = warm_up()
    load_before = os.getloadavg()[0]  # a shared machine: the figures depend on it
    results = _run("geodispatch", solve_geodispatch, instances, time_limit)
    summaries = {"geodispatch": _report("geodispatch", results, bks)}
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(results, indent=1))
    if peers:
        peer_results: dict[str, list[dict[str, Any]]] = {}
        for name, solver in (("pyvrp", solve_pyvrp), ("vroom", solve_vroom)):
            try:
                peer_results[name] = _run(name, solver, instances, time_limit)
            except ImportError as err:
                console.print(f"[yellow]skipping {name}: {err}[/]")
                continue
            summaries[name] = _report(name, peer_results[name], bks)
        peers_out = json_out.with_name(json_out.stem + "_peers.json")
        peers_out.write_text(json.dumps(peer_results, indent=1))
    summary_out = json_out.with_name(json_out.stem + "_summary.json")
    load_after = os.getloadavg()[0]
    run = {
        "time_limit_s": time_limit, "cpu_count": os.cpu_count(), "kernels_s": round(kernels_s, 2),
        "load_avg_1m": {"before": load_before, "after": load_after}, "summary": summaries,
    }  # fmt: skip
    summary_out.write_text(json.dumps(run, indent=1))
    console.print(f"load average (1 min): {load_before:.1f} before, {load_after:.1f} after")
    console.print(f"wrote {json_out} and {summary_out}")
