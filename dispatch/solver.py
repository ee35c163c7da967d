"""The solver: a compiled ruin-and-recreate search builds and improves routes; OR-Tools polishes.

1. ``LocalSearch`` (:mod:`dispatch.local_search`) inserts every order that fits, then runs
   ruin and recreate with simulated annealing on the full objective, every constraint kept.
2. OR-Tools routing then runs a greedy descent from the best routes in the last
   ``polish_share`` of the time (:mod:`dispatch.polish`): on the whole day at once where one
   model is cheap (no breaks, at most 1,000 orders, few service classes and part types),
   otherwise on groups of neighbouring routes with breaks as break intervals. Its routes are
   kept only when they are no worse by our own objective.
3. Every route is scheduled exactly (:func:`dispatch.schedule.schedule_route`, breaks
   included) and dropped orders get their reasons.
"""

import time
from collections.abc import Callable, Sequence

import numpy as np

from dispatch import polish
from dispatch.errors import NoFeasiblePlan
from dispatch.feasibility import route_timing
from dispatch.local_search import LocalSearch
from dispatch.local_search import warm_up as load_kernels
from dispatch.model import Problem
from dispatch.params import DEFAULT_SOLVE, SolveParams
from dispatch.plan import Plan
from dispatch.plan_builder import SolvedRoute, build_plan
from dispatch.reasons import explain_dropped
from dispatch.routing_arrays import IntArray, RoutingArrays, build_routing_arrays
from dispatch.schedule import RouteSchedule, schedule_route

MOVES_PER_SOLUTION = 200  # deterministic mode: annealing moves per unit of solution_limit
WHOLE_DAY_MAX_ORDERS = 1000  # above this, building and reading one model costs too much
WHOLE_DAY_MAX_CLASSES = 8  # one registered matrix per service class
WHOLE_DAY_MAX_PART_TYPES = 8  # one dimension per part type
GROUP_ROUTES = 3  # routes polished together where the day is not one model
GROUP_UNSERVED = 5  # unserved orders offered per route of a group
MIN_POLISH_S = 0.05  # below this, an OR-Tools descent cannot finish and is skipped

Progress = Callable[[float], None]  # share of the time limit used


def solve(
    problem: Problem,
    params: SolveParams = DEFAULT_SOLVE,
    warm_start: Plan | None = None,
    progress: Progress | None = None,
) -> Plan:
    """Assign orders to technicians and order each route.

    Parameters
    ----------
    problem
        A validated problem.
    params
        Time limit, determinism and objective weights.
    warm_start
        A previous plan: its routes (minus orders that are gone or no longer feasible) are
        the start; the remaining orders are inserted around them.
    progress
        Called now and then with the share of the time limit used so far.

    Returns
    -------
    Plan
        Routes with times, every dropped order with its reason, and KPIs.

    Raises
    ------
    NoFeasiblePlan
        When a technician's locked stops (under way) cannot be kept within the shift.
    """
    started = time.perf_counter()
    deadline = started + params.time_limit_s
    arrays = build_routing_arrays(problem)
    polishes = params.use_local_search and params.polish_share > 0
    penalties = _penalties(arrays, params)
    seed_routes = (
        _warm_routes(problem, arrays, warm_start)
        if warm_start
        else [list(v.locked) for v in arrays.vehicles]
    )
    weights = params.weights
    search = LocalSearch(
        arrays, penalties, (weights.travel_per_s, weights.lateness_per_s, weights.balance_per_s),
        params.seed, seed_routes,
    )  # fmt: skip
    first_feasible_s = time.perf_counter() - started  # every state of the search is feasible
    if params.use_local_search:
        share = 1.0 - params.polish_share if polishes else 1.0
        budget_s = (deadline - time.perf_counter()) * share
        moves = None
        if params.is_deterministic and params.solution_limit is not None:
            moves = params.solution_limit * MOVES_PER_SOLUTION
        search.run(budget_s, moves, progress=_elapsed_share(started, params, progress))
    routes = search.best_routes
    schedules = _schedules(arrays, routes)
    polish_gain = None
    if polishes and deadline - time.perf_counter() > MIN_POLISH_S:
        polish.ortools()  # after the search, so that a solve starts searching at once
        searched = _objective(arrays, params, penalties, schedules)
        routes, schedules = _polish(arrays, params, penalties, routes, schedules, deadline)
        polish_gain = searched - _objective(arrays, params, penalties, schedules)
    solved = [_solved(v, s) for v, s in enumerate(schedules)]
    dropped = explain_dropped(problem, arrays, [r.orders for r in solved])
    if progress is not None:
        progress(1.0)
    return build_plan(
        problem, arrays, solved, dropped,
        objective=_objective(arrays, params, penalties, schedules),
        solve_s=time.perf_counter() - started, first_feasible_s=first_feasible_s,
        polish_gain=polish_gain,
    )  # fmt: skip


def warm_up() -> float:
    """Load what a solve may need, the compiled kernels and OR-Tools; return the seconds taken.

    A long-lived process (a dispatch worker, a benchmark) calls it once at start-up, so that
    no solve pays for the loading. Without it the first solve loads the kernels before its
    search and OR-Tools after it, from the polish's share of the time.
    """
    started = time.perf_counter()
    load_kernels()
    polish.ortools()
    return time.perf_counter() - started


def _elapsed_share(
    started: float, params: SolveParams, progress: Progress | None
) -> Callable[[float, int], None] | None:
    """Adapt ``progress`` to the search's reports: the share of the whole time limit used."""
    if progress is None:
        return None
    report = progress

    def on_chunk(_share: float, _cost: int) -> None:
        report(min((time.perf_counter() - started) / params.time_limit_s, 1.0))

    return on_chunk


