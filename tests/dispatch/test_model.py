import dataclasses

import numpy as np
import pytest
from numpy.typing import ArrayLike, NDArray

from dispatch import (
    Break,
    DispatchError,
    DuplicateId,
    InvalidField,
    InvalidLocation,
    InvalidSolveParams,
    InvalidTimeWindow,
    InvalidTravelMatrix,
    ObjectiveWeights,
    Problem,
    Shift,
    SolveParams,
    TechnicianId,
    UnknownReference,
    UnknownSkill,
    WindowOutsideShifts,
    WorkOrderId,
)
from dispatch.model import node_lonlats
from geo.distance import HaversineTravelTime, haversine_matrix_m

from .conftest import DAY, ORIGIN, at, make_order, make_problem, make_technician, window


def test_valid_problem_has_node_layout() -> None:
    problem = make_problem([make_technician()], [make_order()])
    assert problem.n_nodes == 1 + 3
    assert (problem.base_node(0), problem.end_node(0), problem.current_node(0)) == (1, 2, 3)


def test_duplicate_order_ids_are_named() -> None:
    with pytest.raises(DuplicateId) as err:
        make_problem([make_technician()], [make_order("a"), make_order("a", 2)])
    assert err.value.code == "duplicate_id"
    assert err.value.details["ids"] == ["a"]


def test_duplicate_technician_ids_are_named() -> None:
    with pytest.raises(DuplicateId, match="t1"):
        make_problem([make_technician(), make_technician()], [make_order()])


def test_unknown_skill_names_order_and_skill() -> None:
    with pytest.raises(UnknownSkill) as err:
        make_problem([make_technician()], [make_order("x", required_skills={"acc": 1})])
    assert err.value.details == {"order_ids": ["x"], "skills": ["acc"]}


def test_skill_in_catalogue_is_not_unknown() -> None:
    order = make_order("x", required_skills={"solar": 1})
    problem = make_problem([make_technician()], [order], skill_catalog=frozenset({"solar"}))
    assert not problem.can_serve(problem.technicians[0], order)


@pytest.mark.parametrize(
    "windows",
    [
        (window(10, 9),),
        (window(10, 10),),
        (window(9, 11), window(10, 12)),
        (window(11, 12), window(9, 10)),
    ],
)
def test_bad_windows_are_rejected(windows: tuple) -> None:
    with pytest.raises(InvalidTimeWindow) as err:
        make_problem([make_technician()], [make_order("w", windows=windows)])
    assert err.value.details["order_id"] == "w"


def test_window_outside_every_shift() -> None:
    with pytest.raises(WindowOutsideShifts) as err:
        make_problem([make_technician()], [make_order("late", windows=(window(20, 22),))])
    assert err.value.details["order_ids"] == ["late"]


@pytest.mark.parametrize("point", [(float("nan"), 31.0), (121.0, 95.0), (float("inf"), 0.0)])
def test_non_finite_or_out_of_range_location(point: tuple[float, float]) -> None:
    with pytest.raises(InvalidLocation) as err:
        make_problem([make_technician()], [make_order("bad", location=point)])
    assert err.value.details["order_id"] == "bad"


def test_bad_technician_location_is_named() -> None:
    with pytest.raises(InvalidLocation) as err:
        make_problem([make_technician(end=(200.0, 0.0))], [make_order()])
    assert err.value.details == {"lonlat": [200.0, 0.0], "technician_id": "t1", "field": "end"}


def test_break_outside_shift_and_negative_duration() -> None:
    with pytest.raises(InvalidTimeWindow):
        make_problem([make_technician(shifts=(Shift(0, 100, (Break(50, 150, 10),)),))], [])
    with pytest.raises(InvalidField) as err:
        make_problem([make_technician()], [make_order("neg", duration_s=-1)])
    assert err.value.details["field"] == "duration_s"


def test_unknown_pin_and_locked_stop() -> None:
    with pytest.raises(UnknownReference):
        make_problem([make_technician()], [make_order(pinned_to=TechnicianId("ghost"))])
    with pytest.raises(UnknownReference):
        make_problem([make_technician(locked_stops=(WorkOrderId("ghost"),))], [make_order()])


