"""``geodispatch bench polish``: what OR-Tools' descent earns after the search on real days.

Each size's demo day (lunch breaks by default, so OR-Tools polishes groups of neighbouring
routes) is solved by :func:`dispatch.solve` at one time limit with each polish share asked
for, seeds interleaved so that a change of load falls on every share alike. A share of 0 is
the search alone for the whole limit. Each row gives the plan's objective and its parts
(under our model, :func:`benchmarks.city_peers.valid_plan_figures`), and ``kpis.polish_gain``,
what the descent itself found in its share. The table sets each share's median objective
against the search alone.
"""

import statistics
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from api.cli.common import reports_errors
from api.cli.dispatching import write_json
from benchmarks.city import RESULTS, _sizes, provenance
from benchmarks.city_peers import (
    _numbers,
    demo_days,
    plan_routes,
    solve_with_status,
    valid_plan_figures,
)
from dispatch import ObjectiveWeights, Problem, SolveParams, warm_up
from dispatch.params import MAX_POLISH_SHARE, MAX_TIME_LIMIT_S
from dispatch.routing_arrays import build_routing_arrays

console = Console()


def _run(problem: Problem, limit_s: float, share: float, seed: int) -> dict[str, Any]:
    label = f"{limit_s:g} s, polish share {share:g}, seed {seed}"
    plan, wall_s = solve_with_status(
        problem, SolveParams(limit_s, seed=seed, polish_share=share), label
    )
    arrays = build_routing_arrays(problem)
    routes, _ = plan_routes(problem, arrays, plan)
    figures = valid_plan_figures(problem, arrays, routes, ObjectiveWeights())
    console.print(
        f"  {label}: objective {plan.kpis.objective:,}, {plan.kpis.assigned} served, "
        f"{figures['travel_h']} h travel, polish gain {plan.kpis.polish_gain}"
    )
    return {
        "polish_share": share, "seed": seed, "wall_s": round(wall_s, 2),
        "objective": plan.kpis.objective, "polish_gain": plan.kpis.polish_gain,
        **{k: figures[k] for k in ("assigned", "travel_h", "lateness_min", "objective_parts")},
    }  # fmt: skip


def _summary(rows: list[dict[str, Any]], shares: list[float]) -> list[dict[str, Any]]:
    """Medians per share, and the median objective against the search alone (share 0)."""
    by_share = {s: [r for r in rows if r["polish_share"] == s] for s in shares}
    alone = (
        statistics.median(r["objective"] for r in by_share.get(0.0, []))
        if 0.0 in by_share
        else None
    )
    summary = []
    for share, runs in by_share.items():
        objective = statistics.median(r["objective"] for r in runs)
        gains = [r["polish_gain"] for r in runs if r["polish_gain"] is not None]
        summary.append({
            "polish_share": share, "runs": len(runs), "median_objective": objective,
            "median_assigned": statistics.median(r["assigned"] for r in runs),
            "median_travel_h": statistics.median(r["travel_h"] for r in runs),
            "median_polish_gain": statistics.median(gains) if gains else None,
            "runs_improved_by_polish": sum(g > 0 for g in gains),
            "objective_vs_search_alone": round(objective / alone, 5) if alone else None,
        })  # fmt: skip
    return summary


@reports_errors
def bench_polish(
    sizes: Annotated[str, typer.Option(help="technicians x orders, comma-separated.")] = (
        "50x500,200x2000"
    ),
    time_limit: Annotated[float, typer.Option(min=0.1, max=MAX_TIME_LIMIT_S)] = 30.0,
    shares: Annotated[
        str, typer.Option(help="Polish shares of the time limit, comma-separated; 0 = none.")
    ] = "0,0.1",
    seeds: Annotated[str, typer.Option(help="Solver seeds, comma-separated.")] = "1,2,3,4,5",
    demo_seed: Annotated[int, typer.Option(help="Seed of the demo days.")] = 1,
    lunch_breaks: Annotated[bool, typer.Option(help="Give shifts a lunch break.")] = True,
    json_out: Annotated[Path, typer.Option("--json", help="Result file.")] = RESULTS
    / "polish.json",
) -> None:
    """Solve demo days with each polish share and seed; compare the objectives."""
    day_sizes = _sizes(sizes)
    share_list = _numbers(
        shares, "--shares", float, lambda s: 0 <= s <= MAX_POLISH_SHARE,
        f"shares in [0, {MAX_POLISH_SHARE:g}]",
    )  # fmt: skip
    seed_list = _numbers(seeds, "--seeds", int, lambda s: s >= 0, "whole numbers >= 0")
    kernels_s = warm_up()
    load_before = provenance()["load_average_1_5_15"]
    results: list[dict[str, Any]] = []
    for size, problem in demo_days(day_sizes, demo_seed, lunch_breaks):
        rows = [_run(problem, time_limit, s, seed) for seed in seed_list for s in share_list]
        results.append({
            "size": size, "summary": _summary(rows, share_list),
            "rows": rows,
        })  # fmt: skip
    table = Table(title=f"OR-Tools polish after the search, {time_limit:g} s, medians")
    for column in ("size", "share", "runs", "objective M", "vs alone", "served", "travel h",
                   "polish gain", "improved"):  # fmt: skip
        table.add_column(column, justify="right")
    for result in results:
        for s in result["summary"]:
            ratio = s["objective_vs_search_alone"]
            table.add_row(
                result["size"], f"{s['polish_share']:g}", str(s["runs"]),
                f"{s['median_objective'] / 1e6:,.2f}", "-" if ratio is None else f"{ratio:.4f}",
                f"{s['median_assigned']:g}", f"{s['median_travel_h']:g}",
                "-" if s["median_polish_gain"] is None else f"{s['median_polish_gain']:,.0f}",
                f"{s['runs_improved_by_polish']}/{s['runs']}",
            )  # fmt: skip
    console.print(table)
    after = provenance()
    write_json(json_out, {
        **after, "load_average_before": load_before, "time_limit_s": time_limit,
        "shares": share_list, "seeds": seed_list, "demo_seed": demo_seed,
        "lunch_breaks": lunch_breaks, "kernel_load_s": round(kernels_s, 2), "results": results,
    })  # fmt: skip
    console.print(f"load average before {load_before}, after {after['load_average_1_5_15']}")
    console.print(f"wrote {json_out}")
