"""Runs whose service process died: their lease expires and they are failed, not left running."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from api.clock import ManualClock
from api.config import Settings
from api.db.tables import DispatchRunRow
from api.dispatch import repository as dispatch_repo
from api.dispatch.runs import RunExecutor
from api.main import create_app
from tests.api.dispatch.support import DAY

Headers = dict[str, dict[str, str]]
LEASE_S = 2.0


@pytest.fixture
def dispatch_settings(dispatch_settings: Settings) -> Settings:
    """The dispatch test settings with a 2 s lease (renewed every 0.5 s)."""
    return dispatch_settings.model_copy(update={"dispatch_run_lease_s": LEASE_S})


def add_run(
    session: Session, status: str, *, silent_for: timedelta | None, now: datetime | None = None
) -> int:
    """A run row as a process left it; ``silent_for`` is the age of its heartbeat (None: none)."""
    now = now or datetime.now(UTC)
    run = DispatchRunRow(
        scope={"region_id": "310101", "date": DAY.isoformat()}, region_id="310101", day=DAY,
        params={"time_limit_s": 5.0}, status=status, phase="solving", progress=0.1, n_orders=3,
        n_technicians=2, ticket_versions={}, created_by="k", created_at=now - timedelta(hours=1),
        started_at=now - timedelta(hours=1) if status == "running" else None,
        heartbeat_at=None if silent_for is None else now - silent_for,
    )  # fmt: skip
    session.add(run)
    session.flush()
    return run.id


@pytest.mark.parametrize(
    ("status", "silent_for"),
    [("running", timedelta(minutes=5)), ("queued", timedelta(minutes=5)), ("running", None)],
)
def test_a_run_whose_process_died_is_failed_when_read(
    api: TestClient, headers: Headers, session: Session, status: str, silent_for: timedelta | None
) -> None:
    run_id = add_run(session, status, silent_for=silent_for)
    body = api.get(f"/v1/dispatch/runs/{run_id}", headers=headers["dispatcher"]).json()
    assert body["status"] == "failed" and body["phase"] == "done"
    assert body["error"]["code"] == "worker_lost"
    assert "submit the run again" in body["error"]["message"]
    assert body["finished_at"] is not None and body["plan"] is None

    apply = api.post(f"/v1/dispatch/runs/{run_id}/apply", headers=headers["dispatcher"])
    assert apply.status_code == 409 and apply.json()["error"]["code"] == "run_not_succeeded"


def test_a_run_with_a_fresh_heartbeat_stays_running(
    api: TestClient, headers: Headers, session: Session
) -> None:
    run_id = add_run(session, "running", silent_for=timedelta(0))
    body = api.get(f"/v1/dispatch/runs/{run_id}", headers=headers["dispatcher"]).json()
    assert body["status"] == "running" and body["error"] is None


def test_startup_fails_the_runs_a_dead_process_left(engine: Engine, settings: Settings) -> None:
    with Session(engine) as session:  # committed: the new process must see it
        lost = add_run(session, "running", silent_for=timedelta(minutes=10))
        alive = add_run(session, "queued", silent_for=timedelta(seconds=1))
        session.commit()
    try:
        app = create_app(settings)
        with TestClient(app):
            app.state.run_recovery.join(timeout=30)
        with Session(engine) as session:
            dead, live = session.get(DispatchRunRow, lost), session.get(DispatchRunRow, alive)
            assert dead is not None and dead.status == "failed"
            assert dead.error is not None and dead.error["code"] == "worker_lost"
            assert live is not None and live.status == "queued"  # its owner may still be alive
    finally:
        with Session(engine) as session:
            session.execute(delete(DispatchRunRow).where(DispatchRunRow.id.in_([lost, alive])))
            session.commit()


def test_heartbeats_keep_a_run_longer_than_its_lease_alive(
    api: TestClient, session: Session, lock: threading.Lock
) -> None:
    executor = api.app.state.run_executor  # type: ignore[attr-defined]
    assert isinstance(executor, RunExecutor)
    clock = ManualClock(datetime.now(UTC))
    executor.clock = clock
    run_id = add_run(session, "running", silent_for=timedelta(0), now=clock())

    def lost() -> list[int]:  # what reading the run at the clock's time would fail
        with lock:
            return dispatch_repo.fail_lost_runs(
                session, now=clock(), lease_s=LEASE_S, run_id=run_id
            )

    executor.leases.hold(run_id)  # as submit() does
    for _ in range(12):  # three leases, renewed every quarter of one
        clock.advance(LEASE_S / 4)
        executor.leases.renew()
        assert lost() == []
    executor.leases.release(run_id)  # as recording the outcome does: no more renewals
    clock.advance(LEASE_S * 0.9)
    executor.leases.renew()
    assert lost() == []  # the last renewal still holds
    clock.advance(LEASE_S * 0.2)
    assert lost() == [run_id]
    with lock:
        run = session.get(DispatchRunRow, run_id)
        assert run is not None and run.status == "failed"
        assert run.error is not None and run.error["details"]["lease_s"] == LEASE_S
        assert run.error["code"] == "worker_lost"


def test_the_heartbeat_thread_renews_at_the_executors_clock(session: Session) -> None:
    clock = ManualClock(datetime.now(UTC) + timedelta(hours=1))  # the lease has long lapsed
    run_id = add_run(session, "running", silent_for=timedelta(0))
    renewed = threading.Event()

    @contextmanager
    def sessions() -> Iterator[Session]:
        yield session
        renewed.set()

    executor = RunExecutor(workers=1, sessions=sessions, lease_s=0.02, clock=clock)
    try:
        executor.leases.hold(run_id)
        assert renewed.wait(10), "no heartbeat within 10 s"  # the first comes after 5 ms
    finally:
        executor.shutdown()  # no process was started: nothing was submitted
    assert dispatch_repo.fail_lost_runs(session, now=clock(), lease_s=0.02, run_id=run_id) == []
    clock.advance(0.03)
    assert dispatch_repo.fail_lost_runs(session, now=clock(), lease_s=0.02, run_id=run_id) == [
        run_id
    ]
