"""Regret insertion: a fast feasible start for the local search.

Orders are inserted one at a time: the next one is the highest priority, then the one with
the largest regret (how much it loses if it does not get its best route now), into its
cheapest feasible position. Only the route that changed is re-evaluated after an insertion,
and each evaluation covers all candidates and positions at once (``insertion_costs``).
Identical empty vehicles (same nodes, shift, class and limits) are opened one at a time so
that they do not make every regret zero.
"""

import time
from dataclasses import dataclass

import numpy as np

from dispatch.feasibility import INFEASIBLE, insertion_costs, keeps_breaks, route_timing
from dispatch.routing_arrays import RoutingArrays

NO_SECOND_ROUTE = INFEASIBLE // 2  # regret of an order with a single feasible route


@dataclass(frozen=True, slots=True)
class InsertionWeights:
    """Integer weights of the insertion cost (the solver passes its objective weights)."""

    travel: int = 1
    lateness: int = 0


def regret_insertion(
    arrays: RoutingArrays,
    weights: InsertionWeights = InsertionWeights(),
    *,
    initial: list[list[int]] | None = None,
    seed: int = 0,
    deadline: float | None = None,
) -> list[list[int]]:
    """Return one order-index list per vehicle; orders no route can take stay out.

    Parameters
    ----------
    arrays
        The flattened problem.
    weights
        Weights of travel and lateness in the insertion cost.
    initial
        Feasible routes to extend (a warm start), one per vehicle, locked stops first;
        default: the locked stops alone.
    seed
        Breaks ties between equally good insertions.
    deadline
        ``time.perf_counter()`` value after which no more orders are inserted (the routes
        so far are feasible and returned); ``None``: insert until no order fits.
    """
    n_vehicles = len(arrays.vehicles)
    routes = [list(r) for r in initial] if initial else [list(v.locked) for v in arrays.vehicles]
    state = _State(arrays, weights, routes, np.random.default_rng(seed))
    for v in range(n_vehicles):
        if state.is_open[v]:
            state.evaluate(v)
    while (order := state.pick()) is not None:
        if deadline is not None and time.perf_counter() > deadline:
            break
        v = int(state.best_vehicle[order])
        candidate = list(routes[v])
        candidate.insert(int(state.best_position[order, v]), order)
        if not keeps_breaks(arrays, v, candidate):
            state.cost[order, v] = INFEASIBLE  # the O(1) check cannot see breaks
            continue
        routes[v] = candidate
        state.unrouted[order] = False
        state.cost[order] = INFEASIBLE
        if len(routes[v]) == 1:
            state.open_next_clone(v)
        state.evaluate(v)
    return routes


class _State:
    """Insertion costs per (order, vehicle) and each order's two best routes."""

    def __init__(
        self,
        arrays: RoutingArrays,
        weights: InsertionWeights,
        routes: list[list[int]],
        rng: np.random.Generator,
    ) -> None:
        n, m = arrays.n_orders, len(arrays.vehicles)
        self.tie_break = rng.permutation(n)
        self.arrays, self.weights, self.routes = arrays, weights, routes
        self.unrouted = np.ones(n, dtype=bool)
        for route in routes:
            self.unrouted[route] = False
        self.cost = np.full((n, m), INFEASIBLE, dtype=np.int64)
        self.best_position = np.zeros((n, m), dtype=np.int64)
        self.best_vehicle = np.zeros(n, dtype=np.int64)
        self.signature = [_signature(arrays, v) for v in range(m)]
        self.is_open = np.ones(m, dtype=bool)
        seen: set[tuple[object, ...]] = set()
        for v in range(m):  # among identical empty vehicles only the first is open
            if not routes[v]:
                self.is_open[v] = self.signature[v] not in seen
                seen.add(self.signature[v])

    def evaluate(self, v: int) -> None:
        """Recompute column ``v`` for every unrouted order allowed on it."""
        candidates = np.flatnonzero(self.unrouted & self.arrays.allowed[:, v])
        self.cost[:, v] = INFEASIBLE
        timing = route_timing(self.arrays, v, self.routes[v])
        found = insertion_costs(
            self.arrays, v, timing, candidates,
            travel_weight=self.weights.travel, lateness_weight=self.weights.lateness,
            first_position=len(self.arrays.vehicles[v].locked),
        )  # fmt: skip
        self.cost[candidates, v] = found.cost
        self.best_position[candidates, v] = found.position

    def open_next_clone(self, v: int) -> None:
        """Vehicle ``v`` got its first order: open the next identical empty vehicle."""
        for w in range(v + 1, len(self.routes)):
            if not self.is_open[w] and self.signature[w] == self.signature[v]:
                self.is_open[w] = True
                self.evaluate(w)
                return

    def pick(self) -> int | None:
        """Return the next order to insert (priority, then regret, then cost), or None."""
        rows = np.flatnonzero(self.unrouted)
        if not len(rows):
            return None
        cost = self.cost[rows]
        two = np.partition(cost, 1, axis=1)[:, :2] if cost.shape[1] > 1 else np.hstack(
            [cost, np.full_like(cost, INFEASIBLE)]
        )  # fmt: skip
        feasible = two[:, 0] < INFEASIBLE
        self.unrouted[rows[~feasible]] = False  # a route only gets tighter: never feasible
        if not feasible.any():
            return None
        rows, two = rows[feasible], two[feasible]
        regret = np.minimum(two[:, 1], NO_SECOND_ROUTE) - two[:, 0]
        key = np.lexsort((self.tie_break[rows], two[:, 0], -regret, -self.arrays.priority[rows]))
        order = int(rows[key[0]])
        self.best_vehicle[order] = int(self.cost[order].argmin())
        return order


def _signature(arrays: RoutingArrays, v: int) -> tuple[object, ...]:
    spec = arrays.vehicles[v]
    nodes = (int(arrays.node_of[arrays.start_node(v)]), int(arrays.node_of[arrays.end_node(v)]))
    allowed = np.packbits(arrays.allowed[:, v])
    return (
        nodes, spec.start_s, spec.end_s, spec.breaks, spec.capacity, spec.max_orders,
        spec.max_working_s, spec.service_class, spec.locked, allowed.tobytes(),
    )  # fmt: skip
