"""Builders and helpers of the dispatch service tests (fixtures live in ``conftest``)."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

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


def applied_day(api: TestClient, headers: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Solve the test day's region and apply the plan; return the run."""
    run = wait_for(api, submit(api, headers["dispatcher"]).json()["id"], headers["dispatcher"])
    applied = api.post(f"/v1/dispatch/runs/{run['id']}/apply", headers=headers["dispatcher"])
    assert applied.status_code == 200, applied.text
    return run


@contextmanager
def app_client(settings: Settings, session: Session, lock: threading.Lock) -> Iterator[TestClient]:
    """A client on a new app (as another service process would be) sharing the test session."""

    def request_session() -> Iterator[Session]:
        with lock:
            yield session

    @contextmanager
    def recorder_session() -> Iterator[Session]:
        with lock:
            yield session

    app = create_app(settings)
    app.dependency_overrides[get_session] = request_session
    with TestClient(app) as client:
        app.state.run_executor.sessions = recorder_session
        yield client
    app.state.engine.dispose()
