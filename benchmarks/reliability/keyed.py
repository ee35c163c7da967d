"""Keyed ticket submissions retried until answered, and the audit of what the database kept.

A client that sends an ``Idempotency-Key`` may retry a request whose answer it did not get
(the connection died, the service answered 503, the key was still held): the service promises
that the retry is answered with the first answer if the work was done, and does the work if it
was not. :func:`submit` is that client; :func:`audit` then compares, key by key, what the client
was told with what the database holds.
"""

import http.client
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from benchmarks.api_load import Customers, _tickets

RETRY_STATUSES = frozenset({409, 500, 502, 503, 504})  # 409: the key is held by a request in flight


@dataclass(frozen=True)
class Submission:
    """One keyed POST: a ticket (``/v1/tickets``) or a batch of them (``/v1/tickets/batch``)."""

    key: str
    path: str
    body: bytes
    external_ids: tuple[str, ...]


def submissions(
    prefix: str, n: int, *, batch_every: int = 0, batch_size: int = 10
) -> list[Submission]:
    """``n`` keyed submissions; with ``batch_every``, every that-many-th one is a batch."""
    made = []
    for i in range(n):
        is_batch = batch_every > 0 and i % batch_every == batch_every - 1
        tickets = _tickets(
            batch_size if is_batch else 1, i, f"{prefix}-{i}", [], Customers.RETURNING
        )
        body: dict[str, Any] = {"tickets": tickets} if is_batch else tickets[0]
        path = "/v1/tickets/batch" if is_batch else "/v1/tickets"
        external_ids = tuple(str(t["external_id"]) for t in tickets)
        made.append(Submission(f"{prefix}-key-{i}", path, json.dumps(body).encode(), external_ids))
    return made


@dataclass
class Answer:
    """The answer a key finally got: status, the ticket ids it names, whether a replay."""

    status: int
    ticket_ids: tuple[int, ...]
    is_replay: bool


class Connection:
    """One keep-alive HTTP/1.1 connection that reconnects after a transport error.

    ``client_port`` is its local port while it is open (the fault benchmark looks up which
    server process accepted it).
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.client_port: int | None = None
        self._conn: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        wait_s: float = 60.0,
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request; raise ``OSError`` or ``HTTPException`` if it got no answer.

        ``wait_s`` is how long to wait for the answer once the request is sent (a client that
        gives up closes the connection: ``TimeoutError``).
        """
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self._conn.connect()
            assert self._conn.sock is not None
            self.client_port = int(self._conn.sock.getsockname()[1])
        try:
            self._conn.request(method, path, body=body, headers=headers)
            assert self._conn.sock is not None
            self._conn.sock.settimeout(wait_s)
            response = self._conn.getresponse()
            content = response.read()
            self._conn.sock.settimeout(60.0)
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        return response.status, {k.lower(): v for k, v in response.getheaders()}, content

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self.client_port = None


@dataclass
class Tally:
    """Every attempt's outcome (a status, or a transport error's class); requests in flight.

    Thread-safe.
    """

    outcomes: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: str) -> None:
        with self.lock:
            self.outcomes[outcome] += 1

    def sending(self, delta: int) -> None:
        with self.lock:
            self.in_flight += delta


def submit(
    conn: Connection,
    item: Submission,
    token: str,
    tally: Tally,
    deadline: float,
    *,
    first_wait_s: float = 60.0,
) -> Answer | None:
    """POST ``item`` until it is answered (not 409/5xx, not a lost connection); None at deadline.

    The first attempt waits ``first_wait_s`` for its answer: an impatient client gives up on a
    request that the service will still carry out, so its retry meets the stored answer.
    """
    headers = {
        "Authorization": f"Bearer {token}",
        "Idempotency-Key": item.key,
        "Content-Type": "application/json",
    }
    wait_s = first_wait_s
    while time.monotonic() < deadline:
        tally.sending(1)
        try:
            status, answer_headers, content = conn.request(
                "POST", item.path, item.body, headers, wait_s
            )
        except (OSError, http.client.HTTPException) as err:
            tally.add(type(err).__name__)
            time.sleep(0.05)
            continue
        finally:
            tally.sending(-1)
            wait_s = 60.0
        tally.add(str(status))
        if status in RETRY_STATUSES:
            time.sleep(0.1)
            continue
        return Answer(
            status, _ticket_ids(content), answer_headers.get("idempotent-replayed") == "true"
        )
    return None


def _ticket_ids(content: bytes) -> tuple[int, ...]:
    try:
        body = json.loads(content)
    except ValueError:
        return ()
    if isinstance(body, dict) and isinstance(body.get("tickets"), list):
        return tuple(int(t["id"]) for t in body["tickets"])
    return (int(body["id"]),) if isinstance(body, dict) and "id" in body else ()


# What an audit counts that must be zero: each names a way a keyed submission went wrong.
AUDIT_BREACHES = (
    "lost", "stored_unacknowledged", "duplicated", "tickets_not_whole", "partial_batches",
    "orphan_key_rows", "orphan_customers", "unanswered", "refused",
)  # fmt: skip


