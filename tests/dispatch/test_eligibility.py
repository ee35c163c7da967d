"""Who may serve whom: the refusal codes, and the solver's matrices built from them."""

import itertools
from typing import Any

import numpy as np
import pytest

from dispatch import Problem, Technician, TechnicianId, WorkOrder
from dispatch.eligibility import Refusal, RefusalCode, eligibility_matrix, refusals
from dispatch.routing_arrays import build_routing_arrays
from tests.dispatch.conftest import make_order, make_problem, make_technician


@pytest.fixture(scope="module")
def mixed_problem() -> Problem:
    """Five technicians (levels, territories, pin targets) and every kind of order on them."""
    techs = [
        make_technician("junior", skills={"ac": 1}),
        make_technician("senior", skills={"ac": 3, "gas": 2}),
        make_technician("senior2", skills={"ac": 3, "gas": 2}),  # same profile as senior
        make_technician("pudong", skills={"ac": 2}, territory=frozenset({"pudong"})),
        make_technician("nowhere", skills={"ac": 3, "gas": 3}, territory=frozenset()),
    ]
    orders = [
        make_order(f"o{i}", 1, required_skills=skills, region_id=region, pinned_to=pin)
        for i, (skills, region, pin) in enumerate(
            itertools.product(
                ({}, {"ac": 1}, {"ac": 2}, {"ac": 3, "gas": 1}, {"gas": 3}),
                (None, "pudong", "xuhui"),
                (None, TechnicianId("senior"), TechnicianId("pudong")),
            )
        )
    ]
    return make_problem(techs, orders, skill_catalog=frozenset({"ac", "gas"}))


def codes(technician: Technician, order: WorkOrder) -> list[str]:
    return [r.code.value for r in refusals(technician, order)]


def test_refusals_name_each_skill_then_territory_then_pin() -> None:
    tech = make_technician("t1", skills={"ac": 1, "gas": 2}, territory=frozenset({"pudong"}))
    order = make_order(
        required_skills={"gas": 2, "ac": 2, "water": 1}, region_id="xuhui",
        pinned_to=TechnicianId("t2"),
    )  # fmt: skip
    assert refusals(tech, order) == (
        Refusal(RefusalCode.SKILL_LEVEL_TOO_LOW, "ac", 2, 1),
        Refusal(RefusalCode.SKILL_MISSING, "water", 1, None),
        Refusal(RefusalCode.OUTSIDE_TERRITORY),
        Refusal(RefusalCode.PINNED_ELSEWHERE),
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, []),
        ({"required_skills": {"ac": 3}}, ["skill_level_too_low"]),
        ({"required_skills": {}}, []),
        ({"region_id": None}, ["outside_territory"]),
        ({"region_id": "xuhui"}, ["outside_territory"]),
        ({"pinned_to": TechnicianId("t1")}, []),
        ({"pinned_to": TechnicianId("t9")}, ["pinned_elsewhere"]),
    ],
)
def test_refusal_edges(overrides: dict[str, Any], expected: list[str]) -> None:
    tech = make_technician("t1", skills={"ac": 2}, territory=frozenset({"pudong"}))
    assert codes(tech, make_order(**{"region_id": "pudong", **overrides})) == expected


def test_no_territory_serves_anywhere_even_without_a_region() -> None:
    assert codes(make_technician(), make_order(region_id=None)) == []


def test_matrix_is_refusals_on_every_pair(mixed_problem: Problem) -> None:
    techs, orders = mixed_problem.technicians, mixed_problem.orders
    matrix = eligibility_matrix(techs, orders)
    for (i, order), (k, tech) in itertools.product(enumerate(orders), enumerate(techs)):
        found = set(codes(tech, order))
        assert matrix.has_skills[i, k] == (not found & {"skill_missing", "skill_level_too_low"})
        assert matrix.in_territory[i, k] == (not found & {"outside_territory", "pinned_elsewhere"})
        assert matrix.eligible[i, k] == (not found)
    assert matrix.eligible.any() and not matrix.eligible.all()


def test_solver_allows_only_eligible_pairs(mixed_problem: Problem) -> None:
    """Every order is near the base in a full-day shift, so eligibility alone decides."""
    arrays = build_routing_arrays(mixed_problem)
    expected = eligibility_matrix(mixed_problem.technicians, mixed_problem.orders).eligible
    by_vehicle = expected[:, [v.technician_index for v in arrays.vehicles]]
    np.testing.assert_array_equal(arrays.allowed, by_vehicle)
    assert all(
        arrays.allowed[i, k] == mixed_problem.can_serve(t, o)
        for (i, o), (k, t) in itertools.product(
            enumerate(mixed_problem.orders), enumerate(mixed_problem.technicians)
        )
    )


def test_empty_fleet_or_orders_give_empty_matrices() -> None:
    matrix = eligibility_matrix([make_technician()], [])
    assert matrix.has_skills.shape == (0, 1) and matrix.in_territory.shape == (0, 1)
