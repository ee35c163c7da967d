"""``geodispatch bench city-peers``: our solver beside VROOM on the demo-city days.

Each size's demo day is solved by :func:`dispatch.solve` (compiled kernels loaded first, so
their loading is not timed) and by VROOM on one thread with the same wall-clock budget as
its ``timeout`` (the exploration level is reported with its actual wall time). The mapping
is :mod:`benchmarks.vroom_city`; its docstring lists what VROOM cannot express (working time
including service, soft SLA deadlines, our objective's weights). Both solvers' routes are
timed by our own model (:func:`dispatch.schedule.schedule_route`): routes it refuses are
counted with the reason, and the share of orders left after removing orders from them until
they pass is reported too. Figures per solver: orders assigned and their share, the on-time
rate against SLA deadlines (each solver's own schedule), travel hours and wall time.
"""

import os
import time
from collections import Counter
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from api.cli.common import reports_errors
from api.cli.dispatching import PLACES_FILE, load_places, write_json
from benchmarks.city import RESULTS, _sizes, provenance
from benchmarks.vroom_city import (
    Route,
    repair_route,
    route_problems,
    route_travel_s,
    solve_with_vroom,
    unmapped_notes,
)
from dispatch import Plan, Problem, SolveParams, solve, warm_up
from dispatch.demo import DemoParams, demo_problem
from dispatch.routing_arrays import UNLIMITED, RoutingArrays, build_routing_arrays
from geo.distance import HaversineTravelTime

console = Console()


def solver_figures(
    problem: Problem, arrays: RoutingArrays, routes: list[Route], starts: dict[int, int],
    wall_s: float,
) -> dict[str, Any]:  # fmt: skip
    """Return the figures of one solver's routes, checked against our model.

    ``starts`` maps each assigned order index to the start of service in the solver's own
    schedule; on time means started by the SLA deadline (orders without one are on time).
    """
    n = len(problem.orders)
    assigned = sum(len(orders) for _, orders in routes)
    with_sla = [o for o in starts if int(arrays.sla_s[o]) < UNLIMITED]
    late = sum(starts[o] > int(arrays.sla_s[o]) for o in with_sla)
    reasons: Counter[str] = Counter()
    bad_routes, bad_orders, repaired = 0, 0, assigned
    for vehicle, orders in routes:
        problems = route_problems(arrays, vehicle, orders)
        if problems:
            reasons.update(problems)
            bad_routes, bad_orders = bad_routes + 1, bad_orders + len(orders)
            repaired -= len(orders) - len(repair_route(arrays, vehicle, orders))
    return {
        "assigned": assigned, "share_assigned": round(assigned / n, 4) if n else 1.0,
        "on_time_rate": round(1 - late / assigned, 4) if assigned else 1.0,
        "sla_orders_assigned": len(with_sla), "sla_met": len(with_sla) - late,
        "travel_h": round(route_travel_s(arrays, routes) / 3600, 1), "wall_s": round(wall_s, 2),
        "routes": len(routes), "routes_violating_our_model": bad_routes,
        "orders_on_violating_routes": bad_orders, "violations_by_reason": dict(reasons),
        "assigned_after_repair": repaired,
        "share_after_repair": round(repaired / n, 4) if n else 1.0,
    }  # fmt: skip


def plan_routes(
    problem: Problem, arrays: RoutingArrays, plan: Plan
) -> tuple[list[Route], dict[int, int]]:
    """Return our plan as routing-vehicle routes of order indices, with its service starts."""
    tech_index = {t.id: k for k, t in enumerate(problem.technicians)}
    vehicle_of = {(v.technician_index, v.shift_index): k for k, v in enumerate(arrays.vehicles)}
    order_index = {o.id: i for i, o in enumerate(problem.orders)}
    routes: list[Route] = []
    starts: dict[int, int] = {}
    for route in plan.routes:
        vehicle = vehicle_of[(tech_index[route.technician_id], route.shift_index)]
        routes.append((vehicle, tuple(order_index[s.order_id] for s in route.stops)))
        starts.update({order_index[s.order_id]: s.start_s for s in route.stops})
    return routes, starts


