import numpy as np

from dispatch import Shift
from dispatch.feasibility import route_timing
from dispatch.routing_arrays import build_routing_arrays

from .conftest import at, make_order, make_problem, make_technician, window


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


def test_an_order_is_allowed_on_a_vehicle_exactly_when_it_fits_there_alone() -> None:
    # More vehicles than one block of the vectorised check, shifts and windows of every kind:
    # each (order, vehicle) must agree with the exact timing of a route of that order alone.
    rng = np.random.default_rng(7)
    technicians = [
        make_technician(
            f"t{i}",
            start=at(float(rng.integers(0, 40))),
            shifts=(
                Shift(
                    *sorted(int(h) * 3600 for h in rng.choice(np.arange(6, 22), 2, replace=False))
                ),
            ),
        )
        for i in range(70)
    ]
    shapes = [(), (window(8, 9),), (window(7, 8), window(15, 16)), (window(21, 23),)]
    orders = [
        make_order(f"o{i}", float(rng.integers(0, 40)), windows=shapes[i % len(shapes)])
        for i in range(24)
    ]
    arrays = build_routing_arrays(make_problem(technicians, orders))
    fits = [
        [route_timing(arrays, v, [o]).is_feasible for v in range(len(arrays.vehicles))]
        for o in range(len(orders))
    ]
    np.testing.assert_array_equal(arrays.allowed, np.asarray(fits))
    assert 0 < arrays.allowed.sum() < arrays.allowed.size
