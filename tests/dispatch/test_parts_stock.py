"""Parts stock per type: a route holds only while every part type its orders use lasts.

Instances sit on the street of ``conftest``: location ``x`` is ``x`` hundredths of a degree
east of the base, ten minutes a step. Lock cylinders are the part most tests count.
"""

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch import DropReason, Kpis, Plan, Problem, SolveParams, solve
from dispatch.availability import offers
from dispatch.errors import InvalidField
from dispatch.insertion import Insertion, LivePlan, NoInsertion
from dispatch.local_search import LocalSearch
from dispatch.model import TechnicianId, WorkOrderId
from dispatch.routing_arrays import UNLIMITED, build_routing_arrays

from .conftest import at, make_order, make_problem, make_technician, window

FAST = SolveParams(time_limit_s=1.0, is_deterministic=True, solution_limit=20)
LOCK = "lock-cylinder"
PART_TYPES = (LOCK, "valve", "gasket")


def lock_order(order_id: str, step: float, units: int = 1, **overrides: Any) -> Any:
    return make_order(order_id, step, parts={LOCK: units}, **overrides)


def assert_stock_holds(problem: Problem, plan: Plan) -> None:
    """Every route uses at most its technician's stock of each part type (unlisted: 0)."""
    techs = {t.id: t for t in problem.technicians}
    orders = {o.id: o for o in problem.orders}
    for route in plan.routes:
        stock = techs[route.technician_id].stock
        for part_type in PART_TYPES:
            used = sum(orders[s.order_id].parts.get(part_type, 0) for s in route.stops)
            assert used <= stock.get(part_type, 0), (route.technician_id, part_type, used)


def served_by(plan: Plan) -> dict[str, str]:
    return {s.order_id: r.technician_id for r in plan.routes for s in r.stops}


def empty_plan(problem: Problem) -> Plan:
    n = len(problem.orders)
    return Plan(problem.origin, (), (), Kpis(0, n, 1.0, None, 0.0, {}, 0, 0.0, 0))


def test_each_technician_serves_only_as_many_orders_as_its_parts_last() -> None:
    techs = [
        make_technician("near", stock={LOCK: 1, "gasket": 5}),
        make_technician("far", start=at(6), stock={LOCK: 1}),
    ]
    problem = make_problem(techs, [lock_order("a", 1), lock_order("b", 2)])
    plan = solve(problem, FAST)
    assert_stock_holds(problem, plan)
    assert sorted(served_by(plan).values()) == ["far", "near"]


def test_the_order_left_without_a_part_is_unassigned_naming_the_part() -> None:
    techs = [make_technician("near", stock={LOCK: 1}), make_technician("empty")]
    problem = make_problem(techs, [lock_order("a", 1), lock_order("b", 2), make_order("c", 3)])
    plan = solve(problem, FAST)
    assert_stock_holds(problem, plan)
    (left,) = plan.unassigned
    assert left.reason == DropReason.CAPACITY
    assert f"2 out of {LOCK}" in left.message  # "near" used its one, "empty" carries none
    assert "c" in served_by(plan)  # an order without parts is not held up


def test_an_order_needing_more_than_anyone_carries_is_unassigned_naming_the_part() -> None:
    techs = [make_technician("t1", stock={"valve": 1}), make_technician("t2", stock={LOCK: 3})]
    orders = [make_order("valves", 1, parts={"valve": 2, LOCK: 1}), make_order("plain", 2)]
    plan = solve(make_problem(techs, orders), FAST)
    (left,) = plan.unassigned
    assert (left.order_id, left.reason) == ("valves", DropReason.CAPACITY)
    assert "needs 2 valve (at most 1 carried)" in left.message
    assert LOCK not in left.message  # three lock cylinders are carried: not the problem


def test_the_one_number_capacity_still_counts_beside_the_parts() -> None:
    tech = make_technician(capacity=1, stock={LOCK: 5})
    problem = make_problem([tech], [lock_order("a", 1, demand=1), lock_order("b", 2, demand=1)])
    plan = solve(problem, FAST)
    (left,) = plan.unassigned
    assert left.reason == DropReason.CAPACITY and "1 at capacity" in left.message


def test_tools_are_skills_not_stock() -> None:
    """A torque wrench is needed, not used up: every order may require it."""
    tech = make_technician(skills={"ac": 1, "torque-wrench": 1})
    orders = [make_order(f"o{i}", i, required_skills={"torque-wrench": 1}) for i in (1, 2, 3)]
    plan = solve(make_problem([tech], orders), FAST)
    assert plan.kpis.assigned == 3


def test_only_part_types_some_order_uses_get_a_load_dimension() -> None:
    techs = [make_technician(stock={LOCK: 1, "valve": 2, "unused": 9}), make_technician("t2")]
    orders = [make_order("a", 1, parts={"valve": 1}), make_order("b", 2, parts={LOCK: 0})]
    arrays = build_routing_arrays(make_problem(techs, orders))
    assert arrays.part_types == ("valve",)
    assert arrays.demand.tolist() == [[0, 1], [0, 0]]
    assert [v.capacities for v in arrays.vehicles] == [(UNLIMITED, 2), (UNLIMITED, 0)]
    plain = build_routing_arrays(make_problem(techs, [make_order("a", 1, demand=2)]))
    assert (plain.part_types, plain.demand.tolist()) == ((), [[2]])