def _one_size(
    problem: Problem, time_limit: float, seed: int, level: int, base_durations: bool
) -> dict[str, Any]:
    arrays = build_routing_arrays(problem)
    started = time.perf_counter()
    plan = solve(problem, SolveParams(time_limit, seed=seed))
    ours_s = time.perf_counter() - started
    routes, starts = plan_routes(problem, arrays, plan)
    result = {"geodispatch": solver_figures(problem, arrays, routes, starts, ours_s)}
    for level_durations in (True, False) if base_durations else (True,):
        label = f"vroom_l{level}" + ("" if level_durations else "_base_durations")
        console.print(f"  {label}...")
        routes, starts, vroom_s = solve_with_vroom(
            problem, arrays, time_limit_s=time_limit, exploration_level=level,
            level_durations=level_durations,
        )  # fmt: skip
        figures = solver_figures(problem, arrays, routes, starts, vroom_s)
        result[label] = {
            "exploration_level": level, "threads": 1, "timeout_s": time_limit,
            "service_by_level": level_durations, **figures,
            "not_expressed": unmapped_notes(problem, level_durations=level_durations),
        }  # fmt: skip
    return result


def _table(results: list[dict[str, Any]], time_limit: float) -> Table:
    table = Table(title=f"demo city: geodispatch and VROOM, {time_limit:g} s budget")
    for column in ("size", "solver", "assigned", "share", "on time", "SLA met", "travel h",
                   "wall s", "refused routes (orders)", "share if repaired"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("size", "solver") else "right")
    for r in results:
        for name, f in r["solvers"].items():
            table.add_row(
                r["size"], name, f"{f['assigned']:,}", f"{f['share_assigned']:.1%}",
                f"{f['on_time_rate']:.1%}", f"{f['sla_met']}/{f['sla_orders_assigned']}",
                f"{f['travel_h']:,.1f}", f"{f['wall_s']:.1f}",
                f"{f['routes_violating_our_model']} ({f['orders_on_violating_routes']})",
                f"{f['share_after_repair']:.1%}",
            )  # fmt: skip
    return table


@reports_errors
def bench_city_peers(
    sizes: Annotated[str, typer.Option(help="technicians x orders, comma-separated.")] = (
        "50x500,200x2000"
    ),
    time_limit: Annotated[float, typer.Option(help="Seconds per solver and size.")] = 30.0,
    seed: Annotated[int, typer.Option(help="Demo seed (and our solver's seed).")] = 1,
    lunch_breaks: Annotated[bool, typer.Option(help="Give shifts a lunch break.")] = True,
    vroom_level: Annotated[int, typer.Option(min=0, max=5, help="VROOM exploration level.")] = 5,
    base_durations: Annotated[
        bool, typer.Option(help="Also run VROOM with base service times (no level factor).")
    ] = False,
    json_out: Annotated[Path, typer.Option("--json", help="Result file.")] = RESULTS
    / "city_peers.json",
) -> None:
    """Solve demo days with our solver and with VROOM; compare them under our model."""
    places = load_places(PLACES_FILE)
    kernels_s = warm_up()
    load_before = [round(x, 2) for x in os.getloadavg()]
    results = []
    for technicians, orders in _sizes(sizes):
        problem = demo_problem(
            places, HaversineTravelTime(),
            DemoParams(technicians, orders, seed=seed, has_lunch_breaks=lunch_breaks),
        )  # fmt: skip
        console.print(f"{technicians}x{orders}: solving with geodispatch and VROOM...")
        solvers = _one_size(problem, time_limit, seed, vroom_level, base_durations)
        results.append({"size": f"{technicians}x{orders}", "solvers": solvers})
    console.print(_table(results, time_limit))
    write_json(json_out, {
        **provenance(), "pyvroom": version("pyvroom"), "load_average_before": load_before,
        "time_limit_s": time_limit, "seed": seed, "lunch_breaks": lunch_breaks,
        "kernel_load_s": round(kernels_s, 2), "results": results,
    })  # fmt: skip
    console.print(f"load average before {load_before}, after {provenance()['load_average_1_5_15']}")
    console.print(f"wrote {json_out}")
