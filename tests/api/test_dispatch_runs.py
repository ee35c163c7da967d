"""Dispatch runs over HTTP: submit -> status -> plan -> apply, limits, stale plans, auth.

The world is tiny (two technicians and a handful of tickets in Huangpu on a day far in the
future, so nothing is clipped by the clock) and runs get a 1 s limit. Runs really solve in a
worker process; the parent records their outcome through the test's session, serialised with
the requests by a lock (one connection, so the test's rollback still undoes everything).
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from shapely.geometry import Point

from api.config import Settings
from api.db.spatial import to_wkb
from api.db.tables import AssignmentRow, TechnicianRow, TechnicianShiftRow, TicketRow
from api.deps import get_session
from api.main import create_app
from api.repositories import dispatch as dispatch_repo

DAY = date(2031, 3, 4)
CST = timezone(timedelta(hours=8))
HUANGPU = "310101"
POLL_TIMEOUT_S = 90.0


def at(hour: int, minute: int = 0) -> datetime:
    """An instant of the test day, local (UTC+8) time."""
    return datetime(DAY.year, DAY.month, DAY.day, hour, minute, tzinfo=CST)


def add_technician(
    session: Session, tech_id: str, lonlat: tuple[float, float], **extra: Any
) -> None:
    """A technician with a 09:00-18:00 shift on the test day."""
    now = datetime.now(UTC)
    row = TechnicianRow(
        id=tech_id, name=tech_id, home_base=to_wkb(Point(*lonlat)), is_active=True,
        skills=extra.pop("skills", {"aircon": 2}), territory=extra.pop("territory", None),
        max_orders=extra.pop("max_orders", None), capacity=None, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(row)
    session.flush()
    session.add(
        TechnicianShiftRow(technician_id=tech_id, day=DAY, start_at=at(9), end_at=at(18), breaks=[])
    )
    session.flush()


def add_ticket(session: Session, lonlat: tuple[float, float], **extra: Any) -> int:
    """A new 60-minute aircon ticket in Huangpu, window 10:00-16:00, unless overridden."""
    now = datetime.now(UTC)
    windows = extra.pop("windows", [(at(10), at(16))])
    row = TicketRow(
        source="shop-a", external_id=f"X-{time.perf_counter_ns()}", type="repair",
        location=to_wkb(Point(*lonlat)), region_id=extra.pop("region_id", HUANGPU),
        address="somewhere", duration_min=extra.pop("duration_min", 60),
        skills=extra.pop("skills", {"aircon": 1}),
        time_windows=[[s.isoformat(), e.isoformat()] for s, e in windows],
        window_start_at=windows[0][0] if windows else None,
        window_end_at=windows[-1][1] if windows else None,
        priority=extra.pop("priority", "normal"), sla_due_at=None,
        status=extra.pop("status", "new"), technician_id=extra.pop("technician_id", None),
        created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row.id


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    """Two technicians (T-A, T-B) and four tickets; ``solar`` is a skill nobody holds."""
    add_technician(session, "T-A", (121.4737, 31.2304))
    add_technician(session, "T-B", (121.485, 31.235))
    aircon = [
        add_ticket(session, p) for p in [(121.48, 31.22), (121.47, 31.215), (121.476, 31.232)]
    ]
    solar = add_ticket(session, (121.478, 31.225), skills={"solar": 1})
    return {"aircon": aircon, "solar": solar}


@pytest.fixture
def dispatch_settings(settings: Settings) -> Settings:
    """Short runs: a 5 s cap, a 1 s default, at most 20 tickets per run."""
    return settings.model_copy(
        update={
            "dispatch_max_time_limit_s": 5.0,
            "dispatch_default_time_limit_s": 1.0,
            "dispatch_max_orders": 20,
        }
    )


@pytest.fixture
def api(dispatch_settings: Settings, session: Session) -> Iterator[TestClient]:
    """A client whose requests and run recorder share the test session, one at a time."""
    lock = threading.Lock()

    def request_session() -> Iterator[Session]:
        with lock:
            yield session

    @contextmanager
    def recorder_session() -> Iterator[Session]:
        with lock:
            yield session

    app = create_app(dispatch_settings)
    app.dependency_overrides[get_session] = request_session
    with TestClient(app) as client:
        app.state.run_executor.sessions = recorder_session
        yield client
    app.state.engine.dispose()


def wait_for(api: TestClient, run_id: int, auth: dict[str, str]) -> dict[str, Any]:
    """Poll a run until it has finished; fail after ``POLL_TIMEOUT_S``."""
    deadline = time.monotonic() + POLL_TIMEOUT_S
    seen = set()
    while time.monotonic() < deadline:
        body = api.get(f"/v1/dispatch/runs/{run_id}", headers=auth).json()
        seen.add(body["status"])
        if body["status"] in {"succeeded", "failed"}:
            body["seen"] = seen
            return body
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} still {seen} after {POLL_TIMEOUT_S} s")


def submit(api: TestClient, auth: dict[str, str], **body: Any) -> Any:
    body.setdefault("scope", {"region_id": HUANGPU, "date": DAY.isoformat()})
    return api.post("/v1/dispatch/runs", json=body, headers=auth)


def test_run_lifecycle_submit_status_plan_apply(
    api: TestClient, headers: dict[str, dict[str, str]], world: dict[str, Any], session: Session
) -> None:
    started = time.monotonic()
    answer = submit(api, headers["dispatcher"], time_limit_s=1)
    assert answer.status_code == 202, answer.text
    assert time.monotonic() - started < 5  # answered before any solve could finish
    assert answer.json()["status"] == "queued"
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
