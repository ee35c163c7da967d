from dispatch.feasibility import route_timing
from dispatch.routing_arrays import build_routing_arrays

from .conftest import make_order, make_problem, make_technician, window


def test_route_timing_by_hand() -> None:
    # base at 0, orders 10 and 20 minutes away, 30 min service, shift 08:00-18:00
    problem = make_problem([make_technician()], [make_order("a", 1), make_order("b", 2)])
    arrays = build_routing_arrays(problem)
    timing = route_timing(arrays, 0, [0, 1])
    eight = 8 * 3600
    assert timing.earliest_s.tolist() == [eight, eight + 600, eight + 600 + 1800 + 600,
                                          eight + 600 + 1800 + 600 + 1800 + 1200]  # fmt: skip
    assert timing.latest_s[-1] == 18 * 3600
    assert timing.latest_s[2] == 18 * 3600 - 1200 - 1800
    assert timing.is_feasible and timing.working_s == 600 + 600 + 1200 + 3600


def test_window_closed_makes_route_infeasible() -> None:
    early = make_order("early", 6, windows=(window(8, 8.5),))  # one hour away
    problem = make_problem([make_technician()], [early])
    arrays = build_routing_arrays(problem)
    assert not route_timing(arrays, 0, [0]).is_feasible
    assert not arrays.allowed[0, 0]
