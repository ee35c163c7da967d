from dispatch.construction import regret_insertion
from dispatch.feasibility import route_timing
from dispatch.model import Problem, WorkOrderId
from dispatch.routing_arrays import build_routing_arrays

from .conftest import make_order, make_problem, make_technician


def test_every_route_is_feasible_and_skills_hold(two_tech_problem: Problem) -> None:
    arrays = build_routing_arrays(two_tech_problem)
    routes = regret_insertion(arrays)
    assert sorted(o for r in routes for o in r) == list(range(len(two_tech_problem.orders)))
    for v, route in enumerate(routes):
        assert route_timing(arrays, v, route).is_feasible
        assert all(arrays.allowed[o, v] for o in route)


def test_identical_vehicles_are_opened_one_by_one() -> None:
    techs = [make_technician(f"t{i}", max_orders=2) for i in range(4)]
    orders = [make_order(f"o{i}", 1 + i % 2) for i in range(4)]
    routes = regret_insertion(build_routing_arrays(make_problem(techs, orders)))
    assert [len(r) for r in routes] == [2, 2, 0, 0]


def test_locked_stops_open_the_route() -> None:
    tech = make_technician(locked_stops=(WorkOrderId("far"),))
    orders = [make_order("near", 1), make_order("far", 8)]
    routes = regret_insertion(build_routing_arrays(make_problem([tech], orders)))
    assert routes == [[1, 0]]


def test_orders_no_route_can_take_stay_out() -> None:
    orders = [make_order("a", 1, duration_s=6 * 3600), make_order("b", 1, duration_s=6 * 3600)]
    routes = regret_insertion(build_routing_arrays(make_problem([make_technician()], orders)))
    assert sum(len(r) for r in routes) == 1
