"""``geodispatch bench city-peers``: our solver beside VROOM on the demo-city days.

Each size's demo day is solved by :func:`dispatch.solve` (compiled kernels loaded first, so
their loading is not timed) at every time limit and solver seed asked for, again at each
with each extra drop penalty asked for, and, at the longest limit with the first seed, at
each extra balance weight asked for. VROOM runs on one thread in a child process (its solve
holds the GIL, so only a separate process leaves this one free to show a status line) at
the given exploration level with no time limit (its full time, or the optional cap) and, on
request, with each of our time limits as its timeout.
The mapping is :mod:`benchmarks.vroom_city`; its docstring lists what VROOM cannot express.

Every plan is checked by our model (:func:`dispatch.schedule.schedule_route`): routes it
refuses are counted with the reason and repaired (orders removed until they pass). The
valid plan (ours as it is, VROOM's after the repair) is then timed by our schedule and
costed by our objective, each part on its own: weighted travel, lateness past SLA
deadlines, penalties of unserved orders, and the balance term (weight times the longest
working day); its KPIs come from :func:`dispatch.plan_builder.build_plan`. Every row is also
set against VROOM's full-time valid plan: orders served beyond it and the ratio of travel.

With ``--on-vroom-orders`` our solver also gets, at every limit and seed, the same day cut
down to the orders VROOM's full-time valid plan serves (every technician kept): the same
work for both, so the ratio of travel compares routing alone, not routing plus extra orders.
"""

import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from importlib.metadata import version
from multiprocessing import get_context
from pathlib import Path
from typing import Annotated, Any, TypeVar

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from api.cli.common import fail, reports_errors
from api.cli.dispatching import PLACES_FILE, load_places, write_json
from benchmarks.city import RESULTS, _sizes, provenance
from benchmarks.vroom_city import (
    Route,
    checked_routes,
    route_travel_s,
    solve_with_vroom,
    unmapped_notes,
)
from dispatch import ObjectiveWeights, Plan, Problem, SolveParams, solve, warm_up
from dispatch.demo import DemoParams, demo_problem
from dispatch.params import MAX_TIME_LIMIT_S
from dispatch.partition import Part, sub_problem
from dispatch.plan_builder import SolvedRoute, build_plan
from dispatch.routing_arrays import UNLIMITED, RoutingArrays, build_routing_arrays
from dispatch.schedule import schedule_route
from geo.distance import HaversineTravelTime

console = Console()
DEFAULT_WEIGHTS = ObjectiveWeights()
DROP = DEFAULT_WEIGHTS.drop_penalty
N = TypeVar("N", int, float)
GOAL_TRAVEL_RATIO = 1.02  # issue 16: travel within 2 % of VROOM's valid plan


def valid_plan_figures(
    problem: Problem, arrays: RoutingArrays, routes: list[Route], weights: ObjectiveWeights
) -> dict[str, Any]:
    """Time routes that pass our model by our schedule and cost them by our objective.

    The parts add up to the objective :func:`dispatch.solve` reports for the same routes.
    """
    schedules = []
    for vehicle, orders in routes:
        if not orders:
            continue
        if (schedule := schedule_route(arrays, vehicle, orders)) is None:
            raise ValueError(f"vehicle {vehicle}: the route does not pass our model")
        schedules.append(schedule)
    served = {o for s in schedules for o in s.orders}
    travel_s = sum(s.travel_s for s in schedules)
    lateness_s = sum(s.lateness_s for s in schedules)
    longest_s = max((s.working_s for s in schedules), default=0)
    parts = {
        "travel": weights.travel_per_s * travel_s,
        "lateness": weights.lateness_per_s * lateness_s,
        "unserved": sum(
            weights.drop_penalty_for(int(p))
            for i, p in enumerate(arrays.priority) if i not in served
        ),
        "balance": weights.balance_per_s * longest_s,
    }  # fmt: skip
    solved = [
        SolvedRoute(s.vehicle, s.orders, s.start_s, s.latest_s, s.depart_s, s.return_s)
        for s in schedules
    ]  # fmt: skip
    kpis = build_plan(problem, arrays, solved, (), objective=sum(parts.values()), solve_s=0.0).kpis
    return {
        "assigned": kpis.assigned, "share_assigned": _share(kpis.assigned, len(problem.orders)),
        "on_time_rate": round(kpis.on_time_rate, 4), "travel_s": travel_s,
        "travel_h": round(travel_s / 3600, 1), "lateness_min": round(lateness_s / 60, 1),
        "longest_working_h": round(longest_s / 3600, 2),
        "load_spread_h": round(kpis.load_spread_s / 3600, 2),
        "balance_per_s": weights.balance_per_s, "objective_parts": parts,
        "objective": kpis.objective,
    }  # fmt: skip