def audit_violations(counts: dict[str, Any]) -> list[str]:
    """List the counts of an :func:`audit` that break "acknowledged = stored, once, whole"."""
    return [f"{name}: {counts[name]}" for name in AUDIT_BREACHES if counts[name]]


def audit(
    engine: Engine,
    *,
    source: str,
    principal: str,
    sent: list[Submission],
    answers: dict[str, Answer | None],
) -> dict[str, Any]:
    """Compare what each key was told with what the database holds for ``source``.

    Returns the counts: keys acknowledged (answered 2xx) and stored, lost (acknowledged, not
    stored), stored without an acknowledgement, duplicated (a key with more tickets than it
    sent, or answered with ids other than those stored), tickets not whole (not exactly one
    ``new`` history row, no customer, not named by its key's stored answer), batches stored in
    part, and partial rows (customers no ticket refers to, keys whose stored answer names a
    ticket that is not stored).
    """
    rows = _rows(engine, source=source, principal=principal)
    by_external: dict[str, list[int]] = {}
    for ticket_id, external_id in rows["tickets"]:
        by_external.setdefault(external_id, []).append(ticket_id)
    acknowledged = lost = unacknowledged = duplicated = partial_batches = 0
    stored_keys = replayed = refused = 0
    for item in sent:
        answer = answers.get(item.key)
        is_ack = answer is not None and 200 <= answer.status < 300
        stored = [i for e in item.external_ids for i in by_external.get(e, [])]
        acknowledged += is_ack
        replayed += bool(is_ack and answer and answer.is_replay)
        refused += bool(answer is not None and not is_ack)
        stored_keys += bool(stored)
        lost += is_ack and len(stored) < len(item.external_ids)
        unacknowledged += bool(stored) and not is_ack
        over = len(stored) > len(item.external_ids)
        duplicated += over or (
            is_ack and answer is not None and sorted(answer.ticket_ids) != sorted(stored)
        )
        partial_batches += 0 < len(stored) < len(item.external_ids)
    ticket_ids = {ticket_id for ticket_id, _ in rows["tickets"]}
    history_ok = {t for t, n, new in rows["history"] if n == 1 and new == 1}
    key_rows = rows["keys"]
    named = {ticket_id for ids in key_rows.values() for ticket_id in ids}
    whole = ticket_ids & history_ok & rows["with_customer"] & named
    orphan_keys = sum(1 for ids in key_rows.values() if not set(ids) <= ticket_ids)
    return {
        "keys": len(sent),
        "acknowledged": acknowledged,
        "replayed_answers": replayed,
        "refused": refused,
        "unanswered": sum(1 for item in sent if answers.get(item.key) is None),
        "stored_keys": stored_keys,
        "lost": lost,
        "stored_unacknowledged": unacknowledged,
        "duplicated": duplicated,
        "tickets_stored": len(ticket_ids),
        "tickets_whole": len(whole),
        "tickets_not_whole": len(ticket_ids - whole),
        "partial_batches": partial_batches,
        "keys_stored": len(key_rows),
        "orphan_key_rows": orphan_keys,
        "orphan_customers": rows["orphan_customers"],
    }


def _rows(engine: Engine, *, source: str, principal: str) -> dict[str, Any]:
    params = {"source": source, "principal": principal}
    with engine.connect() as conn:
        tickets = [
            (int(r.id), str(r.external_id))
            for r in conn.execute(
                text("SELECT id, external_id FROM ticket WHERE source = :source"), params
            )
        ]
        history = [
            (int(r.ticket_id), int(r.n), int(r.new))
            for r in conn.execute(
                text(
                    "SELECT h.ticket_id, count(*) AS n, "
                    "sum(CASE WHEN h.from_status IS NULL AND h.to_status = 'new' "
                    "THEN 1 ELSE 0 END) AS new "
                    "FROM ticket_status_change h JOIN ticket t ON t.id = h.ticket_id "
                    "WHERE t.source = :source GROUP BY h.ticket_id"
                ),
                params,
            )
        ]
        with_customer = {
            int(r.id)
            for r in conn.execute(
                text(
                    "SELECT t.id FROM ticket t JOIN customer c ON c.id = t.customer_id "
                    "WHERE t.source = :source AND c.source = :source"
                ),
                params,
            )
        }
        orphan_customers = conn.execute(
            text(
                "SELECT count(*) FROM customer c WHERE c.source = :source "
                "AND NOT EXISTS (SELECT 1 FROM ticket t WHERE t.customer_id = c.id)"
            ),
            params,
        ).scalar()
        keys = {
            str(r.key): _ticket_ids(_as_bytes(r.response_body))
            for r in conn.execute(
                text("SELECT key, response_body FROM idempotency_key WHERE principal = :principal"),
                params,
            )
        }
    return {
        "tickets": tickets,
        "history": history,
        "with_customer": with_customer,
        "orphan_customers": int(orphan_customers or 0),
        "keys": keys,
    }


def _as_bytes(value: Any) -> bytes:
    """Return a JSON column's value as JSON text (drivers return it parsed, or as text)."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return (value if isinstance(value, str) else json.dumps(value)).encode()
