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
    territory has a shift that reaches it within its windows (``unreachable``); none of those
    shifts carries enough of a part type it needs (``capacity``, naming the part types); a
    route that could have served it carries a higher-priority order (``outranked``); otherwise
    the limits of the technicians who could serve it are used up (``capacity``), the message
    saying which (max orders, capacity, a part type, time).
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
    short = missing_parts(arrays, order, vehicles)
    if short is not None:
        return Unassigned(order_id, DropReason.CAPACITY, short)
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
    """Name the limits that are used up on the shifts that could have served ``order``.

    A shift over several load dimensions counts under the first: capacity, then part types
    by name.
    """
    counts = dict.fromkeys(
        ["at max orders", "at capacity", *(f"out of {p}" for p in arrays.part_types), "at time"],
        0,
    )
    for v in vehicles:
        spec, route = arrays.vehicles[int(v)], list(routes[int(v)])
        over = arrays.overloaded(int(v), arrays.load_of(route) + arrays.demand[order])
        if len(route) >= spec.max_orders:
            counts["at max orders"] += 1
        elif over:
            counts["at capacity" if over[0] == "capacity" else f"out of {over[0]}"] += 1
        else:
            counts["at time"] += 1
    parts = [f"{n} {limit}" for limit, n in counts.items() if n]
    return f"the {len(vehicles)} shift(s) that could serve it are full: " + ", ".join(parts)


def missing_parts(arrays: RoutingArrays, order: int, vehicles: np.ndarray) -> str | None:
    """Say which part types ``order`` needs more of than any of ``vehicles`` carries, if any.

    For example ``"no shift that could serve it carries enough parts: needs 2 lock-cylinder
    (at most 1 carried)"``; ``None`` when every part type is carried in sufficient quantity.
    """
    if not arrays.part_types or not len(vehicles):
        return None
    needed = arrays.demand[order, 1:]
    stocks = [arrays.vehicles[int(v)].stock for v in vehicles]
    carried = np.asarray(stocks, dtype=np.int64).reshape(len(vehicles), -1).max(axis=0)
    short = np.flatnonzero(needed > carried)
    if not len(short):
        return None
    items = ", ".join(
        f"{needed[j]} {arrays.part_types[j]} (at most {carried[j]} carried)" for j in short
    )
    return f"no shift that could serve it carries enough parts: needs {items}"
