"""Real-time insertion: one new order into the current plan, in milliseconds, without a solve.

``LivePlan`` keeps a plan ready for changes: the routing arrays, an exact schedule per
technician shift (``schedule.schedule_route``, breaks included) and a flat table of every
insertion position of every route. Inserting an order is one numpy pass over that table
(skills, territory, pin, windows, capacity and each part type's stock, max orders, working
time, locked stops first) that ranks positions by added travel plus the order's own
lateness; the best few are then checked exactly, breaks and knock-on lateness included, and
the cheapest that passes wins.
Only the changed route is rescheduled. The order must already be in the ``Problem`` (its
travel times are in the matrix) and not in the plan.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from dispatch.errors import DispatchError, UnknownReference
from dispatch.model import Problem, TechnicianId, WorkOrderId
from dispatch.params import DEFAULT_SOLVE, ObjectiveWeights
from dispatch.plan import DropReason, Plan, Route
from dispatch.plan_builder import SolvedRoute, build_plan
from dispatch.plan_kpis import kpis_of
from dispatch.positions import Limits, PositionTable, rank_positions
from dispatch.reasons import missing_parts
from dispatch.routing_arrays import RoutingArrays, build_routing_arrays
from dispatch.schedule import RouteSchedule, schedule_route

MAX_EXACT_CHECKS = 48  # candidates checked exactly before giving up on an order
DEFAULT_WEIGHTS = DEFAULT_SOLVE.weights


class AlreadyPlanned(DispatchError):
    """The order to insert is already on a route of the plan."""

    code: ClassVar[str] = "already_planned"


@dataclass(frozen=True, slots=True)
class Insertion:
    """A feasible insertion: where it goes and what it costs.

    ``cost_delta`` is the change of the plan's objective (weighted travel plus weighted
    lateness of the changed route); ``added_travel_s`` is the detour alone.
    """

    order_id: WorkOrderId
    technician_id: TechnicianId
    shift_index: int
    position: int  # index of the new stop in the route
    start_s: int
    cost_delta: int
    added_travel_s: int
    schedule: RouteSchedule


@dataclass(frozen=True, slots=True)
class NoInsertion:
    """No technician can take the order without breaking a constraint, and why."""

    order_id: WorkOrderId
    reason: DropReason
    message: str


class LivePlan:
    """A plan kept ready for real-time insertions (see the module docstring).

    Parameters
    ----------
    problem
        The problem, including any order that may be inserted.
    plan
        The current plan for ``problem`` (for example the solver's).
    weights
        Objective weights; travel and lateness weights price an insertion.
    arrays
        ``build_routing_arrays(problem)`` when the caller has them already.
    schedules
        ``plan``'s schedule of each vehicle of ``arrays`` when the caller has them already
        (``plan_schedules``): a problem grown by orders the plan does not serve keeps them.
    """

    def __init__(
        self,
        problem: Problem,
        plan: Plan,
        weights: ObjectiveWeights = DEFAULT_WEIGHTS,
        arrays: RoutingArrays | None = None,
        schedules: Sequence[RouteSchedule | None] | None = None,
    ) -> None:
        self.problem, self.weights = problem, weights
        self.arrays: RoutingArrays = build_routing_arrays(problem) if arrays is None else arrays
        self.index_of = {o.id: i for i, o in enumerate(problem.orders)}
        self._plan = plan
        self._assigned = set(plan.assigned_ids())
        if schedules is None:
            schedules = plan_schedules(problem, self.arrays, plan)
        elif len(schedules) != len(self.arrays.vehicles):
            raise ValueError(f"{len(schedules)} schedules for {len(self.arrays.vehicles)} vehicles")
        self.schedules = list(schedules)
        self.table = PositionTable(self.arrays, self.schedules)

    def extended(self, problem: Problem, arrays: RoutingArrays) -> "LivePlan":
        """Return a copy of this live plan over ``problem``, this one's with orders appended last.

        ``arrays`` are ``problem``'s routing arrays. The plan, its schedules and its insertion
        positions carry over as they are (an order the plan does not serve changes no route), so
        the copy is ready in a fraction of the time a new ``LivePlan`` takes; this one is left
        unchanged by insertions into the copy.
        """
        n = len(self.problem.orders)
        if problem.technicians != self.problem.technicians or problem.orders[:n] != (
            self.problem.orders
        ):
            raise ValueError("the problem is not this plan's problem with orders appended")
        grown = object.__new__(LivePlan)
        grown.problem, grown.weights, grown.arrays = problem, self.weights, arrays
        grown.index_of = {o.id: i for i, o in enumerate(problem.orders)}
        grown._plan, grown._assigned = self._plan, set(self._assigned)
        grown.schedules = list(self.schedules)
        grown.table = self.table.extended(arrays)
        return grown

    @property
    def plan(self) -> Plan:
        """The plan with every insertion applied so far."""
        return self._plan

    def best_insertion(
        self,
        order_id: WorkOrderId,
        *,
        arrays: RoutingArrays | None = None,
        limits: Limits | None = None,
    ) -> Insertion | NoInsertion:
        """Return the cheapest feasible insertion of ``order_id``, or why there is none.

        ``arrays`` (the order's windows narrowed to a slot) and ``limits`` (capacity held
        back) let availability ask the same question under tighter terms.
        """
        order = self.order_index(order_id)
        arrays = arrays or self.arrays
        limits = limits or self.table.limits
        ranked = rank_positions(
            self.table, arrays, order, self.weights, limits, top=MAX_EXACT_CHECKS
        )
        best: Insertion | None = None
        for candidate in ranked:
            if best is not None and candidate.approx_cost >= best.cost_delta:
                break  # approximate costs omit knock-on lateness: rarely above exact ones
            found = self.exact_insertion(arrays, order, candidate.vehicle, candidate.position)
            if found is not None and (best is None or found.cost_delta < best.cost_delta):
                best = found
        return best or self._why_not(order, limits, arrays)

    def insert(self, order_id: WorkOrderId) -> Insertion | NoInsertion:
        """Insert ``order_id`` at its cheapest feasible position and update the plan."""
        result = self.best_insertion(order_id)
        if isinstance(result, Insertion):
            self._apply(result)
        return result

    def order_index(self, order_id: WorkOrderId) -> int:
        """Return the index of an order that is in the problem and not yet planned."""
        order = self.index_of.get(order_id)
        if order is None:
            raise UnknownReference(f"order {order_id} is not in the problem", order_id=order_id)
        if order_id in self._assigned:
            raise AlreadyPlanned(f"order {order_id} is already planned", order_id=order_id)
        return order

    def exact_insertion(
        self, arrays: RoutingArrays, order: int, v: int, position: int
    ) -> Insertion | None:
        """Check one position exactly (breaks, knock-on lateness); ``None`` if infeasible."""
        old = self.schedules[v]
        if old is None:
            return None
        orders = (*old.orders[:position], order, *old.orders[position:])
        new = schedule_route(arrays, v, orders)
        if new is None:
            return None
        w = self.weights
        delta = w.travel_per_s * (new.travel_s - old.travel_s) + w.lateness_per_s * (
            new.lateness_s - old.lateness_s
        )
        vehicle = arrays.vehicles[v]
        return Insertion(
            order_id=self.problem.orders[order].id,
            technician_id=self.problem.technicians[vehicle.technician_index].id,
            shift_index=vehicle.shift_index, position=position, start_s=new.start_s[position],
            cost_delta=delta, added_travel_s=new.travel_s - old.travel_s, schedule=new,
        )  # fmt: skip

    def _why_not(self, order: int, limits: Limits, arrays: RoutingArrays) -> NoInsertion:
        order_id = self.problem.orders[order].id
        if not arrays.has_skills[order].any():
            needs = dict(self.problem.orders[order].required_skills)
            return NoInsertion(order_id, DropReason.NO_SKILL, f"no technician has skills {needs}")
        allowed = np.flatnonzero(arrays.allowed[order])
        if not len(allowed):
            return NoInsertion(
                order_id, DropReason.UNREACHABLE,
                "no skilled technician's territory, pin and shift can reach it within its windows",
            )  # fmt: skip
        short = missing_parts(arrays, order, allowed)
        if short is not None:
            return NoInsertion(order_id, DropReason.CAPACITY, short)
        full = self.table.full_vehicles(arrays, order, limits)[allowed]
        if full.all():
            return NoInsertion(
                order_id, DropReason.CAPACITY,
                f"the {len(allowed)} shift(s) that could serve it have no orders, load, parts "
                f"or working time left{self._parts_out(arrays, order, limits, allowed)}",
            )  # fmt: skip
        return NoInsertion(
            order_id, DropReason.CAPACITY,
            f"none of the {len(allowed)} shift(s) that could serve it has a gap that keeps its "
            "windows, the other bookings, the breaks and the shift end",
        )  # fmt: skip

    def _parts_out(
        self, arrays: RoutingArrays, order: int, limits: Limits, vehicles: np.ndarray
    ) -> str:
        """``" (out of gasket, valve on some)"``: part types too few left for ``order``."""
        after = self.table.load[vehicles] + arrays.demand[order]
        out = (after > limits.capacity[vehicles]).any(axis=0)[1:]
        names = [p for p, is_out in zip(arrays.part_types, out, strict=True) if is_out]
        return f" (out of {', '.join(names)} on some)" if names else ""

    def _apply(self, insertion: Insertion) -> None:
        schedule = insertion.schedule
        self._assigned.add(insertion.order_id)
        self.schedules[schedule.vehicle] = schedule
        self.table.update(schedule.vehicle, schedule)
        route = _route(self.problem, self.arrays, schedule)
        key = (insertion.technician_id, insertion.shift_index)
        routes = [r for r in self._plan.routes if (r.technician_id, r.shift_index) != key]
        unassigned = tuple(u for u in self._plan.unassigned if u.order_id != insertion.order_id)
        delta = insertion.cost_delta
        if len(unassigned) < len(self._plan.unassigned):  # its drop penalty leaves the objective
            priority = self.problem.orders[self.index_of[insertion.order_id]].priority
            delta -= self.weights.drop_penalty_for(priority)
        routes.append(route)
        kpis = kpis_of(
            [t.id for t in self.problem.technicians], routes, len(self.problem.orders),
            objective=self._plan.kpis.objective + delta, solve_s=self._plan.kpis.solve_s,
            first_feasible_s=self._plan.kpis.first_feasible_s,
            polish_gain=self._plan.kpis.polish_gain,
        )  # fmt: skip
        self._plan = Plan(self._plan.origin, tuple(routes), unassigned, kpis)


def insert_order(
    problem: Problem,
    plan: Plan,
    order_id: WorkOrderId,
    weights: ObjectiveWeights = DEFAULT_WEIGHTS,
) -> tuple[Plan, Insertion | NoInsertion]:
    """Insert one order into ``plan``; return the new plan (unchanged if none) and the result."""
    live = LivePlan(problem, plan, weights)
    result = live.insert(order_id)
    return live.plan, result


def _route(problem: Problem, arrays: RoutingArrays, schedule: RouteSchedule) -> Route:
    """Build the plan route of a schedule with the solver's plan builder (stops, distance)."""
    solved = SolvedRoute(
        schedule.vehicle, schedule.orders, schedule.start_s, schedule.latest_s,
        schedule.depart_s, schedule.return_s,
    )  # fmt: skip
    return build_plan(problem, arrays, [solved], (), objective=0, solve_s=0.0).routes[0]


def plan_schedules(
    problem: Problem, arrays: RoutingArrays, plan: Plan
) -> list[RouteSchedule | None]:
    """Return the exact schedule of ``plan``'s route on each vehicle of ``arrays``."""
    index_of = {o.id: i for i, o in enumerate(problem.orders)}
    return [route_schedule(problem, arrays, index_of, v, plan) for v in range(len(arrays.vehicles))]


def route_schedule(
    problem: Problem,
    arrays: RoutingArrays,
    index_of: Mapping[WorkOrderId, int],
    v: int,
    plan: Plan,
) -> RouteSchedule | None:
    """Return the exact schedule of ``plan``'s route on vehicle ``v`` (an empty one if none)."""
    vehicle = arrays.vehicles[v]
    tech = problem.technicians[vehicle.technician_index]
    route = plan.route_of(tech.id, vehicle.shift_index)
    if route is None:
        return schedule_route(arrays, v, vehicle.locked)
    unknown = [s.order_id for s in route.stops if s.order_id not in index_of]
    if unknown:
        raise UnknownReference(
            f"plan route of {tech.id} serves orders not in the problem: {unknown}",
            technician_id=tech.id, order_ids=unknown,
        )  # fmt: skip
    # A route this check cannot reproduce stays as planned but takes no insertion.
    return schedule_route(arrays, v, tuple(index_of[s.order_id] for s in route.stops))
