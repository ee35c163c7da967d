"""Fixtures of the dispatch service tests: a tiny world and a client whose runs really solve.

The world is two technicians and a handful of tickets in Huangpu on a day far in the future
(so nothing is clipped by the clock); runs get a 1 s limit. Runs solve in a worker process;
the parent records their outcome through the test's session, serialised with the requests by
a lock (one connection, so the test's rollback still undoes everything).
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.config import Settings
from api.deps import get_session
from api.main import create_app
from tests.api.dispatch.support import add_technician, add_ticket


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
