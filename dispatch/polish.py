"""OR-Tools routing on the search's routes: a greedy descent over a few routes at a time.

The model of a whole day is cheap only without breaks: reading 200 technicians' routes with
break intervals into OR-Tools takes minutes. A group of a few neighbouring routes is small
whatever it carries, so the polish walks the day group by group: each group's vehicles, the
orders they serve and the unserved orders they may take become one OR-Tools model (breaks as
break intervals) and its descent starts from the group's routes; the solver keeps the result
only when it passes our exact schedule and is no worse by our own objective. A small
break-free day (``dispatch.solver`` decides) is one group.

Everything OR-Tools evaluates in its inner loop is registered as a matrix or vector on the
C++ side (never a Python callback per arc), one capacity dimension per part type among them.
"""

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from dispatch.params import SolveParams
from dispatch.routing_arrays import UNLIMITED, RoutingArrays

if TYPE_CHECKING:  # imported when a solve polishes (a tenth of a second): see ortools
    from ortools.constraint_solver import pywrapcp

TIME = "time"
WORK = "work"
PARTS = "parts:"  # prefix of a part type's dimension, apart from the names above


def ortools() -> tuple[ModuleType, ModuleType]:
    """Return OR-Tools' ``pywrapcp`` and ``routing_enums_pb2``, imported on first use."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    return pywrapcp, routing_enums_pb2


@dataclass(frozen=True, slots=True)
class Group:
    """Vehicles polished together, and the orders (served or not) their model holds."""

    vehicles: tuple[int, ...]
    orders: tuple[int, ...]

    def without_orders_served_elsewhere(self, routes: Sequence[Sequence[int]]) -> "Group":
        """Return the group minus the orders a vehicle outside it serves in ``routes``.

        Groups are formed once, so an unserved order near two groups is in both; after the
        first group's descent takes it in, the second must not take it too.
        """
        own = set(self.vehicles)
        elsewhere = {o for v, route in enumerate(routes) if v not in own for o in route}
        return Group(self.vehicles, tuple(o for o in self.orders if o not in elsewhere))


def route_groups(
    arrays: RoutingArrays, routes: Sequence[Sequence[int]], size: int, unserved_per_route: int
) -> list[Group]:
    """Split the used vehicles into groups of ``size`` neighbouring routes.

    Routes are taken longest (in travel between stops) first; each takes the ``size - 1``
    nearest routes not yet grouped (by the mean travel time between their stops). A group
    holds its routes' orders and, per route, the ``unserved_per_route`` unserved orders it
    may serve nearest to it.
    """
    used = [v for v, route in enumerate(routes) if route]
    served = np.zeros(arrays.n_orders, dtype=bool)
    for route in routes:
        served[list(route)] = True
    unserved = np.flatnonzero(~served)
    stops = {v: np.asarray(routes[v], dtype=np.int64) for v in used}
    all_stops = np.concatenate([stops[v] for v in used])
    share = np.zeros((len(all_stops), len(used)))  # each stop's share of its route
    row = 0
    for k, v in enumerate(used):
        share[row : row + len(stops[v]), k] = 1.0 / len(stops[v])
        row += len(stops[v])
    near = share.T @ arrays.travel[np.ix_(all_stops, all_stops)] @ share
    length = {v: arrays.travel[stops[v][:-1], stops[v][1:]].sum() for v in used}
    left = set(range(len(used)))
    groups = []
    for i in sorted(left, key=lambda i: -length[used[i]]):
        if i not in left:
            continue
        others = sorted(left - {i}, key=lambda j: near[i, j])[: size - 1]
        members = [i, *others]
        left -= set(members)
        vehicles = tuple(sorted(used[m] for m in members))
        orders = [o for v in vehicles for o in routes[v]]
        for v in vehicles:
            candidates = unserved[arrays.allowed[unserved, v]]
            if len(candidates) and unserved_per_route:
                closeness = arrays.travel[np.ix_(stops[v], candidates)].min(axis=0)
                orders += candidates[np.argsort(closeness)[:unserved_per_route]].tolist()
        groups.append(Group(vehicles, tuple(dict.fromkeys(orders))))
    return groups


def whole_day(arrays: RoutingArrays) -> Group:
    """Every vehicle and every order as one group."""
    return Group(tuple(range(len(arrays.vehicles))), tuple(range(arrays.n_orders)))


def descend(
    arrays: RoutingArrays, params: SolveParams, group: Group,
    routes: Sequence[Sequence[int]], deadline: float,
) -> list[list[int]] | None:  # fmt: skip
    """Run OR-Tools' greedy descent on ``group`` from ``routes`` (one per group vehicle).

    Returns the group's new routes in the order of ``group.vehicles``, or ``None`` if
    OR-Tools cannot read the routes or finds nothing before ``deadline``.
    """
    model = _Model(arrays, params, group)
    search = _search_parameters(params, deadline)
    model.routing.CloseModelWithParameters(search)
    local = [[model.local[o] for o in route] for route in routes]
    start = model.routing.ReadAssignmentFromRoutes(local, True)
    if start is None:
        return None
    solution = model.routing.SolveFromAssignmentWithParameters(
        start, _search_parameters(params, deadline)
    )
    if solution is None:
        return None
    return model.read_routes(solution)


class _Model:
    """The OR-Tools model of one group: local nodes are its orders, then each vehicle's ends."""

    def __init__(self, arrays: RoutingArrays, params: SolveParams, group: Group) -> None:
        cp, _ = ortools()
        self.arrays, self.group = arrays, group
        self.balance_per_s = params.weights.balance_per_s
        self.local = {o: i for i, o in enumerate(group.orders)}
        ends = [(arrays.start_node(v), arrays.end_node(v)) for v in group.vehicles]
        self.nodes = np.asarray([*group.orders, *itertools.chain(*ends)], dtype=np.int64)
        n_orders, n_vehicles = len(group.orders), len(group.vehicles)
        starts = [n_orders + 2 * k for k in range(n_vehicles)]
        self.manager = cp.RoutingIndexManager(
            len(self.nodes), n_vehicles, starts, [s + 1 for s in starts]
        )
        self.routing = cp.RoutingModel(self.manager)
        self.travel = arrays.travel[np.ix_(self.nodes, self.nodes)]
        weights = params.weights
        cost = self.routing.RegisterTransitMatrix((self.travel * weights.travel_per_s).tolist())
        self.routing.SetArcCostEvaluatorOfAllVehicles(cost)
        transits, self.visits = self._service_transits()
        horizon = max(arrays.horizon_s, 1)
        self.routing.AddDimensionWithVehicleTransits(transits, horizon, horizon, False, TIME)
        time_dim = self.routing.GetDimensionOrDie(TIME)
        self._time_windows(time_dim, weights.lateness_per_s)
        self._breaks(time_dim)
        self._limits(transits)
        self._orders(params)

    def _service_transits(self) -> tuple[list[int], dict[int, list[int]]]:
        """Register travel + service (of the origin) per service class used in the group.

        Returns the transit of each group vehicle and, per class, the service of each
        variable index (what a break may not overlap).
        """
        arrays, routing = self.arrays, self.routing
        n = len(self.group.orders)
        registered: dict[int, int] = {}
        visits: dict[int, list[int]] = {}
        for v in self.group.vehicles:
            c = arrays.vehicles[v].service_class
            if c in registered:
                continue
            leaving = np.zeros(len(self.nodes), dtype=np.int64)
            leaving[:n] = arrays.service[c][list(self.group.orders)]
            registered[c] = routing.RegisterTransitMatrix((self.travel + leaving[:, None]).tolist())
            visits[c] = [int(leaving[self.manager.IndexToNode(i)]) for i in range(routing.Size())]
        vehicles = self.arrays.vehicles
        return [registered[vehicles[v].service_class] for v in self.group.vehicles], visits

    def _time_windows(self, time_dim: "pywrapcp.RoutingDimension", lateness_per_s: int) -> None:
        """Shifts on route starts and ends; windows (gaps removed) and soft SLAs on orders."""
        arrays, routing = self.arrays, self.routing
        for k, v in enumerate(self.group.vehicles):
            vehicle = arrays.vehicles[v]
            time_dim.CumulVar(routing.Start(k)).SetRange(vehicle.start_s, vehicle.end_s)
            time_dim.CumulVar(routing.End(k)).SetRange(vehicle.start_s, vehicle.end_s)
        for node, order in enumerate(self.group.orders):
            index = self.manager.NodeToIndex(node)
            open_ = arrays.win_end[order] >= 0
            starts, ends = arrays.win_start[order][open_], arrays.win_end[order][open_]
            cumul = time_dim.CumulVar(index)
            cumul.SetRange(int(starts[0]), int(ends[-1]))
            for gap_start, gap_end in zip(ends[:-1], starts[1:], strict=True):
                cumul.RemoveInterval(int(gap_start) + 1, int(gap_end) - 1)
            if lateness_per_s and arrays.sla_s[order] < UNLIMITED:
                time_dim.SetCumulVarSoftUpperBound(index, int(arrays.sla_s[order]), lateness_per_s)

    def _breaks(self, time_dim: "pywrapcp.RoutingDimension") -> None:
        """Each shift's breaks as fixed-duration intervals that no service may overlap."""
        solver = self.routing.solver()
        for k, v in enumerate(self.group.vehicles):
            vehicle = self.arrays.vehicles[v]
            if not vehicle.breaks:
                continue
            intervals = [
                solver.FixedDurationIntervalVar(
                    b.earliest_start_s, b.latest_start_s, b.duration_s, False, f"break {v}.{i}"
                )
                for i, b in enumerate(vehicle.breaks)
            ]
            time_dim.SetBreakIntervalsOfVehicle(intervals, k, self.visits[vehicle.service_class])

    def _limits(self, transits: list[int]) -> None:
        """Load (capacity, each part type), max orders and working time, where they can bind."""
        arrays, routing = self.arrays, self.routing
        vehicles = [arrays.vehicles[v] for v in self.group.vehicles]
        orders = list(self.group.orders)
        depots = [0] * (2 * len(vehicles))
        names = ["capacity", *(f"{PARTS}{p}" for p in arrays.part_types)]
        for d, name in enumerate(names):
            limit = [v.capacities[d] for v in vehicles]
            demand = arrays.demand[orders, d]
            if any(c < UNLIMITED for c in limit) and demand.any():
                units = routing.RegisterUnaryTransitVector(demand.tolist() + depots)
                routing.AddDimensionWithVehicleCapacity(units, 0, limit, True, name)
        if any(v.max_orders < UNLIMITED for v in vehicles):
            one = routing.RegisterUnaryTransitVector([1] * len(orders) + depots)
            routing.AddDimensionWithVehicleCapacity(
                one, 0, [v.max_orders for v in vehicles], True, "orders"
            )
        # The balance term prices the day's longest working time: a group's span is that
        # only when the group is the whole fleet.
        balance = self.balance_per_s if len(vehicles) == len(arrays.vehicles) else 0
        if balance or any(v.max_working_s < UNLIMITED for v in vehicles):
            caps = [min(v.max_working_s, max(arrays.horizon_s, 1)) for v in vehicles]
            routing.AddDimensionWithVehicleTransitAndCapacity(transits, 0, caps, True, WORK)
            routing.GetDimensionOrDie(WORK).SetGlobalSpanCostCoefficient(balance)

    def _orders(self, params: SolveParams) -> None:
        """Set allowed vehicles, drop penalties by priority, and locked stops at route heads."""
        arrays, routing, manager = self.arrays, self.routing, self.manager
        vehicles = list(self.group.vehicles)
        locked = {o for v in vehicles for o in arrays.vehicles[v].locked}
        for node, order in enumerate(self.group.orders):
            index = manager.NodeToIndex(node)
            allowed = np.flatnonzero(arrays.allowed[order, vehicles])
            if len(allowed) < len(vehicles):
                routing.VehicleVar(index).SetValues([-1, *allowed.tolist()])
            if order not in locked:
                penalty = params.weights.drop_penalty_for(int(arrays.priority[order]))
                routing.AddDisjunction([index], penalty)
        for k, v in enumerate(vehicles):
            chain = [routing.Start(k)] + [
                manager.NodeToIndex(self.local[o]) for o in arrays.vehicles[v].locked
            ]
            for before, after in itertools.pairwise(chain):
                routing.NextVar(before).SetValue(after)

    def read_routes(self, solution: "pywrapcp.Assignment") -> list[list[int]]:
        routing, manager = self.routing, self.manager
        routes = []
        for k in range(len(self.group.vehicles)):
            index = solution.Value(routing.NextVar(routing.Start(k)))
            orders = []
            while not routing.IsEnd(index):
                orders.append(self.group.orders[manager.IndexToNode(index)])
                index = solution.Value(routing.NextVar(index))
            routes.append(orders)
        return routes


def _search_parameters(params: SolveParams, deadline: float) -> object:
    """Search settings: a greedy descent, its time limit never past the deadline."""
    cp, enums = ortools()
    search = cp.DefaultRoutingSearchParameters()
    search.local_search_metaheuristic = enums.LocalSearchMetaheuristic.GREEDY_DESCENT
    remaining_s = max(deadline - time.perf_counter(), 0.01)
    search.time_limit.FromMilliseconds(int(remaining_s * 1000))
    if params.is_deterministic and params.solution_limit is not None:
        search.solution_limit = params.solution_limit
    return search
