"""``Idempotency-Key`` on ticket creation: replays, reuse, in-flight keys, expiry, real races."""

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import Session

from api import idempotency as repo
from api.auth import Role, create_key, utc_now
from api.db.tables import CustomerRow, IdempotencyKeyRow, TicketRow, TicketStatusChangeRow
from api.idempotency import body_sha256
from api.tickets import repository as ticket_repo
from api.tickets.schemas import TicketCreate

Headers = dict[str, dict[str, str]]


def ticket(**overrides: Any) -> dict[str, Any]:
    """A small valid ticket."""
    return {
        "external_id": "IK-1",
        "type": "install",
        "location": [121.4737, 31.2304],
        "address": "南京东路 100 号",
        "duration_min": 60,
        "customer": {"name": "李先生"},
        **overrides,
    }


def keyed(headers: Headers, who: str, key: str) -> dict[str, str]:
    return {**headers[who], "Idempotency-Key": key}


def count(session: Session, column: Any) -> int:
    return int(session.scalar(select(func.count(column))) or 0)


def test_retry_replays_the_first_answer(
    client: TestClient, headers: Headers, session: Session
) -> None:
    first = client.post("/v1/tickets", json=ticket(), headers=keyed(headers, "shop_a", "k-1"))
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    # Key order and whitespace do not make a different body.
    retry_body = dict(reversed(list(ticket().items())))
    retry = client.post("/v1/tickets", json=retry_body, headers=keyed(headers, "shop_a", "k-1"))
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert count(session, TicketRow.id) == 1
    assert count(session, CustomerRow.id) == 1
    assert count(session, TicketStatusChangeRow.id) == 1


def test_same_key_other_body_is_422(client: TestClient, headers: Headers, session: Session) -> None:
    client.post("/v1/tickets", json=ticket(), headers=keyed(headers, "shop_a", "k-2"))
    other = ticket(duration_min=61)
    response = client.post("/v1/tickets", json=other, headers=keyed(headers, "shop_a", "k-2"))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    # The same key on another route is another request too.
    batch = {"tickets": [ticket()]}
    response = client.post("/v1/tickets/batch", json=batch, headers=keyed(headers, "shop_a", "k-2"))
    assert response.status_code == 422
    assert count(session, TicketRow.id) == 1


def test_keys_belong_to_the_source(client: TestClient, headers: Headers, session: Session) -> None:
    client.post("/v1/tickets", json=ticket(), headers=keyed(headers, "shop_a", "k-3"))
    # shop-b's key space is its own.
    response = client.post(
        "/v1/tickets", json=ticket(duration_min=5), headers=keyed(headers, "shop_b", "k-3")
    )
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    # A rotated key of shop-a still sees shop-a's keys.
    _, token = create_key(session, role=Role.INTEGRATOR, name="shop-a 2", source="shop-a")
    rotated = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k-3"}
    response = client.post("/v1/tickets", json=ticket(), headers=rotated)
    assert response.headers["Idempotent-Replayed"] == "true"


def _stored_key(
    session: Session, principal: str, key: str, body: dict[str, Any], **row: Any
) -> None:
    now = utc_now()
    values = {
        "principal": principal,
        "key": key,
        "method": "POST",
        "path": "/v1/tickets",
        "body_sha256": body_sha256(TicketCreate.model_validate(body)),
        "response_status": 201,
        "response_body": {"id": -1},
        "created_at": now,
        "expires_at": now + timedelta(hours=24),
        **row,
    }
    session.add(IdempotencyKeyRow(**values))
    session.commit()