def test_matrix_shape_and_type_are_checked() -> None:
    techs, orders = [make_technician()], [make_order()]
    with pytest.raises(InvalidTravelMatrix):
        make_problem(techs, orders, travel_s=np.zeros((3, 3), np.int32))
    with pytest.raises(InvalidTravelMatrix):
        make_problem(techs, orders, travel_s=np.zeros((4, 4), np.float64))
    with pytest.raises(InvalidTravelMatrix):
        make_problem(techs, orders, travel_s=-np.ones((4, 4), np.int32))


def test_naive_origin_is_rejected() -> None:
    problem = make_problem([make_technician()], [make_order()])
    with pytest.raises(InvalidField):
        dataclasses.replace(problem, origin=problem.origin.replace(tzinfo=None))


def test_every_error_is_a_dispatch_error_with_code() -> None:
    for cls in (DuplicateId, UnknownSkill, InvalidTimeWindow, InvalidSolveParams):
        assert issubclass(cls, DispatchError)
        assert cls.code != DispatchError.code


def test_senior_technician_is_faster() -> None:
    senior = make_technician("s", skills={"ac": 3})
    order = make_order(duration_s=3600)
    problem = make_problem([senior], [order], duration_factor_by_level={3: 0.75})
    assert problem.service_s(order, senior) == 2700


def test_can_serve_checks_level_territory_and_pin() -> None:
    junior = make_technician("j", skills={"ac": 1}, territory=frozenset({"pudong"}))
    order = make_order(required_skills={"ac": 2}, region_id="pudong")
    problem = make_problem([junior], [order])
    assert not problem.can_serve(junior, order)
    assert problem.can_serve(junior, dataclasses.replace(order, required_skills={"ac": 1}))
    outside = dataclasses.replace(order, required_skills={"ac": 1}, region_id="xuhui")
    assert not problem.can_serve(junior, outside)


def test_open_shifts_clip_to_available_time() -> None:
    tech = make_technician(shifts=(DAY, Shift(DAY.start_s + 86400, DAY.end_s + 86400)),
                           available_from_s=DAY.end_s + 1, current_position=at(3))  # fmt: skip
    assert [i for i, _ in tech.open_shifts()] == [1]


def test_solve_params_check_themselves() -> None:
    with pytest.raises(InvalidSolveParams):
        SolveParams(time_limit_s=0)
    with pytest.raises(InvalidSolveParams):
        SolveParams(time_limit_s=10_000)
    with pytest.raises(InvalidSolveParams):
        SolveParams(is_deterministic=True)
    with pytest.raises(InvalidSolveParams):
        ObjectiveWeights(travel_per_s=-1)


def test_drop_penalty_grows_with_priority() -> None:
    weights = ObjectiveWeights(drop_penalty=1000, priority_factor=10)
    assert weights.drop_penalty_for(-1) < weights.drop_penalty_for(0) < weights.drop_penalty_for(2)
    assert weights.drop_penalty_for(2) == 100_000
    with pytest.raises(InvalidSolveParams):
        weights.drop_penalty_for(40)


class _SlowerHaversine(HaversineTravelTime):
    """A provider that changes how travel times are made: its own ``matrix_s`` must be used."""

    def matrix_s(
        self, lons: ArrayLike, lats: ArrayLike, *, depart_hour: int | None = None
    ) -> NDArray[np.int32]:
        return super().matrix_s(lons, lats, depart_hour=depart_hour) * 2


def test_travel_times_from_a_provider_reuse_the_distances_with_the_same_seconds() -> None:
    techs, orders = (make_technician(),), (make_order("a"), make_order("b", 2))
    lons, lats = node_lonlats(techs, orders)
    haversine = HaversineTravelTime()
    problem = Problem.with_travel_times(ORIGIN, techs, orders, haversine)
    assert np.array_equal(problem.travel_s, haversine.matrix_s(lons, lats))
    assert np.array_equal(problem.distance_m, haversine_matrix_m(lons, lats))  # type: ignore[arg-type]
    slower = Problem.with_travel_times(ORIGIN, techs, orders, _SlowerHaversine())
    assert np.array_equal(slower.travel_s, 2 * problem.travel_s)
