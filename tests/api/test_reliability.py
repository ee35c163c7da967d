"""Small runs of ``geodispatch bench reliability``: the promises checked on every CI run.

Each test drives the real service (``geodispatch serve`` in processes of its own) with the
benchmark's own code, smaller: 100 keys and one kill instead of 1,000 and three, a demo day of
8 technicians instead of 50, two technicians' ledgers instead of four. They run on SpatiaLite,
and again on PostGIS in the database pass (``-m db``). The crash test uses the run's database
(as the service's role on PostGIS) with a source of its own, removed afterwards; the others
need a database of their own (a rate card in force, seeded technicians), made and dropped here.
"""

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.auth import Role, create_key
from api.demo.city import DaySize
from benchmarks.reliability.crash import CrashParams, crash_run, crash_violations
from benchmarks.reliability.databases import POSTGIS, SPATIALITE, RunDatabase, run_database
from benchmarks.reliability.money import (
    MoneyParams,
    money_run,
    money_violations,
    unavailable_answers,
)
from benchmarks.reliability.run_kill import run_kill, run_kill_violations
from tests.api.conftest import forget_source

POSTGIS_ADMIN_URL = os.environ.get("TEST_POSTGIS_ADMIN_URL", "")


@pytest.fixture
def crash_database(engine: Engine, database_url: str) -> Iterator[RunDatabase]:
    """The run's database with an integrator of a fresh source; its rows removed afterwards."""
    source = f"crash-{uuid.uuid4().hex[:8]}"
    with Session(engine) as session, session.begin():
        _, token = create_key(session, role=Role.INTEGRATOR, name=source, source=source)
    kind = POSTGIS if engine.dialect.name == "postgresql" else SPATIALITE
    yield RunDatabase(database_url, kind, {"integrator": token}, source=source)
    forget_source(engine, source)


@pytest.fixture
def own_database() -> Iterator[RunDatabase]:
    """A fresh database of the pass's kind (PostGIS with TEST_POSTGIS_ADMIN_URL), dropped after."""
    with run_database(POSTGIS if POSTGIS_ADMIN_URL else SPATIALITE, POSTGIS_ADMIN_URL) as database:
        yield database


@pytest.mark.db
def test_kill_9_during_keyed_posts_loses_and_doubles_nothing(crash_database: RunDatabase) -> None:
    figures = crash_run(crash_database, CrashParams(keys=100, kills=1, threads=4))
    assert crash_violations(figures) == []
    assert figures["acknowledged"] == figures["stored_keys"] == figures["tickets_whole"] == 100
    assert figures["lost"] == figures["duplicated"] == 0
    # The kill cut connections: the clients saw the service go away and come back.
    assert any(not outcome.isdigit() for outcome in figures["attempts"]), figures["attempts"]
    assert len(figures["kills"]) == 1


@pytest.mark.db
def test_a_run_whose_solver_or_service_dies_fails_cleanly_and_runs_again(
    own_database: RunDatabase,
) -> None:
    figures = run_kill(
        own_database, day_size=DaySize(technicians=8, orders=40, junk_leads=3),
        time_limit_s=10.0, rerun_time_limit_s=2.0, lease_s=3.0,
    )  # fmt: skip
    assert run_kill_violations(figures) == []
    solver, service = figures["solver_killed"], figures["service_killed"]
    assert solver["error"]["code"] == "solver_failed" and solver["failed_after_s"] < 30
    assert service["error"]["code"] == "worker_lost"
    assert "submit the run again" in service["error"]["message"]
    assert solver["rerun_status"] == service["rerun_status"] == "succeeded"
    assert figures["applied_scheduled"] > 0


@pytest.mark.db
def test_concurrent_money_movements_keep_every_ledger_whole(own_database: RunDatabase) -> None:
    params = MoneyParams(technicians=2, jobs=6, threads=6, withdrawals=8, adjustments=3,
                         workers=2 if own_database.kind == POSTGIS else 1)  # fmt: skip
    figures = money_run(own_database, params)
    assert money_violations(figures) == []
    assert figures["lowest_balance_fen"] >= 0
    assert figures["conflicts_409"] > 0  # withdrawals beyond the balance were refused
    answers = figures["answers"]
    assert answers.get("withdraw 201", 0) > 0 and answers.get("resettle 201", 0) > 0
    assert unavailable_answers(figures) == []  # no deadlock between settlements (503)
    # Every ticket settled under the first card, then once more under the second.
    assert figures["tickets_settled"] == 12 and figures["settlements_per_ticket"] == {"2": 12}
    assert figures["ledger_entries"]["reversal"] == 12
