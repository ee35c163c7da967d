"""A live day's problem and routing arrays, extended by one order without rebuilding them.

``build_problem`` and ``build_routing_arrays`` over a day of 250 orders take tens of
milliseconds, nearly all of it per order (travel times, skills and territory against every
technician). An urgent insertion or an availability question adds one order to a plan that
does not change in between, so ``DayBase`` keeps the day's problem and arrays built once, and
``DayBase.with_order`` adds the order: its travel row and column (the same formula, the same
numbers as a full build), its arrays from a problem of that order alone with the same fleet,
stacked under the day's. The result equals a full build with the order appended last (the
tests compare them), apart from how vehicles share service-time classes.

It also keeps the plan ready for insertions (``LivePlan``: the exact schedule of each route,
breaks included, and every insertion position; about 8 ms for 50 routes): an order appended
last changes no route, so each request takes a copy of it for the grown day
(``LivePlan.extended``), and an accepted insertion recomputes only the route it changed.
"""

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from api.dispatch.problem_builder import DayProblem, _exclusion
from dispatch import Plan, Problem, Route, TechnicianId, TimeWindow, Unassigned, WorkOrder
from dispatch.insertion import LivePlan, route_schedule
from dispatch.model import node_lonlats
from dispatch.routing_arrays import (
    NO_WINDOW_END,
    NO_WINDOW_START,
    RoutingArrays,
    build_routing_arrays,
)
from dispatch.validation import validate_problem
from geo.distance import DEFAULT_TRAVEL_TIME, HaversineTravelTime, haversine_matrix_m
from geo.regions import RegionIndex