def solver_figures(
    problem: Problem, arrays: RoutingArrays, routes: list[Route], starts: dict[int, int],
    wall_s: float, weights: ObjectiveWeights = DEFAULT_WEIGHTS,
) -> dict[str, Any]:  # fmt: skip
    """Return the figures of one solver's routes as given and of their valid plan.

    ``starts`` maps each assigned order index to the start of service in the solver's own
    schedule; on time means started by the SLA deadline (orders without one are on time).
    """
    assigned = sum(len(orders) for _, orders in routes)
    with_sla = [o for o in starts if int(arrays.sla_s[o]) < UNLIMITED]
    late = sum(starts[o] > int(arrays.sla_s[o]) for o in with_sla)
    valid, refused = checked_routes(arrays, routes)
    return {
        "assigned": assigned, "share_assigned": _share(assigned, len(problem.orders)),
        "on_time_rate": round(1 - late / assigned, 4) if assigned else 1.0,
        "sla_orders_assigned": len(with_sla), "sla_met": len(with_sla) - late,
        "travel_h": round(route_travel_s(arrays, routes) / 3600, 1), "wall_s": round(wall_s, 2),
        "routes": len(routes), **refused,
        "assigned_after_repair": sum(len(orders) for _, orders in valid),
        "share_after_repair": _share(sum(len(o) for _, o in valid), len(problem.orders)),
        "valid_plan": valid_plan_figures(problem, arrays, valid, weights),
    }  # fmt: skip


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 1.0


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


def demo_days(
    sizes: Sequence[tuple[int, int]], seed: int, lunch_breaks: bool
) -> Iterator[tuple[str, Problem]]:
    """Yield each size's demo day, labelled ``technicians x orders``, generated when reached."""
    places = load_places(PLACES_FILE)
    for technicians, orders in sizes:
        problem = demo_problem(
            places, HaversineTravelTime(),
            DemoParams(technicians, orders, seed=seed, has_lunch_breaks=lunch_breaks),
        )  # fmt: skip
        console.print(f"{technicians}x{orders}:")
        yield f"{technicians}x{orders}", problem


def solve_with_status(problem: Problem, params: SolveParams, label: str) -> tuple[Plan, float]:
    """Solve with a status line showing the share of the time limit used; return the wall time."""
    with console.status(label) as status:
        started = time.perf_counter()
        plan = solve(
            problem, params,
            progress=lambda share: status.update(f"{label}: {share:.0%} of the time limit"),
        )  # fmt: skip
        return plan, time.perf_counter() - started


def _our_row(
    problem: Problem, arrays: RoutingArrays, limit_s: float, seed: int, weights: ObjectiveWeights,
    day: str = "",
) -> dict[str, Any]:  # fmt: skip
    label = (
        f"geodispatch {limit_s:g} s, seed {seed}"
        + (f", balance {weights.balance_per_s}" if weights.balance_per_s else "")
        + (f", drop penalty {weights.drop_penalty:,}" if weights.drop_penalty != DROP else "")
        + (f", {day}" if day else "")
    )
    plan, wall_s = solve_with_status(
        problem, SolveParams(limit_s, seed=seed, weights=weights), label
    )
    routes, starts = plan_routes(problem, arrays, plan)
    figures = solver_figures(problem, arrays, routes, starts, wall_s, weights)
    return {"label": label, "solver": "geodispatch", "time_limit_s": limit_s, "seed": seed,
            "orders": len(problem.orders), **figures}  # fmt: skip


def _vroom_in_child(problem: Problem, **options: Any) -> tuple[list[Route], dict[int, int], float]:
    """Run in the child process: rebuild the routing arrays there rather than pickle them."""
    return solve_with_vroom(problem, build_routing_arrays(problem), **options)


def _vroom_row(
    problem: Problem, arrays: RoutingArrays, pool: ProcessPoolExecutor, *, timeout_s: float | None,
    level: int, level_durations: bool, full_time: bool,
) -> tuple[dict[str, Any], list[Route]]:  # fmt: skip
    """VROOM's row, and its routes repaired to pass our model."""
    label = f"VROOM l{level}, " + ("full time" if full_time else f"{timeout_s:g} s")
    if full_time and timeout_s is not None:
        label += f" (capped at {timeout_s:g} s)"
    label += "" if level_durations else ", base service times"
    console.print(f"  {label}...")
    future = pool.submit(
        _vroom_in_child, problem, time_limit_s=timeout_s, exploration_level=level,
        level_durations=level_durations,
    )  # fmt: skip
    started = time.perf_counter()
    with console.status(label) as status:
        while True:
            try:
                routes, starts, wall_s = future.result(timeout=1.0)
                break
            except FutureTimeout:
                status.update(f"{label}: {time.perf_counter() - started:,.0f} s so far")
    console.print(f"  {label}: {wall_s:,.1f} s")
    row = {
        "label": label, "solver": "vroom", "exploration_level": level, "threads": 1,
        "timeout_s": timeout_s, "full_time": full_time, "service_by_level": level_durations,
        "orders": len(problem.orders), **solver_figures(problem, arrays, routes, starts, wall_s),
        "not_expressed": unmapped_notes(problem, level_durations=level_durations),
    }  # fmt: skip
    return row, checked_routes(arrays, routes)[0]


