"""Concurrent decisions on one adjustment request: exactly one takes effect.

Eight admins (none the requester) decide the same pending request at the same moment, over
three apps on the real test database (each request its own session and transaction, as in
production). On PostgreSQL each request first loads the request row, then is held until all
eight have, and only then takes the row lock: without the locked re-read every one of them
would act on a stale ``pending``. SQLite transactions begin as writers, so there the requests
are serialised from their first read and the gate is left out (as in
``tests/api/test_transition_races.py``).

The rows are committed; the fixture removes them afterwards as the database's administrator,
with the ledger's guards set aside for that clean-up only (``remove_money_rows``).
"""

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, delete, select, text
from sqlalchemy.orm import Session

from shapely.geometry import Point

from api.adjustments import repository as adjustment_repo
from api.auth import Role, create_key, utc_now
from api.config import Settings
from api.db.spatial import POOL_SIZE, to_wkb
from api.db.tables import AdjustmentRequestRow, ApiKeyRow, LedgerEntryRow, TechnicianRow
from api.main import create_app
from settlement import Money

DECIDERS = 8
TRIALS = 5
GATE_TIMEOUT_S = 20.0
ORIGINAL_GET = adjustment_repo.get
MONEY_TABLES = ("adjustment_request", "ledger_entry")


@dataclass(frozen=True)
class Desk:
    """Apps on the test database, a requester's key id and eight other admins' headers."""

    apps: list[FastAPI]
    requester_key_id: str
    deciders: list[tuple[str, dict[str, str]]]
    technician_id: str
    engine: Engine


