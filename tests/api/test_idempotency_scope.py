"""``Idempotency-Key`` beyond single ticket creation, and its all-or-nothing commit.

- Lead batches and CSV imports: a retry replays the first answer (``Idempotent-Replayed:
  true``) and stores nothing new; the same key with another body is 422.
- Ticket batches: the same key with another batch is 422 and stores nothing.
- Atomicity (general path, ``api.idempotency.run_idempotent``): when storing the answer
  fails, the tickets written in the same transaction are gone too (checked from a fresh
  session), and a retry with the same key then runs afresh. Ticket batches take that path on
  both backends; single tickets take it only on SQLite, since PostgreSQL creates a keyed ticket
  in one statement (``api.tickets.repository``) that never calls the store function.
"""

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from api import idempotency as idempotency_repo
from api.db.tables import IdempotencyKeyRow, LeadRow, LeadTouchRow, TicketRow

Headers = dict[str, dict[str, str]]
CSV = (
    "external_id,name,phone,email,product_line,lon,lat\n"
    "F-1,王芳,13912345678,wang@qq.com,central_ac,121.5440,31.2210\n"
    "F-2,李雷,13912345679,,water_heater,,\n"
)


def lead(phone: str) -> dict[str, Any]:
    return {"channel": "web_form", "name": "王芳", "phone": phone, "product_line": "central_ac"}


def ticket(external_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "type": "install",
        "location": [121.4737, 31.2304],
        "address": "南京东路 100 号",
        "duration_min": 60,
        "customer": {"name": "李先生"},
        **overrides,
    }


def keyed(auth: dict[str, str], key: str, **more: str) -> dict[str, str]:
    return {**auth, "Idempotency-Key": key, **more}


def count(session: Session, column: Any) -> int:
    return int(session.scalar(select(func.count(column))) or 0)


def assert_key_reused(response: Any) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert error["details"]["field"] == "Idempotency-Key"


def test_lead_batch_replays_and_refuses_another_body(
    client: TestClient, headers: Headers, session: Session
) -> None:
    batch = {"leads": [lead("13912345678"), lead("13912345679")]}
    sent = keyed(headers["shop_a"], "lb-1")
    first = client.post("/v1/leads/batch", json=batch, headers=sent)
    assert first.status_code == 200, first.text
    assert first.json()["created"] == 2 and "Idempotent-Replayed" not in first.headers
    stored = (count(session, LeadRow.id), count(session, LeadTouchRow.id))
    # Run afresh, the same leads would merge (one more touch each): a replay writes nothing.
    again = client.post("/v1/leads/batch", json=batch, headers=sent)
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    other = {"leads": [lead("13912345670")]}
    assert_key_reused(client.post("/v1/leads/batch", json=other, headers=sent))
    assert (count(session, LeadRow.id), count(session, LeadTouchRow.id)) == stored


def test_csv_import_replays_and_refuses_another_file_or_mode(
    client: TestClient, headers: Headers, session: Session
) -> None:
    sent = keyed(headers["shop_a"], "li-1", **{"Content-Type": "text/csv"})
    first = client.post("/v1/leads/import", content=CSV.encode(), headers=sent)
    assert first.status_code == 200, first.text
    assert first.json()["created"] == 2 and "Idempotent-Replayed" not in first.headers
    stored = (count(session, LeadRow.id), count(session, LeadTouchRow.id))
    again = client.post("/v1/leads/import", content=CSV.encode(), headers=sent)
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    other_file = CSV + "F-3,韩梅梅,13912345670,,,,\n"
    assert_key_reused(client.post("/v1/leads/import", content=other_file.encode(), headers=sent))
    # The query parameters are part of the request too.
    other_mode = client.post(
        "/v1/leads/import", content=CSV.encode(), headers=sent, params={"mode": "partial"}
    )
    assert_key_reused(other_mode)
    assert (count(session, LeadRow.id), count(session, LeadTouchRow.id)) == stored


def test_ticket_batch_refuses_another_batch_under_its_key(
    client: TestClient, headers: Headers, session: Session
) -> None:
    sent = keyed(headers["shop_a"], "tb-1")
    batch = {"tickets": [ticket("TB-1"), ticket("TB-2")]}
    first = client.post("/v1/tickets/batch", json=batch, headers=sent)
    assert first.status_code == 201, first.text
    other = {"tickets": [ticket("TB-3")]}
    assert_key_reused(client.post("/v1/tickets/batch", json=other, headers=sent))
    assert set(session.scalars(select(TicketRow.external_id))) == {"TB-1", "TB-2"}


def stored_rows(engine: Engine, source: str) -> tuple[int, int]:
    """(tickets, idempotency keys) of ``source``, read on a fresh session."""
    with Session(engine) as fresh:
        tickets = fresh.scalar(select(func.count(TicketRow.id)).where(TicketRow.source == source))
        keys = fresh.scalar(
            select(func.count(IdempotencyKeyRow.id)).where(
                IdempotencyKeyRow.principal == f"source:{source}"
            )
        )
    return int(tickets or 0), int(keys or 0)


def fail_storing_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make storing an answer fail as the database would, after the tickets were written."""

    def store(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("INSERT INTO idempotency_key ...", None, Exception("disk full"))

    monkeypatch.setattr(idempotency_repo, "store", store)


def assert_rollback_then_clean_retry(
    live: tuple[FastAPI, dict[str, str], str],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    *,
    path: str,
    body: dict[str, Any],
    n_tickets: int,
) -> None:
    app, auth, source = live
    client = TestClient(app)
    sent = keyed(auth, "atomic-1")
    with monkeypatch.context() as patched:
        fail_storing_answers(patched)
        failed = client.post(path, json=body, headers=sent)
    assert failed.status_code == 503, failed.text
    assert failed.json()["error"]["code"] == "database_unavailable"
    assert stored_rows(engine, source) == (0, 0)

    retried = client.post(path, json=body, headers=sent)
    assert retried.status_code == 201, retried.text
    assert "Idempotent-Replayed" not in retried.headers
    assert stored_rows(engine, source) == (n_tickets, 1)
    replayed = client.post(path, json=body, headers=sent)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == retried.json()
    assert stored_rows(engine, source) == (n_tickets, 1)


def test_ticket_batch_and_its_key_commit_together(
    live: tuple[FastAPI, dict[str, str], str], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """General path on both backends: batches always go through ``run_idempotent``."""
    batch = {"tickets": [ticket(f"AT-{i}") for i in range(3)]}
    assert_rollback_then_clean_retry(
        live, engine, monkeypatch, path="/v1/tickets/batch", body=batch, n_tickets=3
    )


def test_single_ticket_and_its_key_commit_together_on_the_general_path(
    live: tuple[FastAPI, dict[str, str], str], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """General path, so SQLite only: PostgreSQL's one-statement path has no separate store."""
    if engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL creates a keyed ticket in one statement (insert_ticket_keyed)")
    assert_rollback_then_clean_retry(
        live, engine, monkeypatch, path="/v1/tickets", body=ticket("AT-SOLO"), n_tickets=1
    )
