"""A dispatch ``Problem`` as VROOM input, VROOM's routes read back and checked by our model.

Mapping (one VROOM vehicle per open technician shift, as in ``build_routing_arrays``):

- travel: the custom duration matrix is ``problem.travel_s`` (whole seconds); every place is
  a matrix index in the node layout of :mod:`dispatch.model`;
- shift: vehicle ``start``/``end`` (base, end, or current position) and ``time_window``;
- breaks: one VROOM break each, its window on the start of the break, ``service`` = length;
- skills with levels: skill ``s`` at level ``L`` gives the vehicle one id per ``(s, 1..L)``,
  an order needing ``s >= l`` requires the id ``(s, l)``; territory (one id per region,
  held by the technicians allowed there, all regions for unlimited ones) and pins (one id
  per pinned technician) are extra skill ids;
- capacity / demand as a one-dimensional ``capacity`` / ``delivery``; ``max_orders`` as
  ``max_tasks``;
- service: ``duration_s`` as the job's default service; the per-level duration factor is
  expressed with VROOM vehicle types (one per service class of ``RoutingArrays``) and the
  job's ``service_per_type``, or left out (base durations, conservative) on request;
- windows: every window of an order (on the start of service), none for "any time";
- priority: ``priority_factor ** (p - lowest)`` when that fits VROOM's 0..100 (1, 10, 100
  for 0, 1, 2: VROOM maximises the priority sum first, as our drop penalties rank orders),
  otherwise linear over 0..100.

What VROOM cannot express: the limit on working time *including service* (``max_working_s``
is passed as ``max_travel_time``, a relaxation: travel alone under the limit), soft SLA
deadlines (VROOM has only hard windows; lateness is not in its objective), and our
objective's weights (VROOM ranks by priority sum, then orders assigned, then travel).
Locked stops of in-day re-planning are not mapped. Each VROOM route is therefore checked
with :func:`dispatch.schedule.schedule_route`, and repaired (orders removed) if it fails.
"""

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from dispatch import Problem, TechnicianId, WorkOrder
from dispatch.routing_arrays import UNLIMITED, RoutingArrays
from dispatch.schedule import schedule_route

Route = tuple[int, tuple[int, ...]]  # (routing vehicle, order indices in visiting order)
NOT_EXPRESSED = (
    "max_working_s counts travel + service; VROOM gets it as max_travel_time (travel only)",
    "SLA deadlines are soft in our model; VROOM has no soft deadlines and ignores them",
    "objective: VROOM maximises the priority sum, then orders assigned, then cuts travel; "
    "ours weighs drop penalties, travel and SLA lateness",
)
BASE_DURATIONS_NOTE = "service not shortened by skill level (base duration_s, conservative)"
LOCKED_NOTE = "locked stops (in-day re-planning) are not mapped"


@dataclass(frozen=True, slots=True)
class SkillCodes:
    """Integer VROOM skill ids for skill levels, territory regions and pins."""

    levels: dict[tuple[str, int], int]
    regions: dict[str | None, int]  # empty when no technician has a territory
    pins: dict[TechnicianId, int]

    def of_technician(self, problem: Problem, tech_index: int) -> set[int]:
        """Ids a technician holds: every level up to its own, its regions, its pin."""
        tech = problem.technicians[tech_index]
        ids = {self.levels[(s, lvl)] for s, top in tech.skills.items() for lvl in range(1, top + 1)}
        ids |= {i for r, i in self.regions.items() if tech.territory is None or r in tech.territory}
        return ids | ({self.pins[tech.id]} if tech.id in self.pins else set())

    def of_order(self, order: WorkOrder) -> set[int]:
        """Ids an order requires: ``(skill, minimum level)``, its region, its pin."""
        ids = {self.levels[(s, lvl)] for s, lvl in order.required_skills.items() if lvl > 0}
        if self.regions:
            ids.add(self.regions[order.region_id])
        return ids | ({self.pins[order.pinned_to]} if order.pinned_to is not None else set())