def _compare_with_vroom(rows: list[dict[str, Any]]) -> None:
    """Set each row's valid plan against VROOM's full-time valid plan (with level times)."""
    ref = next(
        r["valid_plan"]
        for r in rows
        if r["solver"] == "vroom" and r["full_time"] and r["service_by_level"]
    )
    for row in rows:
        plan = row["valid_plan"]
        ratio = plan["travel_s"] / ref["travel_s"] if ref["travel_s"] else None
        row["vs_vroom_full"] = {
            "served_more": plan["assigned"] - ref["assigned"],
            "travel_ratio": None if ratio is None else round(ratio, 4),
            "goal_met": plan["assigned"] >= ref["assigned"]
            and (ratio is None or ratio <= GOAL_TRAVEL_RATIO),
        }


def _one_size(
    problem: Problem, pool: ProcessPoolExecutor, *, limits: Sequence[float], seeds: Sequence[int],
    balance_weights: Sequence[int], drop_penalties: Sequence[int], level: int,
    vroom_cap_s: float | None,
    vroom_same_budget: bool, base_durations: bool, on_vroom_orders: bool,
) -> list[dict[str, Any]]:  # fmt: skip
    arrays = build_routing_arrays(problem)
    rows = [_our_row(problem, arrays, t, s, DEFAULT_WEIGHTS) for t in limits for s in seeds]
    for weight in (w for w in balance_weights if w != DEFAULT_WEIGHTS.balance_per_s):
        weights = ObjectiveWeights(balance_per_s=weight)
        rows.append(_our_row(problem, arrays, max(limits), seeds[0], weights))
    for penalty in (p for p in drop_penalties if p != DROP):
        weights = ObjectiveWeights(drop_penalty=penalty)
        rows += [_our_row(problem, arrays, t, s, weights) for t in limits for s in seeds]
    budgets = [(vroom_cap_s, True)] + [(t, False) for t in limits if vroom_same_budget]
    vroom_orders: list[int] = []
    for timeout_s, full_time in budgets:
        for level_durations in (True, False) if base_durations else (True,):
            row, valid = _vroom_row(
                problem, arrays, pool, timeout_s=timeout_s, level=level,
                level_durations=level_durations, full_time=full_time,
            )  # fmt: skip
            rows.append(row)
            if full_time and level_durations:
                vroom_orders = sorted(o for _, orders in valid for o in orders)
    if on_vroom_orders:
        rows += _rows_on_orders(problem, vroom_orders, limits, seeds)
    _compare_with_vroom(rows)
    return rows


def _rows_on_orders(
    problem: Problem, orders: list[int], limits: Sequence[float], seeds: Sequence[int]
) -> list[dict[str, Any]]:
    """Our rows on the day cut down to ``orders`` (every technician kept)."""
    every_technician = np.arange(len(problem.technicians), dtype=np.int64)
    part = Part("vroom-orders", every_technician, np.asarray(orders, dtype=np.int64))
    day = sub_problem(problem, part)
    arrays = build_routing_arrays(day)
    return [
        _our_row(day, arrays, t, s, DEFAULT_WEIGHTS, day="VROOM's orders")
        for t in limits for s in seeds
    ]  # fmt: skip


def _table(results: list[dict[str, Any]]) -> Table:
    table = Table(title="demo city: geodispatch and VROOM; valid plans costed by our objective")
    table.add_column("solver", no_wrap=True)
    for column in ("assigned", "refused routes (orders)", "served (valid)", "on time",
                   "travel h", "late min", "longest day h", "balance term", "unserved penalty",
                   "travel / VROOM", "wall s"):  # fmt: skip
        table.add_column(column, justify="right")
    for result in results:
        table.add_section()
        table.add_row(f"[bold]{result['size']}")
        for r in result["rows"]:
            plan, ratio = r["valid_plan"], r.get("vs_vroom_full", {}).get("travel_ratio")
            table.add_row(
                r["label"], f"{r['assigned']:,}",
                f"{r['routes_violating_our_model']} ({r['orders_on_violating_routes']})",
                f"{plan['assigned']:,} ({plan['share_assigned']:.1%})",
                f"{plan['on_time_rate']:.1%}", f"{plan['travel_h']:,.1f}",
                f"{plan['lateness_min']:,.0f}", f"{plan['longest_working_h']:.2f}",
                f"{plan['objective_parts']['balance']:,}",
                f"{plan['objective_parts']['unserved']:,}",
                "-" if ratio is None else f"{ratio:.1%}", f"{r['wall_s']:,.1f}",
            )  # fmt: skip
    return table


