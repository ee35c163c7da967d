"""Concurrent transitions of one ticket: one winner, one history row, the winner's state.

The app runs on the real test database with a session per request (the ``live`` fixture), so
the requests race as they would in production. Each change is slowed down while it holds the
ticket's lock, so the others are sure to have loaded the ticket and be waiting for the lock.
"""

import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.db.tables import TicketRow, TicketStatusChangeRow
from api.tickets import repository as ticket_repo

N = 8


def _slowed(function: Any) -> Any:
    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.2)  # inside the lock: the other requests queue behind it
        return function(*args, **kwargs)

    return slow


def test_concurrent_transitions_have_one_winner(
    live: tuple[Any, dict[str, str], str],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, auth, _ = live
    target = "cancelled"
    body = {
        "external_id": "RACE-1", "type": "repair", "location": [121.4737, 31.2304],
        "address": "南京东路 100 号", "duration_min": 60, "customer": {"name": "王女士"},
    }  # fmt: skip
    created = TestClient(app).post("/v1/tickets", json=body, headers=auth)
    assert created.status_code == 201, created.text
    ticket_id = created.json()["id"]
    monkeypatch.setattr(ticket_repo, "transition", _slowed(ticket_repo.transition))
    barrier = threading.Barrier(N)
    answers: list[Any] = [None] * N

    def one(i: int) -> None:
        client = TestClient(app)
        barrier.wait()
        answers[i] = client.post(
            f"/v1/tickets/{ticket_id}/transitions", json={"to": target}, headers=auth
        )

    threads = [threading.Thread(target=one, args=(i,)) for i in range(N)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * (N - 1), [a.text for a in answers]
    with Session(engine) as session:
        changes = session.scalar(
            select(func.count()).where(
                TicketStatusChangeRow.ticket_id == ticket_id,
                TicketStatusChangeRow.to_status == target,
            )
        )
        assert changes == 1
        assert session.get(TicketRow, ticket_id).status == target  # type: ignore[union-attr]
