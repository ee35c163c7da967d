"""Turn solved vehicle routes (order indices and service starts) into a ``Plan`` with KPIs."""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from dispatch.model import Problem
from dispatch.plan import Plan, Route, Stop, Unassigned
from dispatch.plan_kpis import kpis_of
from dispatch.routing_arrays import UNLIMITED, RoutingArrays


@dataclass(frozen=True, slots=True)
class SolvedRoute:
    """One vehicle's route as the solver left it.

    ``start_s[i]`` and ``latest_start_s[i]`` bound the start of service at ``orders[i]``
    in the solution (the earliest the schedule allows and the latest that keeps it feasible).
    """

    vehicle: int
    orders: tuple[int, ...]
    start_s: tuple[int, ...]
    latest_start_s: tuple[int, ...]
    depart_s: int
    return_s: int


def build_plan(
    problem: Problem,
    arrays: RoutingArrays,
    routes: Sequence[SolvedRoute],
    unassigned: Sequence[Unassigned],
    *,
    objective: int,
    solve_s: float,
    first_feasible_s: float | None = None,
    polish_gain: int | None = None,
) -> Plan:
    """Assemble the plan: stops with arrival, wait, slack and lateness, then the KPIs."""
    built = tuple(_route(problem, arrays, r) for r in routes if r.orders)
    kpis = kpis_of(
        (t.id for t in problem.technicians), built, len(problem.orders),
        objective=objective, solve_s=solve_s, first_feasible_s=first_feasible_s,
        polish_gain=polish_gain,
    )  # fmt: skip
    return Plan(problem.origin, built, tuple(unassigned), kpis)


def _route(problem: Problem, arrays: RoutingArrays, solved: SolvedRoute) -> Route:
    vehicle = arrays.vehicles[solved.vehicle]
    service = arrays.service_of(solved.vehicle)
    nodes = [arrays.start_node(solved.vehicle), *solved.orders, arrays.end_node(solved.vehicle)]
    legs = [int(arrays.travel[a, b]) for a, b in itertools.pairwise(nodes)]
    stops: list[Stop] = []
    ready_s = solved.depart_s
    for i, order in enumerate(solved.orders):
        arrival = ready_s + legs[i]
        start = solved.start_s[i]
        sla = int(arrays.sla_s[order])
        stops.append(
            Stop(
                order_id=problem.orders[order].id, arrival_s=arrival, start_s=start,
                end_s=start + int(service[order]), wait_s=max(start - arrival, 0),
                slack_s=max(solved.latest_start_s[i] - start, 0),
                lateness_s=max(start - sla, 0) if sla < UNLIMITED else 0, travel_s=legs[i],
            )
        )  # fmt: skip
        ready_s = start + int(service[order])
    distance = None
    if problem.distance_m is not None:
        problem_nodes = arrays.node_of[nodes]
        distance = float(problem.distance_m[problem_nodes[:-1], problem_nodes[1:]].sum())
    return Route(
        technician_id=problem.technicians[vehicle.technician_index].id,
        shift_index=vehicle.shift_index, stops=tuple(stops), depart_s=solved.depart_s,
        return_s=solved.return_s, travel_s=sum(legs),
        service_s=int(service[list(solved.orders)].sum()), distance_m=distance,
    )  # fmt: skip
