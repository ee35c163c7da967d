"""Problem and plan documents: round trips, supplied matrices, and one error per bad input."""

import copy
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dispatch import DispatchError, Problem, SolveParams, solve
from dispatch.errors import DuplicateId, InvalidField, InvalidLocation
from dispatch.model import Shift, Technician, TechnicianId, TimeWindow, WorkOrder, WorkOrderId
from dispatch.plan_io import plan_from_dict, plan_to_dict
from dispatch.problem_io import InvalidDocument, problem_from_dict, problem_to_dict
from geo.distance import HaversineTravelTime

CST = timezone(timedelta(hours=8))
ORIGIN = datetime(2026, 11, 23, tzinfo=CST)
HAVERSINE = HaversineTravelTime()


def small_problem() -> Problem:
    """Two technicians in Shanghai and four orders, one needing a level-2 skill, no breaks."""
    techs = (
        Technician(TechnicianId("t1"), (121.47, 31.22), (Shift(8 * 3600, 18 * 3600),),
                   skills={"plumbing": 2}, max_orders=3, capacity=5, territory=frozenset({"a"})),
        Technician(TechnicianId("t2"), (121.44, 31.19), (Shift(9 * 3600, 17 * 3600),),
                   skills={"plumbing": 1, "aircon": 1}, max_working_s=7 * 3600),
    )  # fmt: skip
    orders = tuple(
        WorkOrder(WorkOrderId(f"o{i}"), (121.45 + 0.01 * i, 31.2), 3600,
                  required_skills={"plumbing": 1 + (i == 0)},
                  windows=(TimeWindow(9 * 3600, 12 * 3600), TimeWindow(14 * 3600, 16 * 3600)),
                  priority=i % 2, sla_deadline_s=11 * 3600 if i == 1 else None, demand=1,
                  region_id="a")
        for i in range(4)
    )  # fmt: skip
    return Problem.with_travel_times(
        ORIGIN, techs, orders, HAVERSINE, duration_factor_by_level={2: 0.9}
    )


@pytest.fixture
def document() -> dict[str, Any]:
    """The JSON document of ``small_problem``, as read back from text."""
    doc: dict[str, Any] = json.loads(json.dumps(problem_to_dict(small_problem())))
    return doc


def test_problem_round_trip_through_json(document: dict[str, Any]) -> None:
    problem = problem_from_dict(document, HAVERSINE)
    assert problem_to_dict(problem) == document
    assert np.array_equal(problem.travel_s, small_problem().travel_s)
    assert document["orders"][0]["windows"][0] == {
        "start": "2026-11-23T09:00:00+08:00", "end": "2026-11-23T12:00:00+08:00"
    }  # fmt: skip


def test_stock_and_parts_round_trip_through_json() -> None:
    problem = small_problem()
    stocked = Problem(
        problem.origin,
        (replace(problem.technicians[0], stock={"valve": 2, "gasket": 10}),
         problem.technicians[1]),
        (replace(problem.orders[0], parts={"valve": 1}), *problem.orders[1:]),
        problem.travel_s,
    )  # fmt: skip
    document = json.loads(json.dumps(problem_to_dict(stocked)))
    assert document["technicians"][0]["stock"] == {"valve": 2, "gasket": 10}
    assert document["orders"][0]["parts"] == {"valve": 1}
    again = problem_from_dict(document, HAVERSINE)
    assert again.technicians == stocked.technicians and again.orders == stocked.orders
    assert problem_to_dict(again) == document


def test_documents_without_stock_or_parts_read_as_none(document: dict[str, Any]) -> None:
    for entry in (*document["technicians"], *document["orders"]):
        entry.pop("stock", None)
        entry.pop("parts", None)
    problem = problem_from_dict(document, HAVERSINE)
    assert all(not t.stock for t in problem.technicians)
    assert all(not o.parts for o in problem.orders)


def test_negative_units_are_the_models_error(document: dict[str, Any]) -> None:
    document["orders"][2]["parts"] = {"valve": -1}
    with pytest.raises(InvalidField) as caught:
        problem_from_dict(document, HAVERSINE)
    assert caught.value.details == {"order_id": "o2", "field": "parts", "part_type": "valve",
                                    "value": -1}  # fmt: skip


def test_times_in_another_offset_mean_the_same_instant(document: dict[str, Any]) -> None:
    document["orders"][0]["windows"][0]["start"] = "2026-11-23T01:00:00+00:00"  # 09:00 +08
    problem = problem_from_dict(document, HAVERSINE)
    assert problem.orders[0].windows[0].start_s == 9 * 3600


