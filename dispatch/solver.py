"""The OR-Tools routing solver: our regret-insertion start, then OR-Tools local search.

One routing vehicle per open technician shift. Everything OR-Tools evaluates in its inner loop
is registered as a matrix or vector on the C++ side (never a Python callback per arc): the
travel costs, one travel-plus-service matrix per service class (skill levels change service
times), demands and order counts.
"""

import itertools
import time

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from dispatch.construction import InsertionWeights, regret_insertion
from dispatch.errors import NoFeasiblePlan
from dispatch.feasibility import route_timing
from dispatch.model import Problem
from dispatch.params import DEFAULT_SOLVE, MAX_TIME_LIMIT_S, SolveParams
from dispatch.plan import Plan
from dispatch.plan_builder import SolvedRoute, build_plan
from dispatch.reasons import explain_dropped
from dispatch.routing_arrays import UNLIMITED, RoutingArrays, build_routing_arrays
from dispatch.ruin_recreate import RuinRecreate

CONSTRUCTION_SHARE = 0.5  # of the time limit; orders not inserted by then are left to search
RUIN_RECREATE_SHARE = 0.9  # of the time left after construction; a descent polishes after
MIN_POLISH_S = 0.05  # below this, an OR-Tools descent cannot finish and is skipped
TIME = "time"
WORK = "work"


def solve(
    problem: Problem, params: SolveParams = DEFAULT_SOLVE, warm_start: Plan | None = None
) -> Plan:
    """Assign orders to technicians and order each route.

    Parameters
    ----------
    problem
        A validated problem.
    params
        Time limit, determinism and objective weights.
    warm_start
        A previous plan: its routes (minus orders that are gone or no longer feasible) seed
        the construction, which then inserts the remaining orders.

    Returns
    -------
    Plan
        Routes with times, every dropped order with its reason, and KPIs.
    """
    started = time.perf_counter()
    deadline = started + params.time_limit_s
    arrays = build_routing_arrays(problem)
    seed_routes = _warm_routes(problem, arrays, warm_start) if warm_start else None
    weights = InsertionWeights(params.weights.travel_per_s, params.weights.lateness_per_s)
    initial = regret_insertion(
        arrays, weights, initial=seed_routes, seed=params.seed,
        deadline=started + CONSTRUCTION_SHARE * params.time_limit_s,
    )  # fmt: skip
    manager, routing = _routing_model(arrays, params)
    # Reading routes into an assignment obeys the closing parameters' time limit, so close
    # with the cap: each search below carries its own limit up to the deadline.
    routing.CloseModelWithParameters(
        _search_parameters(params, time.perf_counter() + MAX_TIME_LIMIT_S)
    )
    best = _explore(arrays, initial, params, deadline) if params.use_local_search else initial
    solution = routing.ReadAssignmentFromRoutes(best, True)
    if solution is None and best is not initial:  # a break OR-Tools places differently
        solution = routing.ReadAssignmentFromRoutes(initial, True)
    if solution is None:  # let OR-Tools build its own start
        solution = routing.SolveWithParameters(_search_parameters(params, deadline))
    elif params.use_local_search and deadline - time.perf_counter() > MIN_POLISH_S:
        # The polished assignment itself is kept: re-reading its routes could fail, as
        # break placement is decided by search, not by propagation alone.
        polished = routing.SolveFromAssignmentWithParameters(
            solution, _search_parameters(params, deadline, descent_only=True)
        )
        solution = polished if polished is not None else solution
    if solution is None:
        raise NoFeasiblePlan(
            f"no feasible plan for {len(problem.orders)} orders", n_orders=len(problem.orders)
        )
    solved = _read_routes(arrays, manager, routing, solution)
    dropped = explain_dropped(problem, arrays, [r.orders for r in solved])
    return build_plan(
        problem, arrays, solved, dropped,
        objective=int(solution.ObjectiveValue()), solve_s=time.perf_counter() - started,
    )  # fmt: skip


def _explore(
    arrays: RoutingArrays, routes: list[list[int]], params: SolveParams, deadline: float
) -> list[list[int]]:
    """Improve routes by ruin and recreate for most of the time left; return the best.

    Ruin and recreate escapes the local optima OR-Tools' own metaheuristics stall in on
    time-windowed problems; a final OR-Tools descent then applies its operators with the
    full objective (lateness, balance). Deterministic mode bounds the iterations by
    ``solution_limit`` instead of the clock.
    """
    penalties = np.asarray(
        [params.weights.drop_penalty_for(int(p)) for p in arrays.priority], dtype=np.int64
    )
    explorer = RuinRecreate(arrays, routes, penalties, params.weights.travel_per_s, params.seed)
    budget_s = RUIN_RECREATE_SHARE * max(deadline - time.perf_counter(), 0.0)
    explorer.run(budget_s, params.solution_limit if params.is_deterministic else None)
    return explorer.best


