"""The demo generator: deterministic, sized as asked, realistic and valid."""

import numpy as np
import pytest

from dispatch.demo import (
    SKILL_CATALOG,
    DemoParams,
    Places,
    demo_problem,
)
from dispatch.errors import InvalidField
from dispatch.model import Problem
from dispatch.problem_io import problem_to_dict
from geo.distance import HaversineTravelTime, haversine_m

# Six real places: three Shanghai metro stations (Huangpu, Xuhui, Pudong), two Suzhou towns.
PLACES = Places(
    lons=np.array([121.469944, 121.437, 121.5447, 121.6106, 120.6195, 120.9581]),
    lats=np.array([31.218099, 31.1884, 31.2215, 31.2058, 31.2990, 31.3850]),
    district_ids=np.array(["310101", "310104", "310115", "310115", "320508", "320583"]),
)


@pytest.fixture(scope="module")
def problem() -> Problem:
    """A 20-technician, 200-order day on the six places above, seed 7."""
    return demo_problem(PLACES, HaversineTravelTime(), DemoParams(20, 200, seed=7))


def test_same_seed_same_problem_other_seed_other_problem(problem: Problem) -> None:
    again = demo_problem(PLACES, HaversineTravelTime(), DemoParams(20, 200, seed=7))
    other = demo_problem(PLACES, HaversineTravelTime(), DemoParams(20, 200, seed=8))
    assert problem_to_dict(again) == problem_to_dict(problem)
    assert np.array_equal(again.travel_s, problem.travel_s)
    assert problem_to_dict(other) != problem_to_dict(problem)


def test_sizes_and_unique_ids(problem: Problem) -> None:
    assert len(problem.technicians) == 20
    assert len(problem.orders) == 200
    assert problem.travel_s.shape == (problem.n_nodes, problem.n_nodes)


def test_locations_stay_near_real_places(problem: Problem) -> None:
    locations = [o.location for o in problem.orders] + [t.start for t in problem.technicians]
    points = np.asarray(locations)
    nearest_m = haversine_m(
        points[:, 0, None], points[:, 1, None], PLACES.lons[None, :], PLACES.lats[None, :]
    ).min(axis=1)
    assert nearest_m.max() < 6_000  # 400 m jitter for orders, 1.2 km for bases: 5 sigma


def test_technicians_are_realistic(problem: Problem) -> None:
    for tech in problem.technicians:
        assert 2 <= len(tech.skills) <= 4
        assert set(tech.skills) <= set(SKILL_CATALOG)
        assert all(1 <= level <= 3 for level in tech.skills.values())
        (shift,) = tech.shifts
        assert shift.end_s - shift.start_s == 10 * 3600
        (lunch,) = shift.breaks
        assert shift.start_s < lunch.earliest_start_s <= lunch.latest_start_s < shift.end_s
        assert tech.max_orders and tech.capacity and tech.max_working_s
    limited = [t for t in problem.technicians if t.territory is not None]
    assert 0 < len(limited) < len(problem.technicians)


def test_orders_are_realistic(problem: Problem) -> None:
    shift_start = min(t.shifts[0].start_s for t in problem.technicians)
    for order in problem.orders:
        assert 20 * 60 <= order.duration_s <= 150 * 60
        assert 1 <= len(order.windows) <= 2
        assert all(shift_start <= w.start_s < w.end_s <= 18 * 3600 for w in order.windows)
        assert order.region_id in set(PLACES.district_ids.tolist())
        if order.priority == 2:
            assert order.sla_deadline_s is not None
    priorities = [o.priority for o in problem.orders]
    assert 0 < priorities.count(2) < 40  # a few emergencies (5 % of 200)


def test_bad_params_are_rejected() -> None:
    with pytest.raises(InvalidField):
        DemoParams(0, 10)
    with pytest.raises(InvalidField):
        DemoParams(1, 10, emergency_share=1.5)
    with pytest.raises(InvalidField):
        Places(np.array([1.0]), np.array([]), np.array(["a"]))


def test_lunch_breaks_can_be_left_out_without_changing_the_rest() -> None:
    with_breaks = demo_problem(PLACES, HaversineTravelTime(), DemoParams(4, 30, seed=2))
    without = demo_problem(
        PLACES, HaversineTravelTime(), DemoParams(4, 30, seed=2, has_lunch_breaks=False)
    )
    assert all(not s.breaks for t in without.technicians for s in t.shifts)
    assert without.orders == with_breaks.orders
    assert [t.skills for t in without.technicians] == [t.skills for t in with_breaks.technicians]
