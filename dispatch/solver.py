"""The solver: a compiled ruin-and-recreate search builds and improves routes; OR-Tools polishes.

1. ``LocalSearch`` (:mod:`dispatch.local_search`) inserts every order that fits, then runs
   ruin and recreate with simulated annealing on the full objective, every constraint kept.
2. OR-Tools routing then applies its local-search operators to the best routes (a greedy
   descent) where its model is cheap to build and read: no breaks, few service classes and
   part types, a bounded size. Everything OR-Tools evaluates in its inner loop is registered
   as a matrix or vector on the C++ side (never a Python callback per arc), one capacity
   dimension per part type among them. Its routes are kept only when they are no worse by
   our own objective.
3. Every route is scheduled exactly (:func:`dispatch.schedule.schedule_route`, breaks
   included) and dropped orders get their reasons.
"""

import itertools
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from dispatch.errors import NoFeasiblePlan
from dispatch.feasibility import route_timing
from dispatch.local_search import LocalSearch
from dispatch.local_search import warm_up as load_kernels
from dispatch.model import Problem
from dispatch.params import DEFAULT_SOLVE, SolveParams
from dispatch.plan import Plan
from dispatch.plan_builder import SolvedRoute, build_plan
from dispatch.reasons import explain_dropped
from dispatch.routing_arrays import UNLIMITED, IntArray, RoutingArrays, build_routing_arrays
from dispatch.schedule import RouteSchedule, schedule_route

if TYPE_CHECKING:  # imported when a solve polishes (a tenth of a second): see _ortools
    from ortools.constraint_solver import pywrapcp

SEARCH_SHARE = 0.9  # of the time left, when OR-Tools polishes afterwards
MOVES_PER_SOLUTION = 200  # deterministic mode: annealing moves per unit of solution_limit
POLISH_MAX_ORDERS = 1000  # above this, building and reading the OR-Tools model costs too much
POLISH_MAX_CLASSES = 8  # one registered matrix per service class
POLISH_MAX_PART_TYPES = 8  # one dimension per part type
MIN_POLISH_S = 0.05  # below this, an OR-Tools descent cannot finish and is skipped
TIME = "time"
WORK = "work"
PARTS = "parts:"  # prefix of a part type's dimension, apart from the names above

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
    polish = params.use_local_search and _is_polishable(arrays)
    if polish:
        _ortools()  # before the search: its loading is not taken from the polish's share
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
        budget_s = (deadline - time.perf_counter()) * (SEARCH_SHARE if polish else 1.0)
        moves = None
        if params.is_deterministic and params.solution_limit is not None:
            moves = params.solution_limit * MOVES_PER_SOLUTION
        search.run(budget_s, moves, progress=_elapsed_share(started, params, progress))
    routes = search.best_routes
    schedules = _schedules(arrays, routes)
    if polish and deadline - time.perf_counter() > MIN_POLISH_S:
        polished = _polish(arrays, params, routes, deadline)
        if polished is not None:
            polished_schedules = _schedules(arrays, polished)
            if _objective(arrays, params, penalties, polished_schedules) <= _objective(
                arrays, params, penalties, schedules
            ):
                routes, schedules = polished, polished_schedules
    solved = [_solved(v, s) for v, s in enumerate(schedules)]
    dropped = explain_dropped(problem, arrays, [r.orders for r in solved])
    if progress is not None:
        progress(1.0)
    return build_plan(
        problem, arrays, solved, dropped,
        objective=_objective(arrays, params, penalties, schedules),
        solve_s=time.perf_counter() - started, first_feasible_s=first_feasible_s,
    )  # fmt: skip


def warm_up() -> float:
    """Load what a solve may need, the compiled kernels and OR-Tools; return the seconds taken.

    A long-lived process (a dispatch worker, a benchmark) calls it once at start-up, so that
    no solve pays for the loading. Without it the first solve loads the kernels, and OR-Tools
    only if it polishes: a day with breaks never loads OR-Tools.
    """
    started = time.perf_counter()
    load_kernels()
    _ortools()
    return time.perf_counter() - started


