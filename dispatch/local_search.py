"""Ruin and recreate with simulated annealing, compiled: the search behind ``solve``.

OR-Tools' own metaheuristics stall a few per cent above the best known Solomon solutions
and cannot build a start on large technician days, so the routes are built and improved
here (:mod:`dispatch.search_anneal` and the kernels it calls, with the granular descent of
:mod:`dispatch.search_descent` on long routes) before OR-Tools polishes
them. The objective is the solver's: weighted travel, weighted lateness past SLA deadlines,
priority-scaled penalties for unserved orders and the balance term; every constraint
(skills, territory, pins, windows, shifts, breaks, capacity, max orders, working time,
locked stops) holds in every accepted state.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from dispatch.errors import InvalidSolveParams
from dispatch.model import Break, Problem, Shift, Technician, TechnicianId, WorkOrder, WorkOrderId
from dispatch.routing_arrays import IntArray, RoutingArrays, build_routing_arrays
from dispatch.search_anneal import anneal, construct, place_route, total_cost
from dispatch.search_instance import build_instance, copy_state, empty_state
from dispatch.search_moves import BY_WINDOW_END

CHUNK_S = 0.05  # wall time between clock checks and progress reports
FIRST_CHUNK = 64  # moves in the first chunk, before the move rate is known

Progress = Callable[[float, int], None]  # (share of the budget done, best cost)


@dataclass(frozen=True, slots=True)
class AnnealingParams:
    """Ruin sizes, blink rate and temperatures (fractions of the travel cost per order).

    Where the first routes average at least ``long_route`` orders (the long-horizon
    instances, 30-100 stops a route), ruin removes ``long_mean_removed`` orders on average in
    strings of up to ``long_max_string``: strings of five barely reorder such routes. A share
    ``split_share`` of the strings are split strings (a run inside them stays). On such
    routes every new best is also taken to a local optimum of the granular descent
    (:mod:`dispatch.search_descent`) over each order's ``long_granular`` nearest orders; 0
    turns it off. Short routes go without: there a new best comes every few moves and the
    descent costs more moves than it saves (a 200 / 2,000 city day made 4,900 moves in 10 s
    instead of 18,000 with it). On such routes too, a share ``open_share`` of the moves first
    opens a route: the tail of a random route moves to an empty vehicle allowed to serve it,
    and the ruin and recreate that follow are judged together with it.

    An order is offered the routes that serve one of its nearest orders, the
    ``home_vehicles`` allowed vehicles whose start and end are nearest to it, and the nearest
    allowed vehicle still empty, rather than every route; 0 offers every allowed vehicle. On
    a 200 / 2,000 city day this made 3.5-4 times as many moves a second.
    """

    mean_removed: int = 5
    max_string: int = 5
    blink: float = 0.01
    start_temperature: float = 1.0
    end_temperature: float = 0.01
    long_route: int = 20
    long_mean_removed: int = 10
    long_max_string: int = 10
    split_share: float = 0.5
    long_granular: int = 20
    home_vehicles: int = 12
    open_share: float = 0.02

    def __post_init__(self) -> None:
        sizes = ("mean_removed", "max_string", "long_route", "long_mean_removed",
                 "long_max_string")  # fmt: skip
        for name in sizes:
            if getattr(self, name) < 1:
                raise InvalidSolveParams(f"{name} must be >= 1", field=name)
        if self.home_vehicles < 0:
            raise InvalidSolveParams("home_vehicles must be >= 0", field="home_vehicles")
        if self.long_granular < 0:
            raise InvalidSolveParams("long_granular must be >= 0", field="long_granular")
        if not 0.0 <= self.split_share <= 1.0:
            raise InvalidSolveParams("split_share must be in [0, 1]", field="split_share")
        if not 0.0 <= self.open_share <= 1.0:
            raise InvalidSolveParams("open_share must be in [0, 1]", field="open_share")
        if not 0.0 <= self.blink < 1.0:
            raise InvalidSolveParams("blink must be in [0, 1)", field="blink")
        if not 0.0 < self.end_temperature <= self.start_temperature:
            raise InvalidSolveParams("need 0 < end_temperature <= start_temperature")

    def ruin_sizes(self, orders_per_route: float) -> tuple[int, int]:
        """Return ``(mean removed, longest string)`` for routes of this average length."""
        if orders_per_route >= self.long_route:
            return self.long_mean_removed, self.long_max_string
        return self.mean_removed, self.max_string

    def granular(self, orders_per_route: float) -> int:
        """Neighbours per order in the descent of new bests; 0 for no descent."""
        return self.long_granular if orders_per_route >= self.long_route else 0


DEFAULT_ANNEALING = AnnealingParams()


class LocalSearch:
    """Build routes for every order that fits, then improve them for a budget.

    Parameters
    ----------
    arrays
        The flattened problem.
    penalties
        Cost of leaving each order unserved.
    weights
        Travel per second, lateness per second and balance per second of the longest day.
    seed
        Seed of every random choice; with an iteration bound, runs repeat exactly.
    routes
        Feasible routes (order indices per vehicle) to start from; the rest is inserted.
    params
        Ruin sizes, temperatures and the routes offered to an order, for the construction
        and every run.
    """

    def __init__(
        self, arrays: RoutingArrays, penalties: IntArray, weights: tuple[int, int, int],
        seed: int = 0, routes: list[list[int]] | None = None,
        params: AnnealingParams = DEFAULT_ANNEALING,
    ) -> None:  # fmt: skip
        self.instance = build_instance(arrays, penalties, weights)
        self.params = params
        # The search's own generator, from the solve's seed: two searches in one thread
        # (partitioned solves, tests) never share a random stream.
        self.rng = np.random.default_rng(seed)
        state = empty_state(self.instance)
        for v, route in enumerate(routes or []):
            if route:
                place_route(self.instance, state, v, np.asarray(route, dtype=np.int64))
        construct(self.instance, state, BY_WINDOW_END, params.home_vehicles, self.rng)
        self.current, self.trial, self.best = state, copy_state(state), copy_state(state)
        cost = total_cost(self.instance, state)
        self.costs = np.asarray([cost, cost], dtype=np.int64)
        self.dirty = np.zeros(len(state.length), dtype=np.bool_)
        self.moves = 0

    @property
    def best_cost(self) -> int:
        """Objective of the best routes."""
        return int(self.costs[1])

    @property
    def best_routes(self) -> list[list[int]]:
        """The best routes found, one order list per vehicle."""
        best = self.best
        return [best.route[v, : best.length[v]].tolist() for v in range(len(best.length))]

    def run(
        self, budget_s: float, max_moves: int | None = None, progress: Progress | None = None
    ) -> int:
        """Anneal until ``max_moves`` (when given) or ``budget_s``; return moves made.

        With ``max_moves`` the temperature follows the move count and the chunks are of a
        fixed size, so a run repeats exactly as long as the budget (then only a backstop)
        is not hit.
        """
        if not len(self.current.vehicle_of) or not len(self.current.length):
            return 0
        started, params = time.perf_counter(), self.params
        served = max(int((self.current.vehicle_of >= 0).sum()), 1)
        scale = float(self.current.cost.sum()) / served
        used = max(int((self.current.length > 0).sum()), 1)
        mean_removed, max_string = params.ruin_sizes(served / used)
        granular = params.granular(served / used)
        t0, t1 = params.start_temperature * scale, params.end_temperature * scale
        done, chunk = 0, FIRST_CHUNK
        while True:
            elapsed = time.perf_counter() - started
            share = done / max_moves if max_moves else elapsed / max(budget_s, 1e-9)
            if share >= 1.0 or elapsed >= budget_s:
                return done
            if max_moves:
                chunk = min(FIRST_CHUNK, max_moves - done)
                upto = (done + chunk) / max_moves
            else:
                upto = min(share + CHUNK_S / budget_s, 1.0)
            t_from, t_to = _temperature(t0, t1, share), _temperature(t0, t1, upto)
            chunk_started = time.perf_counter()
            anneal(
                self.instance, self.current, self.trial, self.best, self.costs, self.dirty,
                chunk, t_from, t_to, mean_removed, max_string, params.split_share,
                params.blink, params.home_vehicles, granular,
                params.open_share if granular else 0.0, self.rng,
            )  # fmt: skip
            done += chunk
            self.moves += chunk
            if progress is not None:
                progress(upto, self.best_cost)
            if not max_moves:
                rate = chunk / max(time.perf_counter() - chunk_started, 1e-6)
                chunk = max(1, int(rate * min(CHUNK_S, budget_s - elapsed)))


def _temperature(start: float, end: float, share: float) -> float:
    """Geometric cooling from ``start`` to ``end`` over the budget."""
    return start * (end / start) ** share if start > 0 else 0.0


def warm_up() -> float:
    """Load (or, on a new machine, compile) the kernels; return the seconds it took.

    Call it once per process before timing a solve, or at start-up of a worker, so that the
    first real solve does not pay for it.
    """
    started = time.perf_counter()
    origin = datetime(2026, 1, 1, tzinfo=UTC)
    lunch = Shift(8 * 3600, 18 * 3600, (Break(12 * 3600, 13 * 3600, 1800),))
    technician = Technician(TechnicianId("warm-up"), (121.4, 31.2), (lunch,))
    order = WorkOrder(WorkOrderId("warm-up"), (121.41, 31.2), 1800)
    problem = Problem(origin, (technician,), (order,), np.full((4, 4), 60, dtype=np.int32))
    search = LocalSearch(build_routing_arrays(problem), np.ones(1, dtype=np.int64), (1, 1, 1))
    search.run(1.0, 1)
    return time.perf_counter() - started
