"""Solve a large problem in parts, in parallel, and merge the parts into one plan.

The parts come from ``partition``; each is solved by ``solver.solve`` on an executor (local
processes, or a Dask cluster) with a share of the time limit such that all the waves of
parts together stay within it. The merged plan has every part's routes, every dropped order
with the reason its part gave, and KPIs recomputed over the whole. Orders whose part has no
technician, or whose windows meet none of the part's shifts, are reported with a reason too.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from dispatch.executors import Executor
from dispatch.model import Problem
from dispatch.params import SolveParams
from dispatch.partition import Part, PartitionMode, partition, sub_problem
from dispatch.plan import DropReason, Plan, Unassigned
from dispatch.plan_kpis import kpis_of
from dispatch.solver import solve

MIN_PART_TIME_S = 1.0  # below this OR-Tools barely gets past its first solution


@dataclass(frozen=True, slots=True)
class ScaleOutParams:
    """How to split: ``mode`` and the target part size (orders)."""

    mode: PartitionMode = PartitionMode.CLUSTER
    orders_per_part: int = 1000


DEFAULT_SCALE_OUT = ScaleOutParams()
ProgressCallback = Callable[[int, int], None]  # (parts done, parts in all)


def solve_partitioned(
    problem: Problem,
    params: SolveParams,
    executor: Executor,
    scale_out: ScaleOutParams = DEFAULT_SCALE_OUT,
    on_progress: ProgressCallback | None = None,
) -> Plan:
    """Partition ``problem``, solve the parts on ``executor`` and merge them into one plan."""
    started = time.perf_counter()
    parts = partition(
        problem, scale_out.mode, orders_per_part=scale_out.orders_per_part, seed=params.seed
    )
    solvable, left_out = _solvable(problem, parts)
    index_of = {o.id: i for i, o in enumerate(problem.orders)}
    waves = -(-len(solvable) // executor.workers) if solvable else 1
    part_limit_s = max(MIN_PART_TIME_S, (params.time_limit_s - _elapsed(started)) / waves)
    part_params = replace(params, time_limit_s=min(part_limit_s, params.time_limit_s))
    tasks = [(sub_problem(problem, part), part_params) for part in solvable]
    plans: list[Plan | None] = [None] * len(tasks)
    for done, (index, plan) in enumerate(executor.run(_solve_task, tasks), start=1):
        plans[index] = plan
        if on_progress is not None:
            on_progress(done, len(tasks))
    dropped = [problem.orders[index_of[u.order_id]].priority for u in left_out]
    return merge_plans(
        problem, [p for p in plans if p is not None], left_out, solve_s=_elapsed(started),
        left_out_cost=sum(params.weights.drop_penalty_for(p) for p in dropped),
    )  # fmt: skip


def _solve_task(task: tuple[Problem, SolveParams]) -> Plan:
    """Solve one part (a top-level function, so that it pickles to other processes)."""
    return solve(*task)


def _elapsed(started: float) -> float:
    return time.perf_counter() - started


def _solvable(problem: Problem, parts: tuple[Part, ...]) -> tuple[list[Part], list[Unassigned]]:
    """Drop from each part the orders it cannot even state; return the rest and those orders."""
    kept, left_out = [], []
    for part in parts:
        shifts = [s.window for k in part.technicians for s in problem.technicians[k].shifts]
        meets = np.asarray(
            [
                bool(shifts)
                and (not o.windows or any(w.overlaps(s) for w in o.windows for s in shifts))
                for o in (problem.orders[i] for i in part.orders)
            ],
            dtype=bool,
        )
        for i in part.orders[~meets]:
            left_out.append(_left_out(problem, int(i), part))
        if meets.any():
            kept.append(Part(part.label, part.technicians, part.orders[meets]))
    return kept, left_out


def _left_out(problem: Problem, order: int, part: Part) -> Unassigned:
    target = problem.orders[order]
    if not any(all(t.skills.get(s, 0) >= lvl for s, lvl in target.required_skills.items())
               for t in problem.technicians):  # fmt: skip
        needs = dict(target.required_skills)
        return Unassigned(target.id, DropReason.NO_SKILL, f"no technician has skills {needs}")
    return Unassigned(
        target.id, DropReason.UNREACHABLE,
        f"no technician of its part ({part.label}, {len(part.technicians)} technicians) "
        "works during its windows",
    )  # fmt: skip


def merge_plans(
    problem: Problem,
    plans: list[Plan],
    left_out: list[Unassigned],
    *,
    solve_s: float,
    left_out_cost: int = 0,
) -> Plan:
    """Merge part plans: routes side by side, reasons kept, KPIs over the whole problem.

    The objective is the sum of the parts' objectives plus ``left_out_cost``, the drop
    penalties of the orders no part could take.
    """
    routes = tuple(r for plan in plans for r in plan.routes)
    unassigned = tuple(u for plan in plans for u in plan.unassigned) + tuple(left_out)
    objective = sum(plan.kpis.objective for plan in plans) + left_out_cost
    kpis = kpis_of(
        [t.id for t in problem.technicians], routes, len(problem.orders),
        objective=objective, solve_s=solve_s,
    )  # fmt: skip
    return Plan(problem.origin, routes, unassigned, kpis)
