"""``bench city-peers``: the Problem -> VROOM mapping, VROOM's routes under our model, the CLI.

A tiny street, built like ``tests/dispatch/conftest.py``: places on a line of longitudes at
ten minutes of travel per 0.01 degree, two technicians at the base.
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from api.cli import app
from benchmarks.city_peers import plan_routes, valid_plan_figures
from benchmarks.vroom_city import (
    checked_routes,
    repair_route,
    route_problems,
    skill_codes,
    solve_with_vroom,
    vroom_jobs,
    vroom_vehicles,
)
from dispatch import (
    Break,
    ObjectiveWeights,
    Problem,
    Shift,
    SolveParams,
    Technician,
    TechnicianId,
    TimeWindow,
    WorkOrder,
    WorkOrderId,
    solve,
)
from dispatch.model import node_lonlats
from dispatch.routing_arrays import build_routing_arrays

runner = CliRunner()
H = 3600
BASE_LON = 121.40


def at(step: float) -> tuple[float, float]:
    return (BASE_LON + step / 100, 31.2)


def make_technician(tech_id: str, **overrides: Any) -> Technician:
    fields: dict[str, Any] = {
        "id": TechnicianId(tech_id), "start": at(0), "shifts": (Shift(8 * H, 18 * H),),
        "skills": {"ac": 1},
    }  # fmt: skip
    return Technician(**{**fields, **overrides})


def make_order(order_id: str, step: float, **overrides: Any) -> WorkOrder:
    fields: dict[str, Any] = {
        "id": WorkOrderId(order_id), "location": at(step), "duration_s": 1800,
        "required_skills": {"ac": 1}, "region_id": "A",
    }  # fmt: skip
    return WorkOrder(**{**fields, **overrides})


def make_problem(technicians: list[Technician], orders: list[WorkOrder]) -> Problem:
    lons, _ = node_lonlats(tuple(technicians), tuple(orders))
    steps = np.rint((lons - BASE_LON) * 100)
    travel = (np.abs(steps[:, None] - steps[None, :]) * 600).astype(np.int32)
    return Problem(
        datetime(2026, 3, 2, tzinfo=UTC), tuple(technicians), tuple(orders), travel,
        duration_factor_by_level={3: 0.5},
    )  # fmt: skip


def tiny_problem() -> Problem:
    """t1: ac 1 in territory A, at most 4 orders; t2: ac 3 + gas 1 anywhere, a lunch break."""
    lunch = Break(12 * H, 13 * H, 1800)
    techs = [
        make_technician("t1", territory=frozenset({"A"}), max_orders=4, capacity=10),
        make_technician("t2", skills={"ac": 3, "gas": 1}, capacity=10,
                        shifts=(Shift(8 * H, 18 * H, (lunch,)),)),
    ]  # fmt: skip
    orders = [
        make_order("o1", 1, windows=(TimeWindow(9 * H, 10 * H), TimeWindow(14 * H, 15 * H))),
        make_order("o2", 2, required_skills={"ac": 2}, region_id="B"),
        make_order("o3", 3, required_skills={"gas": 1}, pinned_to=TechnicianId("t2")),
        make_order("o4", -1, priority=2, region_id="B", demand=3),
        make_order("o5", -2, demand=4),
    ]
    return make_problem(techs, orders)


def test_skills_levels_territory_and_pins_become_skill_ids() -> None:
    problem = tiny_problem()
    codes = skill_codes(problem)
    assert codes.levels == {("ac", 1): 1, ("ac", 2): 2, ("ac", 3): 3, ("gas", 1): 4}
    assert codes.regions == {"A": 5, "B": 6}
    assert codes.pins == {"t2": 7}
    arrays = build_routing_arrays(problem)
    t1, t2 = vroom_vehicles(problem, arrays, codes)
    assert set(t1.skills) == {1, 5}  # ac level 1, territory A only
    assert set(t2.skills) == {1, 2, 3, 4, 5, 6, 7}  # ac 1..3, gas 1, every region, its pin
    jobs = vroom_jobs(problem, arrays, codes)
    assert set(jobs[1].skills) == {2, 6}  # ac >= 2 in region B
    assert set(jobs[2].skills) == {4, 5, 7}  # gas >= 1 in region A, pinned to t2


def test_windows_breaks_shift_and_limits_are_mapped() -> None:
    problem = tiny_problem()
    arrays = build_routing_arrays(problem)
    codes = skill_codes(problem)
    t1, t2 = vroom_vehicles(problem, arrays, codes)
    assert (t1.start.index, t1.end.index) == (problem.base_node(0), problem.end_node(0))
    assert (t2.time_window.start, t2.time_window.end) == (8 * H, 18 * H)
    (lunch,) = t2.breaks
    assert [(w.start, w.end) for w in lunch.time_windows] == [(12 * H, 13 * H)]
    assert lunch.service == 1800
    assert t1.max_tasks == 4 and np.asarray(t1.capacity).tolist() == [10]
    job = vroom_jobs(problem, arrays, codes)[0]
    assert [(w.start, w.end) for w in job.time_windows] == [(9 * H, 10 * H), (14 * H, 15 * H)]
    assert [j.priority for j in vroom_jobs(problem, arrays, codes)] == [1, 1, 1, 100, 1]


def test_vroom_solves_the_tiny_day_and_passes_our_model() -> None:
    problem = tiny_problem()
    arrays = build_routing_arrays(problem)
    routes, starts, wall_s = solve_with_vroom(problem, arrays, time_limit_s=1.0)
    assert wall_s < 1.0
    assert sorted(o for _, orders in routes for o in orders) == [0, 1, 2, 3, 4]
    for vehicle, orders in routes:
        assert route_problems(arrays, vehicle, orders) == []
    served_by = {o: v for v, orders in routes for o in orders}
    assert served_by[1] == served_by[2] == 1  # ac 2 and the pin: only t2
    assert 9 * H <= starts[0] <= 10 * H or 14 * H <= starts[0] <= 15 * H


def test_service_is_shortened_by_level_through_vehicle_types() -> None:
    import vroom

    problem = tiny_problem()
    arrays = build_routing_arrays(problem)
    codes = skill_codes(problem)
    vinput = vroom.Input()
    vinput.set_durations_matrix(profile="car", matrix_input=np.asarray(problem.travel_s))
    vinput.add_vehicle(vroom_vehicles(problem, arrays, codes)[1])  # t2: ac level 3
    for job in vroom_jobs(problem, arrays, codes)[1:3]:
        vinput.add_job(job)
    frame = vinput.solve(exploration_level=1, nb_threads=1).routes
    jobs = frame[frame["type"] == "job"]
    services = {int(i): int(s) for i, s in zip(jobs["id"], jobs["service"], strict=True)}
    assert services == {1: 900, 2: 1800}  # ac at level 3: half time; gas at level 1: full


def test_routes_our_model_refuses_are_named_and_repaired() -> None:
    tech = make_technician("t1", max_working_s=2 * H)
    problem = make_problem([tech], [make_order("o1", 1), make_order("o2", 2), make_order("o3", -2)])
    arrays = build_routing_arrays(problem)
    # travel 10 + 10 + 40 + 20 min and 3 x 30 min of service: 170 min, over 2 hours
    assert route_problems(arrays, 0, (0, 1, 2)) == ["max_working_time"]
    repaired = repair_route(arrays, 0, (0, 1, 2))
    assert len(repaired) == 2 and route_problems(arrays, 0, repaired) == []
    tiny = build_routing_arrays(tiny_problem())
    assert route_problems(tiny, 0, (0, 2)) == ["skills_territory_pin"]  # o3 is pinned to t2
    assert repair_route(tiny, 0, (0, 2)) == (0,)


def test_valid_plan_parts_add_up_to_the_objective_solve_reports() -> None:
    problem = tiny_problem()
    arrays = build_routing_arrays(problem)
    for weights in (ObjectiveWeights(), ObjectiveWeights(balance_per_s=3, lateness_per_s=7)):
        params = SolveParams(1, is_deterministic=True, solution_limit=5, weights=weights)
        plan = solve(problem, params)
        routes, _ = plan_routes(problem, arrays, plan)
        figures = valid_plan_figures(problem, arrays, routes, weights)
        parts = figures["objective_parts"]
        assert sum(parts.values()) == figures["objective"] == plan.kpis.objective
        longest_s = max(r.travel_s + r.service_s for r in plan.routes)
        assert parts["balance"] == weights.balance_per_s * longest_s
        assert figures["assigned"] == plan.kpis.assigned
        priority = {o.id: o.priority for o in problem.orders}
        dropped = [weights.drop_penalty_for(priority[u.order_id]) for u in plan.unassigned]
        assert parts["unserved"] == sum(dropped)


def test_refused_routes_are_repaired_before_they_are_costed() -> None:
    tech = make_technician("t1", max_working_s=2 * H)
    problem = make_problem([tech], [make_order("o1", 1), make_order("o2", 2), make_order("o3", -2)])
    arrays = build_routing_arrays(problem)
    valid, refused = checked_routes(arrays, [(0, (0, 1, 2))])
    assert refused["routes_violating_our_model"] == 1
    assert refused["violations_by_reason"] == {"max_working_time": 1}
    ((vehicle, orders),) = valid
    assert vehicle == 0 and len(orders) == 2
    figures = valid_plan_figures(problem, arrays, valid, ObjectiveWeights())
    assert figures["assigned"] == 2 and figures["objective_parts"]["unserved"] == 1_000_000


def test_cli_writes_every_row_and_sets_it_against_vroom_full_time(tmp_path: Path) -> None:
    out = tmp_path / "city_peers.json"
    result = runner.invoke(
        app,
        ["bench", "city-peers", "--sizes", "5x20", "--time-limits", "0.5", "--solver-seeds",
         "1,2", "--balance-weights", "0,5", "--vroom-same-budget", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert {"solver_commit", "load_average_1_5_15", "load_average_before"} <= set(document)
    assert document["time_limits_s"] == [0.5] and document["solver_seeds"] == [1, 2]
    (size,) = document["results"]
    labels = [row["label"] for row in size["rows"]]
    assert labels == [
        "geodispatch 0.5 s, seed 1", "geodispatch 0.5 s, seed 2",
        "geodispatch 0.5 s, seed 1, balance 5", "VROOM l5, full time", "VROOM l5, 0.5 s",
    ]  # fmt: skip
    ours, _, balanced, full, budget = size["rows"]
    assert ours["routes_violating_our_model"] == 0
    assert balanced["valid_plan"]["balance_per_s"] == 5
    assert balanced["valid_plan"]["objective_parts"]["balance"] > 0
    assert ours["valid_plan"]["objective_parts"]["balance"] == 0
    assert full["timeout_s"] is None and full["full_time"] and full["threads"] == 1
    assert budget["timeout_s"] == 0.5 and not budget["full_time"]
    assert any("max_working_s" in note for note in full["not_expressed"])
    assert full["vs_vroom_full"] == {"served_more": 0, "travel_ratio": 1.0, "goal_met": True}
    for row in size["rows"]:
        plan = row["valid_plan"]
        assert plan["assigned"] == row["assigned_after_repair"] <= row["assigned"] <= 20
        assert sum(plan["objective_parts"].values()) == plan["objective"]
        versus = row["vs_vroom_full"]
        assert versus["served_more"] == plan["assigned"] - full["valid_plan"]["assigned"]


def test_on_vroom_orders_solves_the_day_cut_to_the_orders_vroom_serves(tmp_path: Path) -> None:
    out = tmp_path / "city_peers.json"
    result = runner.invoke(
        app,
        ["bench", "city-peers", "--sizes", "5x20", "--time-limits", "0.5", "--on-vroom-orders",
         "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (size,) = json.loads(out.read_text())["results"]
    ours, full, cut = size["rows"]
    assert ours["orders"] == full["orders"] == 20
    assert cut["label"] == "geodispatch 0.5 s, seed 1, VROOM's orders"
    assert cut["orders"] == full["valid_plan"]["assigned"] < 20
    # VROOM's repaired routes prove that every one of its orders fits under our model
    assert cut["valid_plan"]["assigned"] == cut["orders"]
    assert cut["vs_vroom_full"]["served_more"] == 0
    assert cut["vs_vroom_full"]["travel_ratio"] == round(
        cut["valid_plan"]["travel_s"] / full["valid_plan"]["travel_s"], 4
    )


def test_drop_penalties_add_our_rows_at_every_limit_and_seed(tmp_path: Path) -> None:
    out = tmp_path / "city_peers.json"
    result = runner.invoke(
        app,
        ["bench", "city-peers", "--sizes", "5x20", "--time-limits", "0.5", "--solver-seeds",
         "1,2", "--drop-penalties", "1", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (size,) = json.loads(out.read_text())["results"]
    labels = [row["label"] for row in size["rows"]]
    assert labels[2:4] == [
        "geodispatch 0.5 s, seed 1, drop penalty 1", "geodispatch 0.5 s, seed 2, drop penalty 1"
    ]  # fmt: skip
    default, cheap = size["rows"][0], size["rows"][2]
    # at one second an order, no order is worth driving to but those of high priority
    assert cheap["valid_plan"]["assigned"] < default["valid_plan"]["assigned"]
    assert cheap["valid_plan"]["travel_s"] < default["valid_plan"]["travel_s"]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--time-limits", "0", "--time-limits takes seconds in (0, 3600]"),
        ("--time-limits", "30,x", "--time-limits takes seconds"),
        ("--time-limits", "", "--time-limits takes seconds in (0, 3600]"),
        ("--solver-seeds", "1,-2", "--solver-seeds takes whole numbers >= 0"),
        ("--solver-seeds", ",", "--solver-seeds takes whole numbers"),
        ("--balance-weights", "1.5", "--balance-weights takes whole numbers"),
        ("--drop-penalties", "0", "--drop-penalties takes whole numbers >= 1"),
        ("--sizes", "50x", "--sizes must look like"),
    ],
)
def test_bad_options_end_with_one_line(option: str, value: str, message: str) -> None:
    result = runner.invoke(app, ["bench", "city-peers", option, value])
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
