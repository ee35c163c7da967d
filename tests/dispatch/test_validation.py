"""``validate_problem(fleet_checked=True)``: a live day's fleet is not checked again per order."""

from typing import Any

import pytest

from dispatch import (
    DispatchError,
    InvalidField,
    InvalidLocation,
    Problem,
    UnknownReference,
    UnknownSkill,
    WindowOutsideShifts,
)
from dispatch.model import TimeWindow
from dispatch.validation import validate_problem

from .conftest import make_order, make_problem, make_technician


def _unchecked(problem: Problem, **fields: Any) -> Problem:
    """``problem`` with ``fields`` replaced and no check run (as a live day assembles one)."""
    built = object.__new__(Problem)
    for name in Problem.__dataclass_fields__:
        object.__setattr__(built, name, fields.get(name, getattr(problem, name)))
    return built


def test_a_checked_fleet_is_not_checked_again() -> None:
    day = make_problem([make_technician()], [make_order()])
    bad_fleet = (make_technician(),)  # a fleet problem only a full check finds
    object.__setattr__(bad_fleet[0], "capacity", -1)
    problem = _unchecked(day, technicians=bad_fleet)
    validate_problem(problem, fleet_checked=True)
    with pytest.raises(InvalidField, match="capacity"):
        validate_problem(problem)


@pytest.mark.parametrize(
    ("order", "error"),
    [
        (make_order(location=(200.0, 31.0)), InvalidLocation),
        (make_order(required_skills={"welding": 1}), UnknownSkill),
        (make_order(windows=(TimeWindow(90_000, 95_000),)), WindowOutsideShifts),
        (make_order(pinned_to="nobody"), UnknownReference),
        (make_order(duration_s=-5), InvalidField),
    ],
)
def test_the_order_is_still_checked_against_the_fleet(
    order: Any, error: type[DispatchError]
) -> None:
    day = make_problem([make_technician()], [make_order()])
    with pytest.raises(error):
        validate_problem(_unchecked(day, orders=(order,)), fleet_checked=True)