def _ortools() -> tuple[ModuleType, ModuleType]:
    """Return OR-Tools' ``pywrapcp`` and ``routing_enums_pb2``, imported on first use."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    return pywrapcp, routing_enums_pb2


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


def _is_polishable(arrays: RoutingArrays) -> bool:
    """Whether the OR-Tools model is cheap enough to build, read and search here."""
    return (
        arrays.n_orders <= POLISH_MAX_ORDERS
        and len(arrays.service) <= POLISH_MAX_CLASSES
        and len(arrays.part_types) <= POLISH_MAX_PART_TYPES
        and not any(v.breaks for v in arrays.vehicles)
    )


def _schedules(arrays: RoutingArrays, routes: Sequence[Sequence[int]]) -> list[RouteSchedule]:
    """Exact schedule of every route; a route that cannot be kept loses orders from its end.

    The search and the exact schedule agree on feasibility, so trimming is a safeguard;
    locked stops are never trimmed, and a route of locked stops alone that does not fit
    means there is no feasible plan.
    """
    schedules = []
    for v, route in enumerate(routes):
        orders = tuple(route)
        if not orders:  # an unused technician takes no break and drives nowhere
            start = arrays.vehicles[v].start_s
            empty = (0,) * arrays.demand.shape[1]
            schedules.append(RouteSchedule(v, (), (), (), start, start, 0, 0, 0, empty))
            continue
        schedule = schedule_route(arrays, v, orders)
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


def _polish(
    arrays: RoutingArrays, params: SolveParams, routes: list[list[int]], deadline: float
) -> list[list[int]] | None:
    """Run an OR-Tools greedy descent from ``routes``; ``None`` if OR-Tools cannot read them."""
    manager, routing = _routing_model(arrays, params)
    routing.CloseModelWithParameters(_search_parameters(params, deadline))
    start = routing.ReadAssignmentFromRoutes(routes, True)
    if start is None:
        return None
    solution = routing.SolveFromAssignmentWithParameters(
        start, _search_parameters(params, deadline)
    )
    if solution is None:
        return None
    return _read_routes(arrays, manager, routing, solution)


def _routing_model(
    arrays: RoutingArrays, params: SolveParams
) -> tuple["pywrapcp.RoutingIndexManager", "pywrapcp.RoutingModel"]:
    cp, _ = _ortools()
    n_nodes, n_vehicles = len(arrays.node_of), len(arrays.vehicles)
    starts = [arrays.start_node(v) for v in range(n_vehicles)]
    ends = [arrays.end_node(v) for v in range(n_vehicles)]
    manager = cp.RoutingIndexManager(n_nodes, n_vehicles, starts, ends)
    routing = cp.RoutingModel(manager)
    weights = params.weights
    cost = routing.RegisterTransitMatrix((arrays.travel * weights.travel_per_s).tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(cost)
    transit = _service_transits(arrays, routing)
    horizon = max(arrays.horizon_s, 1)
    routing.AddDimensionWithVehicleTransits(transit, horizon, horizon, False, TIME)
    time_dim = routing.GetDimensionOrDie(TIME)
    _time_windows(arrays, manager, routing, time_dim, weights.lateness_per_s)
    _limits(arrays, routing, transit, weights.balance_per_s)
    _orders(arrays, manager, routing, params)
    return manager, routing


def _service_transits(arrays: RoutingArrays, routing: "pywrapcp.RoutingModel") -> list[int]:
    """Register travel + service (of the origin node) per service class; return per vehicle."""
    n = arrays.n_orders
    callbacks = []
    for service in arrays.service:
        leaving = np.zeros(len(arrays.node_of), dtype=np.int64)
        leaving[:n] = service
        callbacks.append(routing.RegisterTransitMatrix((arrays.travel + leaving[:, None]).tolist()))
    return [callbacks[v.service_class] for v in arrays.vehicles]


def _time_windows(
    arrays: RoutingArrays,
    manager: "pywrapcp.RoutingIndexManager",
    routing: "pywrapcp.RoutingModel",
    time_dim: "pywrapcp.RoutingDimension",
    lateness_per_s: int,
) -> None:
    """Shifts on route starts and ends; windows (gaps removed) and soft SLAs on orders."""
    for v, vehicle in enumerate(arrays.vehicles):
        time_dim.CumulVar(routing.Start(v)).SetRange(vehicle.start_s, vehicle.end_s)
        time_dim.CumulVar(routing.End(v)).SetRange(vehicle.start_s, vehicle.end_s)
    for order in range(arrays.n_orders):
        index = manager.NodeToIndex(order)
        open_ = arrays.win_end[order] >= 0
        starts, ends = arrays.win_start[order][open_], arrays.win_end[order][open_]
        cumul = time_dim.CumulVar(index)
        cumul.SetRange(int(starts[0]), int(ends[-1]))
        for gap_start, gap_end in zip(ends[:-1], starts[1:], strict=True):
            cumul.RemoveInterval(int(gap_start) + 1, int(gap_end) - 1)
        if lateness_per_s and arrays.sla_s[order] < UNLIMITED:
            time_dim.SetCumulVarSoftUpperBound(index, int(arrays.sla_s[order]), lateness_per_s)


def _limits(
    arrays: RoutingArrays, routing: "pywrapcp.RoutingModel", transit: list[int], balance: int
) -> None:
    """Load (capacity, each part type), max orders and working time, where they can bind."""
    vehicles = arrays.vehicles
    depots = [0] * (len(arrays.node_of) - arrays.n_orders)
    names = ["capacity", *(f"{PARTS}{p}" for p in arrays.part_types)]
    for d, name in enumerate(names):
        limit = [v.capacities[d] for v in vehicles]
        if any(c < UNLIMITED for c in limit) and arrays.demand[:, d].any():
            units = routing.RegisterUnaryTransitVector(arrays.demand[:, d].tolist() + depots)
            routing.AddDimensionWithVehicleCapacity(units, 0, limit, True, name)
    if any(v.max_orders < UNLIMITED for v in vehicles):
        one = routing.RegisterUnaryTransitVector([1] * arrays.n_orders + depots)
        routing.AddDimensionWithVehicleCapacity(
            one, 0, [v.max_orders for v in vehicles], True, "orders"
        )
    if balance or any(v.max_working_s < UNLIMITED for v in vehicles):
        caps = [min(v.max_working_s, max(arrays.horizon_s, 1)) for v in vehicles]
        routing.AddDimensionWithVehicleTransitAndCapacity(transit, 0, caps, True, WORK)
        routing.GetDimensionOrDie(WORK).SetGlobalSpanCostCoefficient(balance)


def _orders(
    arrays: RoutingArrays,
    manager: "pywrapcp.RoutingIndexManager",
    routing: "pywrapcp.RoutingModel",
    params: SolveParams,
) -> None:
    """Set allowed vehicles, drop penalties by priority, and locked stops at route heads."""
    locked = {o for v in arrays.vehicles for o in v.locked}
    all_allowed = np.asarray(arrays.allowed.all(axis=1))
    for order in range(arrays.n_orders):
        index = manager.NodeToIndex(order)
        if not all_allowed[order]:
            vehicle_var = routing.VehicleVar(index)
            vehicle_var.SetValues([-1, *np.flatnonzero(arrays.allowed[order]).tolist()])
        if order not in locked:
            penalty = params.weights.drop_penalty_for(int(arrays.priority[order]))
            routing.AddDisjunction([index], penalty)
    for v, vehicle in enumerate(arrays.vehicles):
        chain = [routing.Start(v)] + [manager.NodeToIndex(o) for o in vehicle.locked]
        for before, after in itertools.pairwise(chain):
            routing.NextVar(before).SetValue(after)


def _search_parameters(params: SolveParams, deadline: float) -> object:
    """Search settings: a greedy descent, its time limit never past the deadline."""
    cp, enums = _ortools()
    search = cp.DefaultRoutingSearchParameters()
    search.local_search_metaheuristic = enums.LocalSearchMetaheuristic.GREEDY_DESCENT
    remaining_s = max(deadline - time.perf_counter(), 0.01)
    search.time_limit.FromMilliseconds(int(remaining_s * 1000))
    if params.is_deterministic and params.solution_limit is not None:
        search.solution_limit = params.solution_limit
    return search


def _read_routes(
    arrays: RoutingArrays,
    manager: "pywrapcp.RoutingIndexManager",
    routing: "pywrapcp.RoutingModel",
    solution: "pywrapcp.Assignment",
) -> list[list[int]]:
    routes = []
    for v in range(len(arrays.vehicles)):
        index = solution.Value(routing.NextVar(routing.Start(v)))
        orders = []
        while not routing.IsEnd(index):
            orders.append(manager.IndexToNode(index))
            index = solution.Value(routing.NextVar(index))
        routes.append(orders)
    return routes


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
