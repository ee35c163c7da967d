"""Dispatch runs over HTTP: submit -> status -> plan -> apply, limits, stale plans, auth."""

import multiprocessing
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.tables import AssignmentRow, TicketRow
from api.dispatch import repository as dispatch_repo
from tests.api.dispatch.support import DAY, HUANGPU, add_ticket, at, submit, wait_for


def test_run_lifecycle_submit_status_plan_apply(
    api: TestClient, headers: dict[str, dict[str, str]], world: dict[str, Any], session: Session
) -> None:
    answer = submit(api, headers["dispatcher"], time_limit_s=1)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued" and answer.json()["started_at"] is None
    assert answer.json()["n_tickets"] == 4 and answer.json()["n_technicians"] == 2

    run = wait_for(api, answer.json()["id"], headers["dispatcher"])
    assert run["status"] == "succeeded", run["error"]
    assert run["progress"] == 1.0 and run["finished_at"] >= run["started_at"]
    plan = run["plan"]
    planned = {int(s["order_id"]) for r in plan["routes"] for s in r["stops"]}
    assert planned == set(world["aircon"])
    assert [(int(u["order_id"]), u["reason"]) for u in plan["unassigned"]] == [
        (world["solar"], "no_skill")
    ]
    assert run["kpis"]["assigned"] == 3 and run["kpis"]["unassigned"] == 1
    assert 0 < run["kpis"]["first_feasible_s"] <= run["kpis"]["solve_s"]
    for route in plan["routes"]:
        for stop in route["stops"]:
            assert at(10) <= datetime.fromisoformat(stop["start"]) <= at(16)

    applied = api.post(f"/v1/dispatch/runs/{run['id']}/apply", headers=headers["admin"])
    assert applied.status_code == 200, applied.text
    assert applied.json()["scheduled"] == sorted(world["aircon"])
    assert applied.json()["unscheduled"] == [world["solar"]]
    for ticket_id in world["aircon"]:
        ticket = session.get(TicketRow, ticket_id)
        assert ticket is not None and ticket.status == "scheduled" and ticket.technician_id
    assert session.get(TicketRow, world["solar"]).status == "new"  # type: ignore[union-attr]
    rows = session.scalars(select(AssignmentRow).where(AssignmentRow.run_id == run["id"])).all()
    assert len(rows) == 3 and all(r.eta_at is not None and r.source == "run" for r in rows)

    route = plan["routes"][0]
    stops = dispatch_repo.planned_stops(session, technician_id=route["technician_id"], day=DAY)
    assert [str(s.ticket_id) for s in stops] == [s["order_id"] for s in route["stops"]]
    assert stops[0].eta_at == datetime.fromisoformat(route["stops"][0]["arrival"])

    again = api.post(f"/v1/dispatch/runs/{run['id']}/apply", headers=headers["admin"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_applied"


def test_applying_a_stale_plan_is_409_naming_the_tickets(
    api: TestClient, headers: dict[str, dict[str, str]], world: dict[str, Any], session: Session
) -> None:
    run_id = submit(api, headers["dispatcher"], time_limit_s=1).json()["id"]
    assert wait_for(api, run_id, headers["dispatcher"])["status"] == "succeeded"
    changed = session.get(TicketRow, world["aircon"][1])
    assert changed is not None
    changed.status, changed.updated_at = "cancelled", datetime.now(UTC)
    session.flush()

    answer = api.post(f"/v1/dispatch/runs/{run_id}/apply", headers=headers["dispatcher"])
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "stale_plan"
    assert answer.json()["error"]["details"]["ticket_ids"] == [world["aircon"][1]]
    assert session.get(TicketRow, world["aircon"][0]).status == "new"  # type: ignore[union-attr]
    assert session.scalars(select(AssignmentRow)).first() is None


def test_explicit_ticket_list_takes_its_day_from_the_windows(
    api: TestClient, headers: dict[str, dict[str, str]], world: dict[str, Any]
) -> None:
    answer = submit(api, headers["admin"], scope={"ticket_ids": world["aircon"][:2]})
    assert answer.status_code == 202, answer.text
    assert answer.json()["day"] == DAY.isoformat() and answer.json()["time_limit_s"] == 1.0
    run = wait_for(api, answer.json()["id"], headers["admin"])
    assert run["kpis"]["assigned"] == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"time_limit_s": 6}, "time_limit_s"),
        ({"time_limit_s": 0}, "time_limit_s"),
        ({"time_limit_s": "NaN"}, "time_limit_s"),
        ({"scope": {"region_id": HUANGPU}}, "scope"),
        ({"scope": {"ticket_ids": []}}, "scope"),
        ({"scope": {"region_id": HUANGPU, "date": DAY.isoformat()}, "status": "x"}, "status"),
    ],
)
def test_bad_runs_are_422_naming_the_field(
    api: TestClient, headers: dict[str, dict[str, str]], body: dict[str, Any], field: str
) -> None:
    answer = submit(api, headers["dispatcher"], **body)
    assert answer.status_code == 422, answer.text
    assert field in answer.text