@pytest.fixture
def desk(engine: Engine, admin_engine: Engine, settings: Settings) -> Iterator[Desk]:
    technician_id = f"T-4eyes-{uuid.uuid4().hex[:8]}"
    now = utc_now()
    with Session(engine) as session, session.begin():
        session.add(
            TechnicianRow(
                id=technician_id, name="four eyes", home_base=to_wkb(Point(121.47, 31.23)),
                skills={}, is_active=True, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        requester, _ = create_key(session, role=Role.ADMIN, name=f"{technician_id}-requester")
        deciders = []
        for i in range(DECIDERS):
            key, token = create_key(session, role=Role.ADMIN, name=f"{technician_id}-{i}")
            deciders.append((key.id, {"Authorization": f"Bearer {token}"}))
        key_ids = [requester.id, *(key_id for key_id, _ in deciders)]
    apps = [create_app(settings) for _ in range(DECIDERS // POOL_SIZE + 1)]
    yield Desk(apps, key_ids[0], deciders, technician_id, engine)
    for app in apps:
        app.state.engine.dispose()
    remove_money_rows(admin_engine, technician_id, key_ids)


def remove_money_rows(admin: Engine, technician_id: str, key_ids: list[str]) -> None:
    """Delete the technician's requests, ledger entries, the keys and the technician.

    The guards that make those rows permanent are set aside in this transaction only: on
    PostgreSQL as the superuser with ``session_replication_role = replica``; on SQLite by
    dropping the guard triggers and creating them again before the commit.
    """
    with admin.begin() as conn:
        restore = _set_guards_aside(conn)
        for table in MONEY_TABLES:
            conn.execute(
                text(f"DELETE FROM {table} WHERE technician_id = :t"), {"t": technician_id}
            )
        for statement in restore:
            conn.exec_driver_sql(statement)
        conn.execute(delete(ApiKeyRow).where(ApiKeyRow.id.in_(key_ids)))
        conn.execute(delete(TechnicianRow).where(TechnicianRow.id == technician_id))


def _set_guards_aside(conn: Connection) -> list[str]:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        return []
    triggers = conn.execute(
        text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN "
            "('adjustment_request', 'ledger_entry')"
        )
    ).all()
    for name, _ in triggers:
        conn.exec_driver_sql(f"DROP TRIGGER {name}")
    return [sql for _, sql in triggers]


def pending_request(desk: Desk, amount: str = "2500.00") -> int:
    """Commit a pending request of ``amount`` for the desk's technician."""
    with Session(desk.engine) as session, session.begin():
        row = adjustment_repo.insert(
            session,
            technician_id=desk.technician_id,
            amount=Money(Decimal(amount)),
            memo="race",
            requested_by_key_id=desk.requester_key_id,
            now=utc_now(),
        )
        return row.id


class LoadThenLock:
    """Make each of the first ``n`` locked reads load the row, then wait for all ``n``."""

    def __init__(self, n: int) -> None:
        self._barrier = threading.Barrier(n, timeout=GATE_TIMEOUT_S)

    def around(self, get: Callable[..., Any]) -> Callable[..., Any]:
        def gated(session: Session, *, adjustment_id: int, for_update: bool = False) -> Any:
            if for_update:
                get(session, adjustment_id=adjustment_id)  # a copy that goes stale meanwhile
                self._barrier.wait()
            return get(session, adjustment_id=adjustment_id, for_update=for_update)

        return gated


def decide_at_once(
    desk: Desk, monkeypatch: pytest.MonkeyPatch, adjustment_id: int, actions: list[str]
) -> list[httpx.Response]:
    """Send ``actions[i]`` (approve or reject) as decider ``i``, all at the same moment."""
    if desk.engine.dialect.name == "postgresql":
        monkeypatch.setattr(adjustment_repo, "get", LoadThenLock(len(actions)).around(ORIGINAL_GET))
    start = threading.Barrier(len(actions))
    answers: list[httpx.Response | None] = [None] * len(actions)

    def one(i: int) -> None:
        client = TestClient(desk.apps[i % len(desk.apps)], raise_server_exceptions=False)
        body = {"memo": "not agreed"} if actions[i] == "reject" else None
        start.wait()
        answers[i] = client.post(
            f"/v1/adjustments/{adjustment_id}/{actions[i]}", json=body, headers=desk.deciders[i][1]
        )

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]


def the_winner(answers: list[httpx.Response]) -> int:
    """Return the index of the one 200, after checking every other answer is the 409."""
    for answer in answers:
        assert answer.status_code in {200, 409}, answer.text  # never a 5xx
        if answer.status_code == 409:
            assert answer.json()["error"]["code"] == "adjustment_decided", answer.text
    winners = [i for i, answer in enumerate(answers) if answer.status_code == 200]
    assert len(winners) == 1, winners
    return winners[0]


def booked(desk: Desk) -> list[int]:
    """The technician's ledger entries, as amounts in fen."""
    with Session(desk.engine) as session:
        return list(
            session.scalars(
                select(LedgerEntryRow.amount_fen)
                .where(LedgerEntryRow.technician_id == desk.technician_id)
                .order_by(LedgerEntryRow.id)
            )
        )


def test_concurrent_approvals_book_exactly_one_entry(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    for trial in range(TRIALS):
        adjustment_id = pending_request(desk)
        answers = decide_at_once(desk, monkeypatch, adjustment_id, ["approve"] * DECIDERS)
        winner = the_winner(answers)
        body = answers[winner].json()
        assert (body["status"], body["decided_by_key_id"]) == ("approved", desk.deciders[winner][0])
        assert booked(desk) == [250_000] * (trial + 1)  # one entry per request, never two


def test_an_approval_and_a_rejection_at_once_decide_once(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    actions = ["approve", "reject"] * (DECIDERS // 2)
    entries = 0
    for _ in range(TRIALS):
        adjustment_id = pending_request(desk, "-1500.00")
        answers = decide_at_once(desk, monkeypatch, adjustment_id, actions)
        winner = the_winner(answers)
        status = {"approve": "approved", "reject": "rejected"}[actions[winner]]
        entries += status == "approved"
        with Session(desk.engine) as session:
            row = session.get(AdjustmentRequestRow, adjustment_id)
            assert row is not None and row.status == status
            assert row.decided_by_key_id == desk.deciders[winner][0]
            assert (row.ledger_entry_id is not None) == (status == "approved")
        assert booked(desk) == [-150_000] * entries