def skill_codes(problem: Problem) -> SkillCodes:
    """Return ids from 1: every ``(skill, level)`` held or required, then regions, then pins."""
    top: dict[str, int] = {}
    held = [t.skills for t in problem.technicians] + [o.required_skills for o in problem.orders]
    for skill, level in (pair for skills in held for pair in skills.items()):
        top[skill] = max(top.get(skill, 0), level)
    pairs = [(s, lvl) for s in sorted(top) for lvl in range(1, top[s] + 1)]
    levels = {pair: k + 1 for k, pair in enumerate(pairs)}
    regions: dict[str | None, int] = {}
    if any(t.territory is not None for t in problem.technicians):
        keys = sorted({o.region_id for o in problem.orders}, key=lambda r: (r is None, r or ""))
        regions = {r: len(levels) + k + 1 for k, r in enumerate(keys)}
    pinned = sorted({o.pinned_to for o in problem.orders if o.pinned_to is not None})
    pins = {t: len(levels) + len(regions) + k + 1 for k, t in enumerate(pinned)}
    return SkillCodes(levels, regions, pins)


def vroom_priorities(priorities: Sequence[int], factor: int = 10) -> list[int]:
    """Map our priorities into VROOM's 0..100, geometric like our drop penalties if it fits.

    Examples
    --------
    >>> vroom_priorities([0, 1, 2, 0])
    [1, 10, 100, 1]
    >>> vroom_priorities([0, 5])
    [0, 100]
    """
    if not priorities:
        return []
    low, span = min(priorities), max(priorities) - min(priorities)
    if factor**span <= 100:
        return [factor ** (p - low) for p in priorities]
    return [round(100 * (p - low) / span) for p in priorities]


def vroom_vehicles(problem: Problem, arrays: RoutingArrays, codes: SkillCodes) -> list[Any]:
    """One ``vroom.Vehicle`` per routing vehicle; its id is the routing vehicle index."""
    import vroom

    vehicles, break_id = [], 0
    for v, spec in enumerate(arrays.vehicles):
        tech = problem.technicians[spec.technician_index]
        breaks = []
        for brk in spec.breaks:
            window = vroom.TimeWindow(brk.earliest_start_s, brk.latest_start_s)
            breaks.append(vroom.Break(break_id, time_windows=[window], service=brk.duration_s))
            break_id += 1
        limits: dict[str, int] = {}
        if tech.max_orders is not None:
            limits["max_tasks"] = tech.max_orders
        if tech.max_working_s is not None:
            limits["max_travel_time"] = tech.max_working_s  # travel only: a relaxation
        vehicles.append(
            vroom.Vehicle(
                v, start=int(arrays.node_of[arrays.start_node(v)]),
                end=int(arrays.node_of[arrays.end_node(v)]), capacity=[spec.capacity],
                skills=codes.of_technician(problem, spec.technician_index),
                time_window=vroom.TimeWindow(spec.start_s, spec.end_s), breaks=breaks,
                type=f"s{spec.service_class}", **limits,
            )
        )  # fmt: skip
    return vehicles


def vroom_jobs(
    problem: Problem, arrays: RoutingArrays, codes: SkillCodes, *, level_durations: bool = True
) -> list[Any]:
    """One ``vroom.Job`` per order; its id is the order index, its location the order node."""
    import vroom

    priorities = vroom_priorities([o.priority for o in problem.orders])
    jobs = []
    for i, order in enumerate(problem.orders):
        per_type = {
            f"s{c}": int(arrays.service[c, i])
            for c in range(arrays.service.shape[0])
            if int(arrays.service[c, i]) != order.duration_s
        }
        jobs.append(
            vroom.Job(
                i, location=i, default_service=order.duration_s, delivery=[order.demand],
                skills=codes.of_order(order), priority=priorities[i],
                time_windows=[vroom.TimeWindow(w.start_s, w.end_s) for w in order.windows],
                service_per_type=per_type if level_durations and per_type else None,
            )
        )  # fmt: skip
    return jobs


def unmapped_notes(problem: Problem, *, level_durations: bool) -> list[str]:
    """Return what this problem loses on the way to VROOM, in words."""
    notes = list(NOT_EXPRESSED)
    if not level_durations and problem.duration_factor_by_level:
        notes.append(BASE_DURATIONS_NOTE)
    if any(t.locked_stops for t in problem.technicians):
        notes.append(LOCKED_NOTE)
    return notes