def test_problem_size_and_scope_limits(
    api: TestClient, headers: dict[str, dict[str, str]], session: Session, world: dict[str, Any]
) -> None:
    for i in range(17):  # 21 tickets > the cap of 20
        add_ticket(session, (121.47 + i / 1000, 31.22))
    too_big = submit(api, headers["dispatcher"])
    assert too_big.status_code == 422
    assert too_big.json()["error"]["code"] == "problem_too_large"
    assert too_big.json()["error"]["details"]["n_tickets"] == 21

    unknown = submit(api, headers["dispatcher"], scope={"ticket_ids": [world["solar"], 999_999]})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"]["ticket_ids"] == [999_999]

    nobody = submit(api, headers["dispatcher"], scope={"region_id": HUANGPU, "date": "2031-03-05"})
    assert nobody.status_code == 422 and nobody.json()["error"]["code"] == "empty_scope"


def test_unknown_run_is_404(api: TestClient, headers: dict[str, dict[str, str]]) -> None:
    answer = api.get("/v1/dispatch/runs/987654", headers=headers["dispatcher"])
    assert answer.status_code == 404


@pytest.mark.parametrize("caller", ["tech_a", "tech_b", "shop_a", "shop_b", None])
def test_only_staff_run_the_optimiser(
    api: TestClient, headers: dict[str, dict[str, str]], world: dict[str, Any], caller: str | None
) -> None:
    auth = headers[caller] if caller else {}
    expected = 403 if caller else 401
    assert submit(api, auth).status_code == expected
    assert api.get("/v1/dispatch/runs/1", headers=auth).status_code == expected
    assert api.post("/v1/dispatch/runs/1/apply", headers=auth).status_code == expected


def test_a_dead_worker_fails_its_run_and_the_next_run_still_solves(
    api: TestClient, headers: dict[str, dict[str, str]], world: dict[str, Any]
) -> None:
    auth = headers["dispatcher"]
    run_id = submit(api, auth, time_limit_s=5).json()["id"]
    deadline = time.monotonic() + 60
    while api.get(f"/v1/dispatch/runs/{run_id}", headers=auth).json()["status"] != "running":
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.05)
    workers = [p for p in multiprocessing.active_children() if p.name.startswith("SpawnProcess")]
    assert workers
    for worker in workers:
        worker.kill()  # as the OOM killer would

    dead = wait_for(api, run_id, auth)
    assert dead["status"] == "failed" and dead["error"]["code"] == "solver_failed"
    assert dead["plan"] is None
    again = wait_for(api, submit(api, auth, time_limit_s=1).json()["id"], auth)
    assert again["status"] == "succeeded"


def test_a_day_run_works_around_jobs_under_way_and_keeps_dispatched_tickets(
    api: TestClient, headers: dict[str, dict[str, str]], world: dict[str, Any], session: Session
) -> None:
    busy = add_ticket(session, (121.49, 31.23), status="on_site", technician_id="T-A")
    session.add(
        AssignmentRow(
            ticket_id=busy, technician_id="T-A", day=DAY, sequence=1, eta_at=at(9, 30),
            start_at=at(10), end_at=at(15), is_pinned=False, source="manual",
            assigned_at=datetime.now(UTC),
        )
    )  # fmt: skip
    sent = add_ticket(session, (121.4737, 31.2305), status="dispatched", technician_id="T-B")
    session.flush()

    run = wait_for(api, submit(api, headers["dispatcher"]).json()["id"], headers["dispatcher"])
    owner = {int(s["order_id"]): r for r in run["plan"]["routes"] for s in r["stops"]}
    assert owner[sent]["technician_id"] == "T-B"  # next to T-A's base, yet kept on T-B
    assert busy not in owner
    for route in run["plan"]["routes"]:
        if route["technician_id"] == "T-A":  # free once the on-site job ends at 15:00
            assert datetime.fromisoformat(route["depart"]) >= at(15)

    applied = api.post(f"/v1/dispatch/runs/{run['id']}/apply", headers=headers["dispatcher"])
    assert applied.status_code == 200, applied.text
    assert session.get(TicketRow, sent).status == "dispatched"  # type: ignore[union-attr]
