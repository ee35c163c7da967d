"""Scale-out: parts cover the problem, follow pins and territories, solve and merge soundly.

The instance is two towns 30 km apart (Shanghai's Xujiahui and Suzhou's Kunshan direction),
each with its own technicians and orders.
"""

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from distributed import Client, LocalCluster

from dispatch import Problem, Shift, SolveParams, TimeWindow
from dispatch.executors import DaskCluster, InProcess, LocalProcesses
from dispatch.model import Technician, TechnicianId, WorkOrder, WorkOrderId
from dispatch.partition import PartitionMode, partition, sub_problem
from dispatch.scale_out import ScaleOutParams, solve_partitioned
from geo.distance import HaversineTravelTime, TravelTimeParams

H = 3600
TOWNS = {"west": (121.43, 31.19), "east": (121.75, 31.25)}
DETERMINISTIC = SolveParams(30.0, is_deterministic=True, solution_limit=5)


def two_towns(*, pin: bool = False, territory: bool = False) -> Problem:
    """Three technicians and twelve orders per town; orders jittered by up to ~2 km."""
    rng = np.random.default_rng(3)
    techs, orders = [], []
    for town, (lon, lat) in TOWNS.items():
        for k in range(3):
            techs.append(Technician(
                TechnicianId(f"{town}-t{k}"), (lon + 0.005 * k, lat), (Shift(8 * H, 18 * H),),
                skills={"ac": 2}, max_orders=6,
                territory=frozenset({town}) if territory and k == 0 else None,
            ))  # fmt: skip
        for i in range(12):
            dx, dy = rng.uniform(-0.02, 0.02, 2)
            orders.append(WorkOrder(
                WorkOrderId(f"{town}-o{i}"), (lon + dx, lat + dy), 2700, {"ac": 1},
                (TimeWindow(8 * H, 12 * H),) if i % 2 else (), region_id=town,
                pinned_to=TechnicianId("east-t1") if pin and town == "west" and i == 0 else None,
            ))  # fmt: skip
    provider = HaversineTravelTime(TravelTimeParams(speed_kmh=30.0))
    origin = datetime(2026, 3, 2, tzinfo=UTC)
    return Problem.with_travel_times(origin, tuple(techs), tuple(orders), provider)


@pytest.mark.parametrize("mode", list(PartitionMode))
def test_parts_cover_everything_once_and_keep_towns_apart(mode: PartitionMode) -> None:
    problem = two_towns()
    parts = partition(problem, mode, orders_per_part=12)
    assert sorted(np.concatenate([p.orders for p in parts]).tolist()) == list(range(24))
    assert sorted(np.concatenate([p.technicians for p in parts]).tolist()) == list(range(6))
    assert len(parts) == 2
    for part in parts:
        towns = {problem.orders[i].region_id for i in part.orders}
        bases = {problem.technicians[k].id.split("-")[0] for k in part.technicians}
        assert len(towns) == 1 and bases == towns


def test_pinned_orders_follow_their_technician() -> None:
    problem = two_towns(pin=True)
    for mode in PartitionMode:
        parts = partition(problem, mode, orders_per_part=12)
        (owner,) = [p for p in parts if 4 in p.technicians.tolist()]  # east-t1
        assert 0 in owner.orders.tolist()  # west-o0, pinned to east-t1


def test_small_regions_join_their_neighbours() -> None:
    parts = partition(two_towns(), PartitionMode.REGION, orders_per_part=100)
    assert len(parts) == 1


def test_clusters_are_balanced_by_working_time() -> None:
    problem = two_towns()
    parts = partition(problem, PartitionMode.CLUSTER, orders_per_part=12, seed=5)
    assert [len(p.technicians) for p in parts] == [3, 3]


def test_sub_problem_cuts_the_matrix() -> None:
    problem = two_towns()
    part = partition(problem, PartitionMode.REGION, orders_per_part=12)[1]
    sub = sub_problem(problem, part)
    assert len(sub.orders) == len(part.orders)
    i, j = int(part.orders[0]), int(part.orders[1])
    assert sub.travel_s[0, 1] == problem.travel_s[i, j]
    k = int(part.technicians[0])
    assert sub.travel_s[sub.base_node(0), 0] == problem.travel_s[problem.base_node(k), i]


def check_merged(problem: Problem, plan_orders: list[str], unassigned: list[str]) -> None:
    assert sorted(plan_orders + unassigned) == sorted(o.id for o in problem.orders)


def test_partitioned_solve_merges_routes_reasons_and_kpis() -> None:
    problem = two_towns(territory=True)
    plan = solve_partitioned(
        problem, DETERMINISTIC, InProcess(), ScaleOutParams(PartitionMode.REGION, 12)
    )
    served = [s.order_id for r in plan.routes for s in r.stops]
    check_merged(problem, served, [u.order_id for u in plan.unassigned])
    assert plan.kpis.assigned == len(served) > 12
    assert plan.kpis.assigned + plan.kpis.unassigned == 24
    assert set(plan.kpis.load_s_by_technician) == {t.id for t in problem.technicians}
    for route in plan.routes:  # nobody crossed to the other town
        assert {s.order_id.split("-")[0] for s in route.stops} == {
            route.technician_id.split("-")[0]
        }


def test_dask_path_gives_the_same_plan_as_in_process() -> None:
    problem = two_towns()
    scale = ScaleOutParams(PartitionMode.CLUSTER, 12)
    local = solve_partitioned(problem, DETERMINISTIC, InProcess(), scale)
    with (
        LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        executor = DaskCluster(client=client)
        assert executor.workers >= 1
        done: list[tuple[int, int]] = []
        remote = solve_partitioned(
            problem, DETERMINISTIC, executor, scale, lambda k, n: done.append((k, n))
        )
    assert local.routes == remote.routes
    assert done[-1] == (2, 2)


def test_local_processes_run_in_other_processes() -> None:
    results = dict(LocalProcesses(max_workers=2).run(math.sqrt, [4.0, 9.0, 16.0]))
    assert results == {0: 2.0, 1: 3.0, 2: 4.0}


def test_oversized_clusters_are_cut_again() -> None:
    problem = two_towns()
    parts = partition(problem, PartitionMode.CLUSTER, orders_per_part=4, seed=1)
    assert max(len(p.orders) for p in parts) <= 6  # 1.5 parts at most
    assert sorted(np.concatenate([p.orders for p in parts]).tolist()) == list(range(24))
    assert sorted(np.concatenate([p.technicians for p in parts]).tolist()) == list(range(6))