INT32_MAX = np.iinfo(np.int32).max
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DayBase:
    """The day's problem and arrays, ready to take one more order (see the module docstring).

    ``speed_mps`` is the speed of trips starting at each node, as ``build_problem``'s travel
    model has it; ``live`` the plan ready for insertions over ``problem``, which nothing
    inserts into: a request inserts into the copy its grown day holds.
    """

    problem: Problem
    arrays: RoutingArrays
    provider: HaversineTravelTime
    lons: FloatArray
    lats: FloatArray
    speed_mps: FloatArray
    shifts: tuple[TimeWindow, ...]
    tech_ids: frozenset[TechnicianId]
    live: LivePlan

    @classmethod
    def of(cls, built: DayProblem, index: RegionIndex, plan: Plan) -> "DayBase | None":
        """Prepare ``built`` (from ``build_problem``) for ``plan``; ``None``: not extensible."""
        problem = built.problem
        if problem.distance_m is None or any(t.locked_stops for t in problem.technicians):
            return None  # the live day has neither; a full build handles them
        provider = HaversineTravelTime(region_index=index)
        lons, lats = node_lonlats(problem.technicians, problem.orders)
        arrays = build_routing_arrays(problem)
        return cls(
            problem=problem, arrays=arrays, provider=provider,
            lons=lons, lats=lats, speed_mps=provider._origin_speed_mps(lons, lats),
            shifts=tuple(s.window for t in problem.technicians for s in t.shifts),
            tech_ids=frozenset(t.id for t in problem.technicians),
            live=LivePlan(problem, plan, arrays=arrays),
        )  # fmt: skip

    def rescheduled(self, plan: Plan, route: Route) -> "DayBase":
        """Return the day for ``plan``, which differs from the previous plan in ``route`` only."""
        index_of = {o.id: i for i, o in enumerate(self.problem.orders)}
        schedules = list(self.live.schedules)
        for v, vehicle in enumerate(self.arrays.vehicles):
            tech = self.problem.technicians[vehicle.technician_index]
            if (tech.id, vehicle.shift_index) == (route.technician_id, route.shift_index):
                schedules[v] = route_schedule(self.problem, self.arrays, index_of, v, plan)
        live = LivePlan(self.problem, plan, arrays=self.arrays, schedules=schedules)
        return replace(self, live=live)

    def left_out(self, order: WorkOrder) -> Unassigned | None:
        """Return why ``build_problem`` would leave ``order`` out of the day, or ``None``."""
        catalog = self.problem.skill_catalog or frozenset()
        reason = _exclusion(order, catalog, self.shifts, set(self.tech_ids), is_over=False)
        return None if reason is None else Unassigned(order.id, *reason)

    def with_order(self, order: WorkOrder) -> "DayBase | None":
        """Return the day with ``order`` appended; ``None`` if only a full build can say."""
        problem, n = self.problem, len(self.problem.orders)
        if any(o.id == order.id for o in problem.orders):
            return None
        lons, lats, speed_mps = self._nodes_with(order)
        to_all = haversine_matrix_m(lons[n : n + 1], lats[n : n + 1], lons, lats)
        from_all = haversine_matrix_m(lons, lats, lons[n : n + 1], lats[n : n + 1])
        circuity = DEFAULT_TRAVEL_TIME.circuity
        row = np.rint(to_all * circuity / speed_mps[n : n + 1, None])
        column = np.rint(from_all * circuity / speed_mps[:, None])
        if max(row.max(), column.max()) > INT32_MAX:
            return None
        assert problem.distance_m is not None  # checked in ``of``
        travel = _grown(problem.travel_s, n, row[0], column[:, 0], dtype=np.int32)  # integral
        distance = _grown(problem.distance_m, n, to_all[0], from_all[:, 0])
        nodes = [n, *range(n + 1, len(lons))]
        alone = _checked_already(
            problem, orders=(order,), travel_s=travel[np.ix_(nodes, nodes)], distance_m=None
        )
        validate_problem(alone, fleet_checked=True)  # the order against the fleet, as a build
        one = build_routing_arrays(alone)
        if one.part_types != self.arrays.part_types:
            return None  # the order adds or lacks a part type: the load columns differ
        grown = _checked_already(
            problem, orders=(*problem.orders, order), travel_s=travel, distance_m=distance
        )
        arrays = _stacked(grown, self.arrays, one)
        return replace(
            self, problem=grown, arrays=arrays, lons=lons, lats=lats, speed_mps=speed_mps,
            live=self.live.extended(grown, arrays),
        )  # fmt: skip

    def after_insertion(self, live: LivePlan) -> "DayBase | None":
        """Return the day as ``live`` left it, if ``live`` is this day grown by one order.

        Then its problem, arrays, schedules and positions (the changed route's too) are the next
        day's as they are, with nothing computed again; ``None`` if ``live`` came from elsewhere.
        """
        grown = live.problem
        if grown.technicians is not self.problem.technicians:
            return None  # another catalogue's day, or a full build
        if len(grown.orders) != len(self.problem.orders) + 1:
            return None
        lons, lats, speed_mps = self._nodes_with(grown.orders[-1])
        return replace(
            self, problem=grown, arrays=live.arrays, lons=lons, lats=lats, speed_mps=speed_mps,
            live=live,
        )  # fmt: skip

    def _nodes_with(self, order: WorkOrder) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Return the node longitudes, latitudes and trip speeds with ``order`` appended."""
        n = len(self.problem.orders)
        lons = np.insert(self.lons, n, order.location[0])
        lats = np.insert(self.lats, n, order.location[1])
        speed = self.provider._origin_speed_mps(lons[n : n + 1], lats[n : n + 1])
        return lons, lats, np.insert(self.speed_mps, n, speed[0])


def _grown(
    matrix: NDArray[np.generic],
    n: int,
    row: NDArray[Any],
    column: NDArray[Any],
    dtype: Any = np.float64,
) -> NDArray[Any]:
    """Return ``matrix`` with a node inserted at ``n``: ``row`` from it, ``column`` to it."""
    size = matrix.shape[0] + 1
    grown = np.empty((size, size), dtype=dtype)
    grown[:n, :n], grown[:n, n + 1 :] = matrix[:n, :n], matrix[:n, n:]
    grown[n + 1 :, :n], grown[n + 1 :, n + 1 :] = matrix[n:, :n], matrix[n:, n:]
    grown[n, :], grown[:, n] = row, column
    grown[n, n] = 0.0
    return grown


def _checked_already(problem: Problem, **values: object) -> Problem:
    """Return ``problem`` with ``values`` replaced, without checking it again.

    Every part was checked: the day's problem when it was built, the new order and its travel
    row and column with the fleet in a problem of its own, its id against the day's orders.
    Checking the day's 250 orders and their matrix again would cost a millisecond a request.
    """
    grown = object.__new__(Problem)
    for name in Problem.__dataclass_fields__:
        object.__setattr__(grown, name, values.get(name, getattr(problem, name)))
    return grown


def _stacked(grown: Problem, day: RoutingArrays, one: RoutingArrays) -> RoutingArrays:
    """Return ``day``'s arrays with the one order of ``one`` appended last."""
    n = day.n_orders
    keys = [
        (a.service_class, b.service_class) for a, b in zip(day.vehicles, one.vehicles, strict=True)
    ]
    classes = sorted(set(keys))
    renumbered = [classes.index(k) for k in keys]
    vehicles = tuple(
        v if v.service_class == c else replace(v, service_class=c)
        for v, c in zip(day.vehicles, renumbered, strict=True)
    )
    service = np.asarray(
        [np.append(day.service[a], one.service[b, 0]) for a, b in classes], dtype=np.int64
    ).reshape(len(classes), n + 1)
    node_of = np.concatenate([np.arange(n + 1), day.node_of[n:] + 1]).astype(np.int64)
    # The day's matrix with the new order's row and column: copying blocks is cheaper than
    # gathering the whole matrix through ``node_of`` again.
    travel = _grown(
        day.travel, n, grown.travel_s[n, node_of], grown.travel_s[node_of, n], dtype=np.int64
    )
    allowed = np.vstack([day.allowed, one.allowed])
    allowed.flags.writeable = False
    return replace(
        day, n_orders=n + 1, vehicles=vehicles, node_of=node_of, travel=travel, service=service,
        win_start=_padded_stack(day.win_start, one.win_start, NO_WINDOW_START),
        win_end=_padded_stack(day.win_end, one.win_end, NO_WINDOW_END),
        demand=np.vstack([day.demand, one.demand]), priority=np.append(day.priority, one.priority),
        sla_s=np.append(day.sla_s, one.sla_s),
        has_skills=np.vstack([day.has_skills, one.has_skills]),
        in_territory=np.vstack([day.in_territory, one.in_territory]), allowed=allowed,
    )  # fmt: skip


def _padded_stack(
    day: NDArray[np.int64], one: NDArray[np.int64], padding: int
) -> NDArray[np.int64]:
    """Stack window arrays, padding the narrower with ``padding`` as a full build does."""
    width = max(day.shape[1], one.shape[1])
    stacked = np.full((day.shape[0] + one.shape[0], width), padding, dtype=np.int64)
    stacked[: day.shape[0], : day.shape[1]] = day
    stacked[day.shape[0] :, : one.shape[1]] = one
    return stacked