def _penalties(arrays: RoutingArrays, params: SolveParams) -> IntArray:
    return np.asarray(
        [params.weights.drop_penalty_for(int(p)) for p in arrays.priority], dtype=np.int64
    )


def _polish(
    arrays: RoutingArrays, params: SolveParams, penalties: IntArray,
    routes: list[list[int]], schedules: list[RouteSchedule], deadline: float,
) -> tuple[list[list[int]], list[RouteSchedule]]:  # fmt: skip
    """Let OR-Tools' descent improve the routes, the whole day at once or a group at a time.

    Each group's routes are replaced only when their exact schedules are feasible and the
    day's objective is no worse. Groups go longest route first and share the time left.
    """
    if _is_whole_day_model(arrays):
        groups = [polish.whole_day(arrays)]
    else:
        groups = polish.route_groups(arrays, routes, GROUP_ROUTES, GROUP_UNSERVED)
    routes, schedules = list(routes), list(schedules)
    cost = _objective(arrays, params, penalties, schedules)
    for i, group in enumerate(groups):
        now = time.perf_counter()
        if deadline - now < MIN_POLISH_S:
            break
        group_deadline = now + (deadline - now) / (len(groups) - i)
        group = group.without_orders_served_elsewhere(routes)
        current = [routes[v] for v in group.vehicles]
        found = polish.descend(arrays, params, group, current, group_deadline)
        if found is None or found == current:
            continue
        trial = list(schedules)
        for v, route in zip(group.vehicles, found, strict=True):
            schedule = _schedule(arrays, v, route)
            if schedule is None:  # OR-Tools places breaks more freely than a technician can
                break
            trial[v] = schedule
        else:
            trial_cost = _objective(arrays, params, penalties, trial)
            if trial_cost <= cost:
                cost, schedules = trial_cost, trial
                for v, route in zip(group.vehicles, found, strict=True):
                    routes[v] = route
    return routes, schedules


def _is_whole_day_model(arrays: RoutingArrays) -> bool:
    """Whether one OR-Tools model of the whole day is cheap enough to build, read and search."""
    return (
        arrays.n_orders <= WHOLE_DAY_MAX_ORDERS
        and len(arrays.service) <= WHOLE_DAY_MAX_CLASSES
        and len(arrays.part_types) <= WHOLE_DAY_MAX_PART_TYPES
        and not any(v.breaks for v in arrays.vehicles)
    )


def _schedule(arrays: RoutingArrays, vehicle: int, route: Sequence[int]) -> RouteSchedule | None:
    """Return the exact schedule of ``route``, ``None`` if infeasible.

    An unused technician takes no break and drives nowhere.
    """
    if not route:
        start = arrays.vehicles[vehicle].start_s
        empty = (0,) * arrays.demand.shape[1]
        return RouteSchedule(vehicle, (), (), (), start, start, 0, 0, 0, empty)
    return schedule_route(arrays, vehicle, tuple(route))


def _schedules(arrays: RoutingArrays, routes: Sequence[Sequence[int]]) -> list[RouteSchedule]:
    """Exact schedule of every route; a route that cannot be kept loses orders from its end.

    The search and the exact schedule agree on feasibility, so trimming is a safeguard;
    locked stops are never trimmed, and a route of locked stops alone that does not fit
    means there is no feasible plan.
    """
    schedules = []
    for v, route in enumerate(routes):
        orders = tuple(route)
        schedule = _schedule(arrays, v, orders)
        while schedule is None and len(orders) > len(arrays.vehicles[v].locked):
            orders = orders[:-1]
            schedule = schedule_route(arrays, v, orders)
        if schedule is None:
            raise NoFeasiblePlan(
                f"the locked stops of vehicle {v} cannot be kept within its shift",
                n_orders=arrays.n_orders,
            )
        schedules.append(schedule)
    return schedules


def _solved(v: int, schedule: RouteSchedule) -> SolvedRoute:
    return SolvedRoute(
        v, schedule.orders, schedule.start_s, schedule.latest_s, schedule.depart_s,
        schedule.return_s,
    )  # fmt: skip


def _objective(
    arrays: RoutingArrays, params: SolveParams, penalties: IntArray,
    schedules: Sequence[RouteSchedule],
) -> int:  # fmt: skip
    """Weighted travel and lateness, unserved penalties and balance, as the search counts."""
    weights = params.weights
    served = np.zeros(arrays.n_orders, dtype=bool)
    total, longest = 0, 0
    for schedule in schedules:
        served[list(schedule.orders)] = True
        if schedule.orders:
            total += weights.travel_per_s * schedule.travel_s
            total += weights.lateness_per_s * schedule.lateness_s
            longest = max(longest, schedule.working_s)
    return total + int(penalties[~served].sum()) + weights.balance_per_s * longest


def _warm_routes(problem: Problem, arrays: RoutingArrays, plan: Plan) -> list[list[int]]:
    """Routes of ``plan`` mapped onto today's vehicles, keeping only feasible, allowed stops."""
    index_of = {o.id: i for i, o in enumerate(problem.orders)}
    vehicle_of = {
        (problem.technicians[v.technician_index].id, v.shift_index): k
        for k, v in enumerate(arrays.vehicles)
    }
    routes: list[list[int]] = [list(v.locked) for v in arrays.vehicles]
    taken = {o for route in routes for o in route}
    for route in plan.routes:
        v = vehicle_of.get((route.technician_id, route.shift_index))
        if v is None:
            continue
        for stop in route.stops:
            order = index_of.get(stop.order_id)
            if order is None or order in taken or not arrays.allowed[order, v]:
                continue
            if route_timing(arrays, v, [*routes[v], order]).is_feasible:
                routes[v].append(order)
                taken.add(order)
    return routes