@pytest.mark.parametrize(
    ("technician", "order", "field"),
    [
        ({"stock": {LOCK: -1}}, {}, "stock"),
        ({}, {"parts": {LOCK: -2}}, "parts"),
        ({}, {"parts": {LOCK: True}}, "parts"),
        ({"stock": {"": 1}}, {}, "stock"),
        ({}, {"parts": {LOCK: 1.5}}, "parts"),
    ],
)
def test_bad_units_are_invalid_fields(
    technician: dict[str, Any], order: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidField) as raised:
        make_problem([make_technician(**technician)], [make_order(**order)])
    assert raised.value.details["field"] == field


def test_insertion_takes_the_far_technician_once_the_near_one_runs_out() -> None:
    techs = [make_technician("near", stock={LOCK: 1}), make_technician("far", start=at(8))]
    orders = [lock_order("a", 1), lock_order("new", 2), make_order("plain", 2)]
    no_far_stock = make_problem(techs, orders)
    live = LivePlan(no_far_stock, empty_plan(no_far_stock))
    assert isinstance(live.insert(WorkOrderId("a")), Insertion)
    refused = live.best_insertion(WorkOrderId("new"))
    assert isinstance(refused, NoInsertion) and refused.reason == DropReason.CAPACITY
    assert LOCK in refused.message
    plain = live.best_insertion(WorkOrderId("plain"))
    assert isinstance(plain, Insertion) and plain.technician_id == "near"  # only parts ran out

    far_stocked = dataclasses.replace(techs[1], stock={LOCK: 1})
    problem = make_problem([techs[0], far_stocked], orders)
    live = LivePlan(problem, empty_plan(problem))
    assert isinstance(live.insert(WorkOrderId("a")), Insertion)
    placed = live.insert(WorkOrderId("new"))
    assert isinstance(placed, Insertion) and placed.technician_id == "far"
    assert_stock_holds(problem, live.plan)


def test_availability_offers_only_technicians_who_carry_the_part() -> None:
    techs = [make_technician("stocked", stock={LOCK: 1}), make_technician("bare")]
    problem = make_problem(techs, [lock_order("new", 1, windows=(window(9, 15),))])
    found = offers(LivePlan(problem, empty_plan(problem)), WorkOrderId("new"))
    assert found and {o.technician_id for o in found} == {TechnicianId("stocked")}


@st.composite
def stocked_days(draw: st.DrawFn) -> Problem:
    """One to three technicians with random stock and two to nine orders using random parts."""
    units = st.dictionaries(st.sampled_from(PART_TYPES), st.integers(0, 3), max_size=3)
    techs = [
        make_technician(
            f"t{k}", start=at(draw(st.integers(-4, 4))), stock=draw(units),
            capacity=draw(st.one_of(st.none(), st.integers(1, 6))),
        )
        for k in range(draw(st.integers(1, 3)))
    ]  # fmt: skip
    orders = []
    for i in range(draw(st.integers(2, 9))):
        opens = draw(st.integers(8, 15))
        orders.append(
            make_order(
                f"o{i}", draw(st.integers(-6, 6)),
                parts=draw(st.dictionaries(st.sampled_from(PART_TYPES), st.integers(0, 2),
                                           max_size=2)),
                demand=draw(st.integers(0, 2)), priority=draw(st.integers(0, 1)),
                windows=draw(st.sampled_from([(), (window(opens, opens + 2),)])),
            )
        )  # fmt: skip
    return make_problem(techs, orders)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stocked_days())
def test_the_search_never_plans_past_a_technicians_stock(problem: Problem) -> None:
    plan = solve(problem, FAST)
    assert_stock_holds(problem, plan)
    served = set(served_by(plan))
    assert served.isdisjoint(u.order_id for u in plan.unassigned)
    assert served | {u.order_id for u in plan.unassigned} == {o.id for o in problem.orders}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stocked_days(), st.integers(0, 2**16))
def test_no_state_of_the_search_exceeds_a_stock(problem: Problem, seed: int) -> None:
    """The search's own routes, before the exact schedule trims anything, keep every stock."""
    arrays = build_routing_arrays(problem)
    search = LocalSearch(arrays, np.full(arrays.n_orders, 10**6), (1, 0, 0), seed)
    search.run(10.0, 300)
    for v, route in enumerate(search.best_routes):
        tech = problem.technicians[arrays.vehicles[v].technician_index]
        for part_type in PART_TYPES:
            used = sum(problem.orders[o].parts.get(part_type, 0) for o in route)
            assert used <= tech.stock.get(part_type, 0), (tech.id, part_type)
