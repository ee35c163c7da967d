"""Fixtures of the dispatch service tests: a tiny world and a client whose runs really solve.

The world is two technicians and a handful of tickets in Huangpu on a day far in the future
(so nothing is clipped by the clock); runs get a 1 s limit. Runs solve in a worker process;
the parent records their outcome through the test's session, serialised with the requests by
a lock (one connection, so the test's rollback still undoes everything).
"""

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.config import Settings
from tests.api.dispatch.support import add_technician, add_ticket, app_client


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
def lock() -> threading.Lock:
    """Serialises the requests and run recorders of every app of a test on its one session."""
    return threading.Lock()


@pytest.fixture
def api(
    dispatch_settings: Settings, session: Session, lock: threading.Lock
) -> Iterator[TestClient]:
    """A client whose requests and run recorder share the test session, one at a time."""
    with app_client(dispatch_settings, session, lock) as client:
        yield client
