"""Why each dropped order is out of the plan, decided after the solve from the final routes."""

from collections.abc import Sequence

import numpy as np

from dispatch.model import Problem
from dispatch.plan import DropReason, Unassigned
from dispatch.routing_arrays import RoutingArrays


def explain_dropped(
    problem: Problem, arrays: RoutingArrays, routes: Sequence[Sequence[int]]
) -> tuple[Unassigned, ...]:
    """Return one ``Unassigned`` per order that no route in ``routes`` (per vehicle) serves.

    In order: no technician holds the skills (``no_skill``); no technician allowed by pin and
    territory has a shift that reaches it within its windows (``unreachable``); a route that
    could have served it carries a higher-priority order (``outranked``); otherwise the limits
    of the technicians who could serve it are used up (``capacity``), the message saying which.
    """
    served = np.zeros(arrays.n_orders, dtype=bool)
    for route in routes:
        served[list(route)] = True
    top_priority = np.asarray(
        [max((int(arrays.priority[o]) for o in r), default=np.iinfo(np.int64).min) for r in routes]
    )
    return tuple(
        _explain(problem, arrays, routes, top_priority, int(i)) for i in np.flatnonzero(~served)
    )


def _explain(
    problem: Problem,
    arrays: RoutingArrays,
    routes: Sequence[Sequence[int]],
    top_priority: np.ndarray,
    order: int,
) -> Unassigned:
    order_id = problem.orders[order].id
    if not arrays.has_skills[order].any():
        needs = dict(problem.orders[order].required_skills)
        return Unassigned(order_id, DropReason.NO_SKILL, f"no technician has skills {needs}")
    if not arrays.allowed[order].any():
        return Unassigned(
            order_id,
            DropReason.UNREACHABLE,
            "no skilled technician's territory, pin and shift can reach it within its windows",
        )
    vehicles = np.flatnonzero(arrays.allowed[order])
    limits = _binding_limits(arrays, routes, vehicles, order)
    outranking = int((top_priority[vehicles] > arrays.priority[order]).sum())
    if outranking:
        return Unassigned(
            order_id,
            DropReason.OUTRANKED,
            f"{limits}; {outranking} of them carry higher-priority orders",
        )
    return Unassigned(order_id, DropReason.CAPACITY, limits)


def _binding_limits(
    arrays: RoutingArrays, routes: Sequence[Sequence[int]], vehicles: np.ndarray, order: int
) -> str:
    """Name the limits that are used up on the shifts that could have served ``order``."""
    counts = {"max orders": 0, "capacity": 0, "time": 0}
    for v in vehicles:
        spec, route = arrays.vehicles[int(v)], list(routes[int(v)])
        if len(route) >= spec.max_orders:
            counts["max orders"] += 1
        elif int(arrays.demand[route].sum()) + int(arrays.demand[order]) > spec.capacity:
            counts["capacity"] += 1
        else:
            counts["time"] += 1
    parts = [f"{n} at {name}" for name, n in counts.items() if n]
    return f"the {len(vehicles)} shift(s) that could serve it are full: " + ", ".join(parts)