def _routing_model(
    arrays: RoutingArrays, params: SolveParams
) -> tuple[pywrapcp.RoutingIndexManager, pywrapcp.RoutingModel]:
    n_nodes, n_vehicles = len(arrays.node_of), len(arrays.vehicles)
    starts = [arrays.start_node(v) for v in range(n_vehicles)]
    ends = [arrays.end_node(v) for v in range(n_vehicles)]
    manager = pywrapcp.RoutingIndexManager(n_nodes, n_vehicles, starts, ends)
    routing = pywrapcp.RoutingModel(manager)
    weights = params.weights
    cost = routing.RegisterTransitMatrix((arrays.travel * weights.travel_per_s).tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(cost)
    transit = _service_transits(arrays, routing)
    horizon = max(arrays.horizon_s, 1)
    routing.AddDimensionWithVehicleTransits(transit, horizon, horizon, False, TIME)
    time_dim = routing.GetDimensionOrDie(TIME)
    _time_windows(arrays, manager, routing, time_dim, weights.lateness_per_s)
    _breaks(arrays, manager, routing, time_dim)
    _limits(arrays, routing, transit, weights.balance_per_s)
    _orders(arrays, manager, routing, params)
    return manager, routing


def _service_transits(arrays: RoutingArrays, routing: pywrapcp.RoutingModel) -> list[int]:
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
    manager: pywrapcp.RoutingIndexManager,
    routing: pywrapcp.RoutingModel,
    time_dim: pywrapcp.RoutingDimension,
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


def _breaks(
    arrays: RoutingArrays,
    manager: pywrapcp.RoutingIndexManager,
    routing: pywrapcp.RoutingModel,
    time_dim: pywrapcp.RoutingDimension,
) -> None:
    """Add breaks as fixed-duration intervals that no visit may overlap."""
    solver = routing.solver()
    for v, vehicle in enumerate(arrays.vehicles):
        if not vehicle.breaks:
            continue
        service = arrays.service_of(v)
        visit = [0] * routing.Size()
        for order in range(arrays.n_orders):
            visit[manager.NodeToIndex(order)] = int(service[order])
        intervals = [
            solver.FixedDurationIntervalVar(
                b.earliest_start_s, b.latest_start_s, b.duration_s, False, f"break {v}.{k}"
            )
            for k, b in enumerate(vehicle.breaks)
        ]
        time_dim.SetBreakIntervalsOfVehicle(intervals, v, visit)


def _limits(
    arrays: RoutingArrays, routing: pywrapcp.RoutingModel, transit: list[int], balance: int
) -> None:
    """Capacity, max orders and working time, each only when some vehicle is limited."""
    vehicles = arrays.vehicles
    depots = [0] * (len(arrays.node_of) - arrays.n_orders)
    if any(v.capacity < UNLIMITED for v in vehicles) and arrays.demand.any():
        demand = routing.RegisterUnaryTransitVector(arrays.demand.tolist() + depots)
        routing.AddDimensionWithVehicleCapacity(
            demand, 0, [v.capacity for v in vehicles], True, "capacity"
        )
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
    manager: pywrapcp.RoutingIndexManager,
    routing: pywrapcp.RoutingModel,
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


def _search_parameters(
    params: SolveParams, deadline: float, *, descent_only: bool = False
) -> object:
    """Search settings for OR-Tools; the time limit never passes the overall deadline."""
    search = pywrapcp.DefaultRoutingSearchParameters()
    search.first_solution_strategy = (
        routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    )
    search.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
        if descent_only
        else routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    remaining_s = max(deadline - time.perf_counter(), 0.01)
    search.time_limit.FromMilliseconds(int(remaining_s * 1000))
    if params.is_deterministic and params.solution_limit is not None:
        search.solution_limit = params.solution_limit
    return search


def _read_routes(
    arrays: RoutingArrays,
    manager: pywrapcp.RoutingIndexManager,
    routing: pywrapcp.RoutingModel,
    solution: pywrapcp.Assignment,
) -> list[SolvedRoute]:
    time_dim = routing.GetDimensionOrDie(TIME)
    routes = []
    for v in range(len(arrays.vehicles)):
        index = routing.Start(v)
        orders, starts, latest = [], [], []
        depart = solution.Min(time_dim.CumulVar(index))
        index = solution.Value(routing.NextVar(index))
        while not routing.IsEnd(index):
            cumul = time_dim.CumulVar(index)
            orders.append(manager.IndexToNode(index))
            starts.append(solution.Min(cumul))
            latest.append(solution.Max(cumul))
            index = solution.Value(routing.NextVar(index))
        back = solution.Min(time_dim.CumulVar(index))
        routes.append(SolvedRoute(v, tuple(orders), tuple(starts), tuple(latest), depart, back))
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
