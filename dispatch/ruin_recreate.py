"""Ruin and recreate with simulated annealing: the diversification OR-Tools lacks here.

OR-Tools' own local search stalls a few per cent above the best known Solomon solutions, so
before it polishes, this search explores: remove strings of nearby orders from a few routes
(SISR-style ruin, Christiaens & Vanden Berghe 2020), reinsert the removed (and any unserved)
orders one by one at their cheapest feasible position over all routes at once (vectorised
over positions), and accept the result by simulated annealing. The cost is weighted travel
plus drop penalties; lateness and balance are left to the OR-Tools phase. Feasibility is the
O(1) earliest / latest start check of :mod:`dispatch.feasibility`, with breaks reserved at
the end of the shift as there.
"""

import itertools
import math
import time
from dataclasses import dataclass

import numpy as np

from dispatch.feasibility import INFEASIBLE, keeps_breaks
from dispatch.routing_arrays import UNLIMITED, IntArray, RoutingArrays

NEIGHBOURS = 40  # orders considered around the ruin seed
BREAK_RETRIES = 4  # positions tried per order when exact break checks reject the cheapest
SLOT_MARGIN = 8  # spare insertion slots per vehicle before the arrays grow


@dataclass(frozen=True, slots=True)
class AnnealingParams:
    """Ruin sizes and temperatures; temperatures are fractions of the mean cost per order."""

    mean_removed: int = 5
    max_string: int = 5
    start_temperature: float = 0.05
    end_temperature: float = 0.0005


class _Solution:
    """Routes plus their insertion positions in padded (vehicle x slot) arrays.

    Slot ``p`` of vehicle ``v`` is the gap before order index ``p`` (after locked stops);
    unused slots have ``latest_next_s = -INFEASIBLE`` so they never accept an order.
    """

    def __init__(self, n_vehicles: int, slots: int) -> None:
        shape = (n_vehicles, slots)
        self.orders: list[list[int]] = [[] for _ in range(n_vehicles)]
        self.prev = np.zeros(shape, dtype=np.int64)
        self.next = np.zeros(shape, dtype=np.int64)
        self.depart_s = np.zeros(shape, dtype=np.int64)
        self.base_travel_s = np.zeros(shape, dtype=np.int64)
        self.latest_next_s = np.full(shape, -INFEASIBLE, dtype=np.int64)
        self.travel_s = np.zeros(n_vehicles, dtype=np.int64)
        self.working_s = np.zeros(n_vehicles, dtype=np.int64)
        self.load = np.zeros(n_vehicles, dtype=np.int64)
        self.count = np.zeros(n_vehicles, dtype=np.int64)
        self.served_penalty = np.zeros(n_vehicles, dtype=np.int64)
        self.open_empty: np.ndarray | None = None  # cache; None when a route (un)emptied

    def copy(self) -> "_Solution":
        """Return an independent copy."""
        twin = _Solution.__new__(_Solution)
        twin.orders = [list(r) for r in self.orders]
        for name in ("prev", "next", "depart_s", "base_travel_s", "latest_next_s", "travel_s",
                     "working_s", "load", "count", "served_penalty"):  # fmt: skip
            setattr(twin, name, getattr(self, name).copy())
        twin.open_empty = self.open_empty
        return twin

    @property
    def slots(self) -> int:
        """Positions per vehicle."""
        return int(self.prev.shape[1])