@pytest.mark.postgis
def test_key_in_flight_is_409_until_its_holder_ends(
    client: TestClient, headers: Headers, session: Session, engine: Engine
) -> None:
    # Another transaction holds the key, as a request still running (or dying) would.
    held = repo.Fingerprint("source:shop-a", "k-4", "POST", "/v1/tickets", "").lock_id()
    with engine.connect() as holder:
        holder.execute(select(func.pg_advisory_xact_lock(held)))
        response = client.post(
            "/v1/tickets", json=ticket(), headers=keyed(headers, "shop_a", "k-4")
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "idempotency_key_in_flight"
        assert response.headers["Retry-After"] == "1"
        assert count(session, TicketRow.id) == 0
        holder.rollback()  # the holder ends without storing an answer: the key is free again
    response = client.post("/v1/tickets", json=ticket(), headers=keyed(headers, "shop_a", "k-4"))
    assert response.status_code == 201
    row = session.scalars(select(IdempotencyKeyRow).where(IdempotencyKeyRow.key == "k-4")).one()
    assert row.response_body["id"] == response.json()["id"]


def test_expired_key_is_new_again(client: TestClient, headers: Headers, session: Session) -> None:
    past = utc_now() - timedelta(seconds=1)
    _stored_key(session, "source:shop-a", "k-6", ticket(duration_min=1), expires_at=past)
    response = client.post("/v1/tickets", json=ticket(), headers=keyed(headers, "shop_a", "k-6"))
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers


def test_failed_request_releases_its_key(
    client: TestClient, headers: Headers, session: Session
) -> None:
    client.post("/v1/tickets", json=ticket(), headers=headers["shop_a"])
    for _ in range(2):  # not replayed: a failure is not an answer to keep
        response = client.post(
            "/v1/tickets", json=ticket(), headers=keyed(headers, "shop_a", "k-7")
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "ticket_exists"
    assert count(session, IdempotencyKeyRow.id) == 0


def test_keys_live_a_day_and_are_purged(
    client: TestClient, headers: Headers, session: Session
) -> None:
    client.post("/v1/tickets", json=ticket(), headers=keyed(headers, "shop_a", "k-8"))
    row = session.scalars(select(IdempotencyKeyRow)).one()
    assert row.expires_at - row.created_at >= timedelta(hours=24)
    assert repo.purge_expired(session, now=row.expires_at - timedelta(seconds=1)) == 0
    assert repo.purge_expired(session, now=row.expires_at) == 1


def test_batch_replays(client: TestClient, headers: Headers, session: Session) -> None:
    batch = {"tickets": [ticket(external_id=f"IKB-{i}") for i in range(3)]}
    first = client.post("/v1/tickets/batch", json=batch, headers=keyed(headers, "shop_a", "b-1"))
    again = client.post("/v1/tickets/batch", json=batch, headers=keyed(headers, "shop_a", "b-1"))
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert count(session, TicketRow.id) == 3


@pytest.mark.parametrize("key", ["x" * 256, "has space", "tab\tkey"])
def test_bad_keys_are_422(client: TestClient, headers: Headers, key: str) -> None:
    sent = {**headers["shop_a"], "Idempotency-Key": key}
    response = client.post("/v1/tickets", json=ticket(), headers=sent)
    assert response.status_code == 422


def _race(app: Any, sent: dict[str, str], body: dict[str, Any], n: int) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def one(i: int) -> None:
        client = TestClient(app)
        barrier.wait()
        results[i] = client.post("/v1/tickets", json=body, headers=sent)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _slowly(function: Any) -> Any:
    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.5)
        return function(*args, **kwargs)

    return slow


def _holding_the_key(function: Any) -> Any:
    """Make the one-statement path slow while it holds its key, as a slow statement would."""

    def slow(session: Session, *, fp: Any, **kwargs: Any) -> Any:
        repo.hold(session, fp=fp)
        time.sleep(2)  # long enough for the others to arrive on a loaded machine (CI's)
        return function(session, fp=fp, **kwargs)

    return slow


def test_concurrent_duplicates_store_one_ticket(
    live: tuple[Any, dict[str, str], str], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, auth, source = live
    # Hold the key in flight while the others arrive: SQLite's general path holds it (the write
    # lock) from its first statement, PostgreSQL's one statement while it runs.
    monkeypatch.setattr(ticket_repo, "insert_ticket", _slowly(ticket_repo.insert_ticket))
    keyed = ticket_repo.insert_ticket_keyed
    monkeypatch.setattr(ticket_repo, "insert_ticket_keyed", _holding_the_key(keyed))
    responses = _race(app, {**auth, "Idempotency-Key": "race-1"}, ticket(), n=6)
    codes = sorted(r.status_code for r in responses)
    fresh = [
        r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    ]
    assert len(fresh) == 1, codes
    in_flight = [r for r in responses if r.status_code == 409]
    assert all(r.json()["error"]["code"] == "idempotency_key_in_flight" for r in in_flight)
    replays = [r for r in responses if r.status_code == 201 and r not in fresh]
    assert all(r.json() == fresh[0].json() for r in replays)
    assert len(in_flight) + len(replays) == len(responses) - 1, codes
    if engine.dialect.name == "postgresql":
        # SQLite has one writer: the others queue behind the first and see its answer.
        assert in_flight, codes
    replay = TestClient(app).post(
        "/v1/tickets", json=ticket(), headers={**auth, "Idempotency-Key": "race-1"}
    )
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == fresh[0].json()["id"]
    with Session(engine) as session:
        stored = session.scalar(select(func.count(TicketRow.id)).where(TicketRow.source == source))
    assert stored == 1


def test_concurrent_same_external_id_without_key(
    live: tuple[Any, dict[str, str], str], engine: Engine
) -> None:
    app, auth, source = live
    responses = _race(app, auth, ticket(external_id="RACE-2"), n=6)
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 1, codes
    assert all(
        r.json()["error"]["code"] == "ticket_exists" for r in responses if r.status_code == 409
    )
    assert set(codes) == {201, 409}
    with Session(engine) as session:
        stored = session.scalar(select(func.count(TicketRow.id)).where(TicketRow.source == source))
    assert stored == 1


def _create(client: TestClient, auth: dict[str, str], external_id: str, key: str) -> Any:
    headers = {**auth, "Idempotency-Key": key}
    # A returning customer, known by their phone: linking them writes nothing.
    body = ticket(external_id=external_id, customer={"name": "李先生", "phone": "13800138000"})
    return client.post("/v1/tickets", json=body, headers=headers)


def test_keyed_creation_commits_everything_at_once(
    live: tuple[Any, dict[str, str], str], engine: Engine
) -> None:
    """On a session of its own (as in production) the one-statement path commits alone."""
    app, auth, _ = live
    client = TestClient(app)
    # The first request reads the region index and purges expired keys: either begins the
    # session's transaction. The next requests find nothing begun.
    assert _create(client, auth, "WARM", "solo-0").status_code == 201
    autocommits: list[bool] = []

    @event.listens_for(app.state.engine, "before_cursor_execute")
    def record(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "pg_try_advisory_xact_lock" in statement:
            autocommits.append(conn.connection.driver_connection.autocommit)

    first = _create(client, auth, "SOLO-1", "solo-1")
    again = _create(client, auth, "SOLO-1", "solo-1")
    assert first.status_code == again.status_code == 201
    if engine.dialect.name == "postgresql":
        assert autocommits == [True, True]  # one round trip each, no BEGIN or COMMIT
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    with Session(engine) as session:
        stored = session.get(TicketRow, first.json()["id"])
        assert stored is not None and stored.external_id == "SOLO-1"
        assert stored.customer_id is not None
        changes = select(func.count()).where(TicketStatusChangeRow.ticket_id == stored.id)
        assert session.scalar(changes) == 1
        key = session.scalars(
            select(IdempotencyKeyRow).where(IdempotencyKeyRow.key == "solo-1")
        ).one()
        assert key.response_body == first.json()


@pytest.mark.postgis
def test_a_dropped_connection_is_a_503_and_the_retry_succeeds(
    live: tuple[Any, dict[str, str], str], engine: Engine
) -> None:
    """The pool does not ping connections: the request that finds one dead answers 503."""
    app, auth, _ = live
    client = TestClient(app)
    assert _create(client, auth, "DROP-0", "dropped-0").status_code == 201
    with app.state.engine.connect() as conn:  # the one connection the requests above used
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    dropped = _create(client, auth, "DROP-1", "dropped-1")
    assert dropped.status_code == 503
    assert dropped.headers["Retry-After"] == "1"
    assert dropped.json()["error"]["code"] == "database_unavailable"
    retried = _create(client, auth, "DROP-1", "dropped-1")
    assert retried.status_code == 201
    with Session(engine) as session:
        stored = select(func.count(TicketRow.id)).where(TicketRow.external_id == "DROP-1")
        assert session.scalar(stored) == 1
