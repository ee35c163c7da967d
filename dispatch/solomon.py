"""Solomon VRPTW benchmark instances: parse the text format, turn it into a ``Problem``, check.

The checker recomputes everything from the instance in double precision and shares no code
with the solver, so a solver bug cannot hide behind it. Conventions (from the literature):
travel time = Euclidean distance, time windows apply to the start of service, every customer
is served once, at most ``vehicles`` routes of load at most ``capacity``, back at the depot
by its due date.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from dispatch.errors import DispatchError
from dispatch.model import (
    NODES_PER_TECHNICIAN,
    Problem,
    Shift,
    Technician,
    TechnicianId,
    TimeWindow,
    WorkOrder,
    WorkOrderId,
)
from dispatch.params import ObjectiveWeights

TIME_SCALE = 1000  # solver units per Solomon time unit: three decimals of the double distances
EPSILON = 1e-6  # tolerance of the double-precision checker
SOLOMON_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
SOLOMON_WEIGHTS = ObjectiveWeights(travel_per_s=1, lateness_per_s=0, drop_penalty=10**9)


class InvalidSolomonFile(DispatchError):
    """The text is not in the Solomon format."""

    code = "invalid_solomon_file"


@dataclass(frozen=True, slots=True)
class SolomonInstance:
    """One instance; row 0 of every array is the depot, row ``c`` is customer ``c``."""

    name: str
    vehicles: int
    capacity: int
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    demand: NDArray[np.int64]
    ready: NDArray[np.int64]
    due: NDArray[np.int64]
    service: NDArray[np.int64]

    @property
    def n_customers(self) -> int:
        """Number of customers (nodes other than the depot)."""
        return len(self.x) - 1

    def distances(self) -> NDArray[np.float64]:
        """Euclidean distance matrix between all nodes, depot first, in double precision."""
        return np.hypot(self.x[:, None] - self.x[None, :], self.y[:, None] - self.y[None, :])


def parse_solomon(text: str) -> SolomonInstance:
    """Parse the original Solomon text format.

    Examples
    --------
    >>> inst = parse_solomon('''T1
    ... VEHICLE
    ... NUMBER     CAPACITY
    ...   2         10
    ... CUSTOMER
    ... CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME
    ...     0      0          0          0          0       100          0
    ...     1      3          4          5          0        50         10''')
    >>> inst.name, inst.vehicles, inst.capacity, inst.n_customers, float(inst.distances()[0, 1])
    ('t1', 2, 10, 1, 5.0)
    """
    lines = [line.split() for line in text.splitlines() if line.strip()]
    try:
        name = lines[0][0]
        fleet_row = next(i for i, row in enumerate(lines) if row[0].upper() == "NUMBER") + 1
        vehicles, capacity = int(lines[fleet_row][0]), int(lines[fleet_row][1])
        rows = [row for row in lines[fleet_row + 1 :] if row[0].isdigit()]
        table = np.asarray([[float(v) for v in row[:7]] for row in rows], dtype=np.float64)
    except (IndexError, StopIteration, ValueError) as err:
        raise InvalidSolomonFile(f"not a Solomon instance: {err}") from err
    if (
        table.ndim != 2
        or table.shape[1] != 7
        or not np.array_equal(table[:, 0], np.arange(len(table)))
    ):
        raise InvalidSolomonFile("customer rows must be numbered 0, 1, 2, ... with 7 columns")
    ints = table[:, 3:].astype(np.int64)
    return SolomonInstance(
        name.lower(), vehicles, capacity, table[:, 1].copy(), table[:, 2].copy(),
        ints[:, 0], ints[:, 1], ints[:, 2], ints[:, 3],
    )  # fmt: skip


def solomon_problem(instance: SolomonInstance) -> Problem:
    """Turn an instance into a ``Problem`` with one one-shift technician per vehicle.

    Times are scaled by ``TIME_SCALE`` and every arc is rounded up, so a plan that is
    feasible in the solver's integers is feasible in exact arithmetic. Planar coordinates
    are carried as small degree values (``x / 100``) only to satisfy the WGS84 check: all
    travel comes from the Euclidean matrix.
    """
    n, k = instance.n_customers, instance.vehicles
    shift = Shift(int(instance.ready[0]) * TIME_SCALE, int(instance.due[0]) * TIME_SCALE)
    depot = (float(instance.x[0]) / 100, float(instance.y[0]) / 100)
    technicians = tuple(
        Technician(TechnicianId(f"v{v + 1}"), depot, (shift,), capacity=instance.capacity)
        for v in range(k)
    )
    ready, due = instance.ready * TIME_SCALE, instance.due * TIME_SCALE
    orders = tuple(
        WorkOrder(
            WorkOrderId(str(c)),
            (float(instance.x[c]) / 100, float(instance.y[c]) / 100),
            int(instance.service[c]) * TIME_SCALE,
            windows=(TimeWindow(int(ready[c]), int(due[c])),),
            demand=int(instance.demand[c]),
        )
        for c in range(1, n + 1)
    )  # fmt: skip
    # Problem nodes: customers 1..n, then NODES_PER_TECHNICIAN depot nodes per vehicle.
    instance_node = np.concatenate([np.arange(1, n + 1), np.zeros(NODES_PER_TECHNICIAN * k, int)])
    scaled = np.ceil(instance.distances() * TIME_SCALE - EPSILON).astype(np.int32)
    travel_s = scaled[np.ix_(instance_node, instance_node)]
    distance_m = instance.distances()[np.ix_(instance_node, instance_node)]
    return Problem(SOLOMON_ORIGIN, technicians, orders, travel_s, distance_m)


def check_solution(instance: SolomonInstance, routes: Sequence[Sequence[int]]) -> float:
    """Return the total double-precision distance of ``routes`` after checking feasibility.

    ``routes`` lists customer numbers (1..n) in visiting order, depot omitted. Raises
    ``InfeasibleSolution`` naming the first violated rule.
    """
    dist = instance.distances()
    served = [c for route in routes for c in route]
    if sorted(served) != list(range(1, instance.n_customers + 1)):
        missing = sorted(set(range(1, instance.n_customers + 1)) - set(served))
        raise InfeasibleSolution(f"{instance.name}: customers missing or repeated", missing=missing)
    used = [route for route in routes if route]
    if len(used) > instance.vehicles:
        raise InfeasibleSolution(f"{instance.name}: {len(used)} routes > {instance.vehicles}")
    total = 0.0
    for r, route in enumerate(used):
        if int(instance.demand[list(route)].sum()) > instance.capacity:
            raise InfeasibleSolution(f"{instance.name}: route {r} over capacity", route=r)
        time, prev = float(instance.ready[0]), 0
        for c in [*route, 0]:
            total += dist[prev, c]
            time = max(time + dist[prev, c], float(instance.ready[c]))
            if time > instance.due[c] + EPSILON:
                raise InfeasibleSolution(
                    f"{instance.name}: route {r} reaches {c} at {time:.3f} > {instance.due[c]}",
                    route=r, customer=c,
                )  # fmt: skip
            time += float(instance.service[c])
            prev = c
    return total


class InfeasibleSolution(DispatchError):
    """A benchmark solution breaks a Solomon rule."""

    code = "infeasible_solution"


def gap_percent(distance: float, best_known: float) -> float:
    """Relative gap to the best-known distance, in percent."""
    return 100.0 * (distance - best_known) / best_known if best_known else math.inf