def test_supplied_travel_matrix_is_used(document: dict[str, Any]) -> None:
    n = small_problem().n_nodes
    document["travel_s"] = (np.full((n, n), 60) - 60 * np.eye(n, dtype=int)).tolist()
    problem = problem_from_dict(document, HAVERSINE)
    assert problem.travel_s[0, 1] == 60
    assert problem.distance_m is None


@pytest.mark.parametrize(
    ("edit", "error", "field"),
    [
        (lambda d: d.pop("origin"), InvalidDocument, "origin"),
        (lambda d: d.update(origin="2026-11-23T00:00:00"), InvalidDocument, "origin"),
        (lambda d: d["orders"][1].update(duration_s="1h"), InvalidDocument, "orders[1].duration_s"),
        (lambda d: d["orders"][1].update(demand=True), InvalidDocument, "orders[1].demand"),
        (lambda d: d["orders"][2].update(location=[121.4]), InvalidDocument, "orders[2].location"),
        (lambda d: d["orders"][0]["windows"][1].update(end="tomorrow"), InvalidDocument,
         "orders[0].windows[1].end"),
        (lambda d: d["technicians"][0].update(shifts={}), InvalidDocument, "technicians[0].shifts"),
        (lambda d: d["technicians"][1]["skills"].update(aircon="high"), InvalidDocument, "skills"),
        (lambda d: d.update(travel_s=[[0.5]]), InvalidDocument, "travel_s"),
        (lambda d: d.update(technicians="t1"), InvalidDocument, "technicians"),
        (lambda d: d["technicians"][0].update(stock={"valve": "2"}), InvalidDocument,
         "technicians[0].stock.valve"),
        (lambda d: d["orders"][0].update(parts=["valve"]), InvalidDocument, "orders[0].parts"),
    ],
)  # fmt: skip
def test_bad_fields_name_their_path(
    document: dict[str, Any], edit: Any, error: type[DispatchError], field: str
) -> None:
    edit(document)
    with pytest.raises(error) as caught:
        problem_from_dict(document, HAVERSINE)
    assert caught.value.details["field"] == field
    assert field.split(".")[0] in str(caught.value)


def test_model_checks_follow_reading(document: dict[str, Any]) -> None:
    duplicated = copy.deepcopy(document)
    duplicated["orders"][1]["id"] = "o0"
    with pytest.raises(DuplicateId, match="o0"):
        problem_from_dict(duplicated, HAVERSINE)
    document["orders"][3]["location"] = [float("nan"), 31.2]
    with pytest.raises(InvalidLocation):
        problem_from_dict(document, HAVERSINE)


def test_plan_round_trip_through_json() -> None:
    problem = small_problem()
    plan = solve(problem, SolveParams(2.0, is_deterministic=True, solution_limit=5))
    assert plan.routes  # a real plan, not an empty one
    document = json.loads(json.dumps(plan_to_dict(plan)))
    assert plan_from_dict(document) == plan
    first = document["routes"][0]["stops"][0]
    assert datetime.fromisoformat(first["start"]) == plan.at(plan.routes[0].stops[0].start_s)


def test_plan_document_without_first_feasible_time_reads() -> None:
    plan = solve(small_problem(), SolveParams(1.0, is_deterministic=True, solution_limit=1))
    assert plan.kpis.first_feasible_s is not None
    document = plan_to_dict(plan)
    del document["kpis"]["first_feasible_s"]  # written before the figure existed
    assert plan_from_dict(document).kpis.first_feasible_s is None


def test_plan_with_an_unknown_reason_is_rejected() -> None:
    plan = solve(small_problem(), SolveParams(1.0, is_deterministic=True, solution_limit=1))
    document = plan_to_dict(plan)
    document["unassigned"] = [{"order_id": "o1", "reason": "bored", "message": ""}]
    with pytest.raises(InvalidDocument, match="unassigned"):
        plan_from_dict(document)


def test_the_documented_example_reads() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "problem-format.md"
    example = docs.read_text().split("```json\n", 1)[1].split("```", 1)[0]
    problem = problem_from_dict(json.loads(example), HAVERSINE)
    assert [o.id for o in problem.orders] == ["O00001", "O00002"]
    assert problem.technicians[0].shifts[0].breaks[0].duration_s == 2700
    assert problem.orders[1].sla_deadline_s == 10 * 3600
