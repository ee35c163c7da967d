from pathlib import Path

import numpy as np
import pytest

from dispatch import SolveParams, solve
from dispatch.errors import DispatchError
from dispatch.solomon import (
    SOLOMON_WEIGHTS,
    TIME_SCALE,
    InfeasibleSolution,
    InvalidSolomonFile,
    SolomonInstance,
    check_solution,
    gap_percent,
    parse_solomon,
    solomon_problem,
)

SMALL = """TINY
VEHICLE
NUMBER     CAPACITY
  2         10
CUSTOMER
CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME
    0      0          0          0          0       100          0
    1      3          4          5          0        10          2
    2      6          8          5         10        30          2
    3      0          5          6          0        50          1
"""
C101 = Path("/work/shared/benchmarks/solomon/c101.txt")


@pytest.fixture(scope="module")
def tiny() -> SolomonInstance:
    """Three customers, two vehicles of capacity 10."""
    return parse_solomon(SMALL)


def test_parse_reads_fleet_and_rows(tiny: SolomonInstance) -> None:
    assert (tiny.name, tiny.vehicles, tiny.capacity, tiny.n_customers) == ("tiny", 2, 10, 3)
    assert tiny.distances()[1, 2] == pytest.approx(5.0)


def test_parse_rejects_garbage() -> None:
    with pytest.raises(InvalidSolomonFile):
        parse_solomon("not a solomon file")


def test_checker_accepts_a_feasible_solution(tiny: SolomonInstance) -> None:
    assert check_solution(tiny, [[1, 2], [3]]) == pytest.approx(5 + 5 + 10 + 5 + 5)


@pytest.mark.parametrize(
    "routes", [[[1, 2]], [[1, 2, 3]], [[2, 1], [3]], [[1, 1, 2], [3]], [[1], [2], [3]]]
)
def test_checker_rejects_infeasible_solutions(
    tiny: SolomonInstance, routes: list[list[int]]
) -> None:
    # missing customer, over capacity, late at 1, repeated customer, too many routes
    with pytest.raises(InfeasibleSolution):
        check_solution(tiny, routes)


def test_problem_rounds_travel_up(tiny: SolomonInstance) -> None:
    problem = solomon_problem(tiny)
    assert len(problem.technicians) == 2 and len(problem.orders) == 3
    depot = problem.base_node(0)
    exact = tiny.distances()[0, 1:] * TIME_SCALE
    assert np.all(problem.travel_s[depot, :3] >= exact - 1e-6)
    assert np.all(problem.travel_s[depot, :3] - exact < 1)


def test_solver_solution_passes_the_checker(tiny: SolomonInstance) -> None:
    plan = solve(solomon_problem(tiny), SolveParams(1.0, weights=SOLOMON_WEIGHTS))
    routes = [[int(s.order_id) for s in r.stops] for r in plan.routes]
    assert check_solution(tiny, routes) == pytest.approx(
        sum(r.distance_m or 0 for r in plan.routes)
    )


@pytest.mark.skipif(not C101.exists(), reason="shared Solomon files not present")
def test_c101_first_25_customers_near_optimal() -> None:
    lines = C101.read_text().splitlines()
    header = next(
        i
        for i, line in enumerate(lines)
        if line.strip().startswith("0 ") or line.split()[:1] == ["0"]
    )
    instance = parse_solomon("\n".join(lines[: header + 26]))
    plan = solve(solomon_problem(instance), SolveParams(2.0, weights=SOLOMON_WEIGHTS))
    routes = [[int(s.order_id) for s in r.stops] for r in plan.routes]
    # C101 with 25 customers: optimal distance 191.3 (DIMACS-truncated 191.3).
    assert gap_percent(check_solution(instance, routes), 191.3) < 1.0


def test_infeasible_solution_is_a_dispatch_error() -> None:
    assert issubclass(InfeasibleSolution, DispatchError)