def _numbers(
    text: str, option: str, parse: Callable[[str], N], is_valid: Callable[[N], bool], kind: str,
    *, may_be_empty: bool = False,
) -> list[N]:  # fmt: skip
    """Parse a comma-separated list; a bad one ends the command with a one-line message."""
    try:
        values: list[N] | None = [parse(item) for item in text.split(",") if item.strip()]
    except ValueError:
        values = None
    if values is None or not all(map(is_valid, values)) or not (values or may_be_empty):
        raise fail(f"{option} takes {kind}, comma-separated; got {text!r}")
    return values


@reports_errors
def bench_city_peers(
    sizes: Annotated[str, typer.Option(help="technicians x orders, comma-separated.")] = (
        "50x500,200x2000"
    ),
    time_limits: Annotated[
        str, typer.Option(help="Our solver's time limits in seconds, comma-separated.")
    ] = "30,60",
    seed: Annotated[int, typer.Option(help="Demo seed (and our solver's seed by default).")] = 1,
    solver_seeds: Annotated[
        str | None, typer.Option(help="Our solver's seeds, comma-separated (default: --seed).")
    ] = None,
    balance_weights: Annotated[
        str, typer.Option(help="Extra balance_per_s weights (longest limit, first seed).")
    ] = "",
    drop_penalties: Annotated[
        str,
        typer.Option(help="Extra drop_penalty values (every limit and seed), comma-separated."),
    ] = "",
    lunch_breaks: Annotated[bool, typer.Option(help="Give shifts a lunch break.")] = True,
    vroom_level: Annotated[int, typer.Option(min=0, max=5, help="VROOM exploration level.")] = 5,
    vroom_cap: Annotated[
        float | None, typer.Option(min=1, help="Cap in seconds on VROOM's full-time run.")
    ] = None,
    vroom_same_budget: Annotated[
        bool, typer.Option(help="Also run VROOM with each of our time limits as its timeout.")
    ] = False,
    base_durations: Annotated[
        bool, typer.Option(help="Also run VROOM with base service times (no level factor).")
    ] = False,
    on_vroom_orders: Annotated[
        bool,
        typer.Option(help="Also solve the day cut to the orders VROOM's full-time plan serves."),
    ] = False,
    json_out: Annotated[Path, typer.Option("--json", help="Result file.")] = RESULTS
    / "city_peers.json",
) -> None:
    """Solve demo days with our solver and with VROOM; compare them under our model."""
    day_sizes = _sizes(sizes)
    limits = _numbers(
        time_limits, "--time-limits", float, lambda t: 0 < t <= MAX_TIME_LIMIT_S,
        f"seconds in (0, {MAX_TIME_LIMIT_S:g}]",
    )  # fmt: skip
    whole = "whole numbers >= 0"
    seeds = [seed] if solver_seeds is None else _numbers(
        solver_seeds, "--solver-seeds", int, lambda s: s >= 0, whole
    )  # fmt: skip
    weights = _numbers(
        balance_weights, "--balance-weights", int, lambda w: w >= 0, whole, may_be_empty=True
    )
    penalties = _numbers(
        drop_penalties, "--drop-penalties", int, lambda p: p >= 1, "whole numbers >= 1",
        may_be_empty=True,
    )  # fmt: skip
    kernels_s = warm_up()
    load_before = provenance()["load_average_1_5_15"]
    results = []
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        for size, problem in demo_days(day_sizes, seed, lunch_breaks):
            rows = _one_size(
                problem, pool, limits=limits, seeds=seeds, balance_weights=weights,
                drop_penalties=penalties, level=vroom_level, vroom_cap_s=vroom_cap,
                vroom_same_budget=vroom_same_budget, base_durations=base_durations,
                on_vroom_orders=on_vroom_orders,
            )  # fmt: skip
            results.append({"size": size, "rows": rows})
    console.print(_table(results))
    after = provenance()
    write_json(json_out, {
        **after, "pyvroom": version("pyvroom"), "load_average_before": load_before,
        "time_limits_s": limits, "solver_seeds": seeds, "demo_seed": seed,
        "lunch_breaks": lunch_breaks, "vroom_exploration_level": vroom_level,
        "vroom_cap_s": vroom_cap, "default_weights": dataclasses.asdict(DEFAULT_WEIGHTS),
        "goal": f"served >= VROOM full time (valid plan), travel <= {GOAL_TRAVEL_RATIO:g} x its",
        "kernel_load_s": round(kernels_s, 2), "results": results,
    })  # fmt: skip
    console.print(f"load average before {load_before}, after {after['load_average_1_5_15']}")
    console.print(f"wrote {json_out}")
