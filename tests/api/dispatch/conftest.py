"""Fixtures of the dispatch service tests: a tiny world and a client whose runs really solve.

The world is two technicians and a handful of tickets in Huangpu on a day far in the future
(so nothing is clipped by the clock); runs get a 1 s limit. Runs solve in a worker process;
the parent records their outcome through the test's session, serialised with the requests by
a lock (one connection, so the test's rollback still undoes everything).
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from shapely.geometry import Point

from api.config import Settings
from api.db.spatial import to_wkb
from api.db.tables import TechnicianRow, TechnicianShiftRow, TicketRow
from api.deps import get_session
from api.main import create_app

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