class RuinRecreate:
    """Improve routes (one order list per vehicle); ``best`` holds the best routes found."""

    def __init__(
        self, arrays: RoutingArrays, routes: list[list[int]], penalties: IntArray,
        travel_weight: int, seed: int,
    ) -> None:  # fmt: skip
        self.arrays, self.penalties, self.weight = arrays, penalties, travel_weight
        self.rng = np.random.default_rng(seed)
        n = arrays.n_orders
        order_travel = arrays.travel[:n, :n]
        self.neighbours = np.argsort(order_travel + order_travel.T, axis=1)[:, : NEIGHBOURS + 1]
        self.travel_rows: list[list[int]] = arrays.travel.tolist()
        self.travel_to = np.ascontiguousarray(arrays.travel.T)  # row u: travel into u
        self.travel_rows_np = arrays.travel
        self.penalty_list: list[int] = penalties.tolist()
        self.total_penalty = int(penalties.sum())
        self.service_rows: list[list[int]] = arrays.service.tolist()
        self.windows = [
            [(int(s), int(e)) for s, e in zip(ws, we, strict=True) if e >= 0]
            for ws, we in zip(arrays.win_start, arrays.win_end, strict=True)
        ]
        specs = arrays.vehicles
        self.locked = [len(v.locked) for v in specs]
        self.capacity = np.asarray([v.capacity for v in specs], dtype=np.int64)
        self.max_orders = np.asarray([v.max_orders for v in specs], dtype=np.int64)
        self.max_working = np.asarray([v.max_working_s for v in specs], dtype=np.int64)
        self.service_class = np.asarray([v.service_class for v in specs], dtype=np.int64)
        self.service_by_order = np.ascontiguousarray(arrays.service[self.service_class].T)
        self.has_working_limit = bool((self.max_working < UNLIMITED).any())
        self.break_s = [sum(b.duration_s for b in v.breaks) for v in specs]
        self.demand: list[int] = arrays.demand.tolist()
        self.kind = np.unique([_kind(arrays, v) for v in range(len(specs))], return_inverse=True)[
            1
        ].ravel()
        self.restart(routes)

    def restart(self, routes: list[list[int]]) -> None:
        """Continue from ``routes`` (one order list per vehicle), which become the best."""
        longest = max((len(r) for r in routes), default=0)
        self.current = _Solution(len(self.arrays.vehicles), longest + SLOT_MARGIN)
        for v, route in enumerate(routes):
            self._time(self.current, v, list(route))
        self.cost = self._cost(self.current)
        self.best, self.best_cost = [list(r) for r in self.current.orders], self.cost

    def run(
        self,
        budget_s: float,
        max_iterations: int | None = None,
        params: AnnealingParams = AnnealingParams(),
    ) -> int:
        """Iterate until ``max_iterations`` (when given) or ``budget_s``; return the count.

        With ``max_iterations`` the temperature follows the iteration count, so a run is
        reproducible as long as the time budget (then only a backstop) is not hit.
        """
        started, done = time.perf_counter(), 0
        scale = self.cost / max(int(self.current.count.sum()), 1)
        t0, t1 = params.start_temperature * scale, params.end_temperature * scale
        while True:
            elapsed = time.perf_counter() - started
            progress = done / max_iterations if max_iterations else elapsed / max(budget_s, 1e-9)
            if progress >= 1.0 or elapsed >= budget_s or not self.arrays.n_orders:
                return done
            temperature = t0 * (t1 / t0) ** progress if t0 > 0 else 0.0
            candidate = self.current.copy()
            self._recreate(candidate, self._ruin(candidate, params))
            cost = self._cost(candidate)
            if cost < self.cost - temperature * math.log(1.0 - self.rng.random()):
                self.current, self.cost = candidate, cost
                if cost < self.best_cost:
                    self.best, self.best_cost = [list(r) for r in candidate.orders], cost
            done += 1

    def _cost(self, solution: _Solution) -> float:
        travel = int(solution.travel_s.sum())
        dropped = self.total_penalty - int(solution.served_penalty.sum())
        return float(self.weight * travel + dropped)

    def _ruin(self, solution: _Solution, params: AnnealingParams) -> list[int]:
        """Remove strings of orders around a random seed order, at most one per route."""
        route_of = {o: v for v, r in enumerate(solution.orders) for o in r[self.locked[v] :]}
        if not route_of:
            return []
        seed = int(self.rng.choice(np.fromiter(route_of, dtype=np.int64)))
        target = int(self.rng.integers(1, 2 * params.mean_removed + 1))
        removed: list[int] = []
        ruined: set[int] = set()
        for order in self.neighbours[seed].tolist():
            v = route_of.get(order)
            if v is None or v in ruined:
                continue
            ruined.add(v)
            head = solution.orders[v][: self.locked[v]]
            free = solution.orders[v][self.locked[v] :]
            length = int(self.rng.integers(1, min(params.max_string, len(free)) + 1))
            at = free.index(order)
            first = int(self.rng.integers(max(0, at - length + 1), min(at, len(free) - length) + 1))
            removed += free[first : first + length]
            self._time(solution, v, [*head, *free[:first], *free[first + length :]])
            if len(removed) >= target:
                break
        return removed

    def _recreate(self, solution: _Solution, removed: list[int]) -> None:
        """Insert removed and unserved orders at their cheapest feasible positions."""
        served = np.zeros(self.arrays.n_orders, dtype=bool)
        for route in solution.orders:
            served[route] = True
        served[removed] = True
        pending = [*removed, *np.flatnonzero(~served).tolist()]
        self._sort_for_insertion(pending)
        for u in pending:
            self._insert(solution, u)

    def _insert(self, solution: _Solution, u: int) -> None:
        """Insert ``u`` at its cheapest position whose breaks still fit, if there is one."""
        closed: list[tuple[int, int, int]] = []
        inserted_into = -1
        for _ in range(BREAK_RETRIES):
            best = self._best_position(solution, u)
            if best is None:
                break
            v, index = best
            orders = list(solution.orders[v])
            orders.insert(index, u)
            if keeps_breaks(self.arrays, v, orders):
                self._time(solution, v, orders)
                inserted_into = v
                break
            slot = index - self.locked[v]  # close this gap for u only, then retry
            closed.append((v, slot, int(solution.latest_next_s[v, slot])))
            solution.latest_next_s[v, slot] = -INFEASIBLE
        for v, slot, latest in closed:
            if v != inserted_into:  # a re-timed route has fresh values
                solution.latest_next_s[v, slot] = latest

    def _sort_for_insertion(self, pending: list[int]) -> None:
        """Shuffle, or sort by decreasing demand, or by increasing window width (SISR)."""
        a, how = self.arrays, int(self.rng.integers(3))
        if how == 0:
            self.rng.shuffle(pending)
        elif how == 1:
            pending.sort(key=lambda o: -int(a.demand[o]))
        else:
            pending.sort(key=lambda o: int(a.win_end[o].max() - a.win_start[o].min()))

    def _best_position(self, solution: _Solution, u: int) -> tuple[int, int] | None:
        """Cheapest feasible (vehicle, index) for order ``u``, over every slot at once."""
        a = self.arrays
        room = a.allowed[u] & (solution.load + a.demand[u] <= self.capacity)
        room &= solution.count < self.max_orders
        if solution.open_empty is None:
            solution.open_empty = self._first_empty_of_kind(solution)
        room &= (solution.count > 0) | solution.open_empty
        if not room.any():
            return None
        travel_in = self.travel_to[u][solution.prev]
        travel_out = self.travel_rows_np[u][solution.next]
        arrive = solution.depart_s + travel_in
        windows = self.windows[u]
        start = np.where(arrive <= windows[0][1], np.maximum(arrive, windows[0][0]), INFEASIBLE)
        for s, e in windows[1:]:
            start = np.minimum(start, np.where(arrive <= e, np.maximum(arrive, s), INFEASIBLE))
        service = self.service_by_order[u][:, None]
        detour = travel_in + travel_out - solution.base_travel_s
        ok = room[:, None] & (start + service + travel_out <= solution.latest_next_s)
        if self.has_working_limit:
            ok &= solution.working_s[:, None] + detour + service <= self.max_working[:, None]
        best = int(np.argmin(np.where(ok, detour, INFEASIBLE)))
        v, slot = divmod(best, solution.slots)
        if not ok[v, slot]:
            return None
        return v, self.locked[v] + slot

    def _first_empty_of_kind(self, solution: _Solution) -> np.ndarray:
        """Mask of the first empty vehicle of each kind: identical empties are one choice."""
        empty = np.flatnonzero(solution.count == 0)
        mask = np.zeros(len(solution.count), dtype=bool)
        _, first = np.unique(self.kind[empty], return_index=True)
        mask[empty[first]] = True
        return mask

    def _time(self, solution: _Solution, v: int, orders: list[int]) -> None:
        """Time vehicle ``v``'s route in plain Python and write its row of ``solution``."""
        a, spec, travel = self.arrays, self.arrays.vehicles[v], self.travel_rows
        service = self.service_rows[spec.service_class]
        nodes = [a.start_node(v), *orders, a.end_node(v)]
        legs = [travel[x][y] for x, y in itertools.pairwise(nodes)]
        depart, t = [spec.start_s], spec.start_s
        is_feasible = True
        for leg, order in zip(legs, orders, strict=False):
            arrive = t + leg
            windows = self.windows[order]
            if len(windows) == 1:  # the common case, without a generator
                t = max(arrive, windows[0][0]) if arrive <= windows[0][1] else INFEASIBLE
            else:
                t = next((max(arrive, s) for s, e in windows if e >= arrive), INFEASIBLE)
            is_feasible &= t < INFEASIBLE
            t += service[order]
            depart.append(t)
        latest = [spec.end_s - self.break_s[v]]
        is_feasible &= t + legs[-1] <= latest[0]
        for p in range(len(orders), 0, -1):
            order = nodes[p]
            bound = latest[-1] - legs[p] - service[order]
            windows = self.windows[order]
            if len(windows) == 1:
                latest.append(min(windows[0][1], bound) if windows[0][0] <= bound else -INFEASIBLE)
            else:
                usable = [min(e, bound) for s, e in windows if s <= bound]
                latest.append(max(usable) if usable else -INFEASIBLE)
        latest.reverse()  # latest[p] for nodes[p + 1]
        first, width = self.locked[v], len(orders) + 1 - self.locked[v]
        if width > solution.slots:
            self._widen(solution, width + SLOT_MARGIN)
        solution.orders[v] = orders
        solution.prev[v, :width] = nodes[first:-1]
        solution.next[v, :width] = nodes[first + 1 :]
        solution.depart_s[v, :width] = depart[first:]
        solution.base_travel_s[v, :width] = legs[first:]
        solution.latest_next_s[v] = -INFEASIBLE
        if is_feasible:  # never insert into a route that is already broken
            solution.latest_next_s[v, :width] = latest[first:]
        solution.travel_s[v] = sum(legs)
        solution.working_s[v] = solution.travel_s[v] + sum(service[o] for o in orders)
        solution.load[v] = sum(self.demand[o] for o in orders)
        solution.served_penalty[v] = sum(self.penalty_list[o] for o in orders)
        if (solution.count[v] == 0) != (not orders):
            solution.open_empty = None
        solution.count[v] = len(orders)

    @staticmethod
    def _widen(solution: _Solution, slots: int) -> None:
        """Grow every per-slot array to ``slots`` columns."""
        extra = slots - solution.slots
        for name in ("prev", "next", "depart_s", "base_travel_s", "latest_next_s"):
            old = getattr(solution, name)
            fill = -INFEASIBLE if name == "latest_next_s" else 0
            pad = np.full((old.shape[0], extra), fill, dtype=np.int64)
            setattr(solution, name, np.hstack([old, pad]))


def _kind(arrays: RoutingArrays, v: int) -> str:
    """Everything that makes an empty vehicle different from another one."""
    spec = arrays.vehicles[v]
    nodes = (int(arrays.node_of[arrays.start_node(v)]), int(arrays.node_of[arrays.end_node(v)]))
    allowed = np.packbits(arrays.allowed[:, v]).tobytes().hex()
    return repr((nodes, spec.start_s, spec.end_s, spec.breaks, spec.capacity, spec.max_orders,
                 spec.max_working_s, spec.service_class, spec.locked, allowed))  # fmt: skip