def solve_with_vroom(
    problem: Problem,
    arrays: RoutingArrays,
    *,
    time_limit_s: float | None,
    exploration_level: int = 5,
    level_durations: bool = True,
) -> tuple[list[Route], dict[int, int], float]:
    """Solve with VROOM on one thread; return routes, VROOM's service starts and solve wall s.

    ``time_limit_s`` is VROOM's timeout; ``None`` lets it search for its full time.
    ``starts`` maps order index to the start of service in VROOM's own schedule (arrival
    plus waiting and setup).
    """
    import time

    import vroom

    codes = skill_codes(problem)
    vinput = vroom.Input()
    vinput.set_durations_matrix(profile="car", matrix_input=np.asarray(problem.travel_s))
    for vehicle in vroom_vehicles(problem, arrays, codes):
        vinput.add_vehicle(vehicle)
    for job in vroom_jobs(problem, arrays, codes, level_durations=level_durations):
        vinput.add_job(job)
    started = time.perf_counter()
    solution = vinput.solve(
        exploration_level=exploration_level, nb_threads=1,
        timeout=None if time_limit_s is None else timedelta(seconds=time_limit_s),
    )  # fmt: skip
    wall_s = time.perf_counter() - started
    frame = solution.routes
    jobs = frame[frame["type"] == "job"]
    routes: list[Route] = [
        (int(v), tuple(int(i) for i in group["id"]))
        for v, group in jobs.groupby("vehicle_id", sort=True)
    ]
    begin = jobs["arrival"] + jobs["waiting_time"] + jobs["setup"]
    starts = {int(i): int(s) for i, s in zip(jobs["id"], begin, strict=True)}
    return routes, starts, wall_s


def route_problems(arrays: RoutingArrays, vehicle: int, orders: tuple[int, ...]) -> list[str]:
    """Why our model refuses a route (empty when ``schedule_route`` accepts it)."""
    spec = arrays.vehicles[vehicle]
    reasons = []
    may_serve = arrays.has_skills & arrays.in_territory
    if not all(may_serve[o, spec.technician_index] for o in orders):
        reasons.append("skills_territory_pin")
    if schedule_route(arrays, vehicle, orders) is not None:
        return reasons
    working = _working(arrays, vehicle, orders)
    if len(orders) > spec.max_orders:
        reasons.append("max_orders")
    if orders and int(arrays.demand[list(orders)].sum()) > spec.capacity:
        reasons.append("capacity")
    if spec.max_working_s < UNLIMITED and working > spec.max_working_s:
        reasons.append("max_working_time")
    return reasons or ["windows_breaks_shift"]


def repair_route(arrays: RoutingArrays, vehicle: int, orders: tuple[int, ...]) -> tuple[int, ...]:
    """Return the route less the orders our model refuses, removed one at a time.

    First go the orders the technician may not serve; then, while the route fails, the first
    order whose removal leaves a feasible route (else the one leaving the least working time).
    """
    may_serve = arrays.has_skills & arrays.in_territory
    tech = arrays.vehicles[vehicle].technician_index
    kept = tuple(o for o in orders if may_serve[o, tech])
    while kept and schedule_route(arrays, vehicle, kept) is None:
        options = [kept[:k] + kept[k + 1 :] for k in range(len(kept))]
        feasible = [r for r in options if schedule_route(arrays, vehicle, r) is not None]
        kept = feasible[0] if feasible else min(options, key=lambda r: _working(arrays, vehicle, r))
    return kept


def checked_routes(
    arrays: RoutingArrays, routes: list[Route]
) -> tuple[list[Route], dict[str, Any]]:
    """Return the routes repaired to pass our model, and what was refused on the way."""
    reasons: Counter[str] = Counter()
    valid: list[Route] = []
    bad_routes, bad_orders = 0, 0
    for vehicle, orders in routes:
        problems = route_problems(arrays, vehicle, orders)
        if problems:
            reasons.update(problems)
            bad_routes, bad_orders = bad_routes + 1, bad_orders + len(orders)
            orders = repair_route(arrays, vehicle, orders)
        valid.append((vehicle, orders))
    refused = {
        "routes_violating_our_model": bad_routes, "orders_on_violating_routes": bad_orders,
        "violations_by_reason": dict(reasons),
    }  # fmt: skip
    return valid, refused


def _working(arrays: RoutingArrays, vehicle: int, orders: tuple[int, ...]) -> int:
    nodes = [arrays.start_node(vehicle), *orders, arrays.end_node(vehicle)]
    travel = sum(int(arrays.travel[a, b]) for a, b in itertools.pairwise(nodes))
    return travel + int(arrays.service_of(vehicle)[list(orders)].sum())


def route_travel_s(arrays: RoutingArrays, routes: Sequence[Route]) -> int:
    """Total travel of the routes, from the start of each shift back to its end."""
    return sum(_working(arrays, v, r) - int(arrays.service_of(v)[list(r)].sum()) for v, r in routes)
