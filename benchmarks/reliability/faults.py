"""PostgreSQL restarted, and its connections killed, under a stream of requests.

The service (``serve --workers N``) runs on a database of a private cluster
(:mod:`benchmarks.reliability.cluster`), so that the benchmark may restart PostgreSQL without
touching anyone else's. Client threads send a steady mix over keep-alive connections: keyed
ticket POSTs (a batch of ten every so often), each retried with its key until answered, and
reads of tickets already created. Meanwhile the benchmark restarts the cluster (``fast``:
sessions ended cleanly; ``immediate``: as a crash, with recovery at the next start) and
terminates every connection of the service's database (``pg_terminate_backend``) several times.

Every attempt is recorded with the server process that answered it (the process that accepted
its connection). After a fault, a process has *recovered* at its first success on a request
sent once the fault was over (the cluster accepting connections again, or the terminations
done). Errors answered before that are the fault's; an error on a request sent after its
process recovered is an *error after recovery*, which the service promises never to give.
Then the database is audited as in the crash benchmark: no key lost or doubled, no partial row.
"""

import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.db.spatial import make_engine
from api.demo.service import free_port
from benchmarks.reliability.cluster import PrivateCluster, private_cluster
from benchmarks.reliability.databases import RunDatabase, prepare, server_version
from benchmarks.reliability.keyed import (
    Answer,
    Connection,
    Submission,
    Tally,
    audit,
    audit_violations,
    submissions,
    submit,
)
from benchmarks.reliability.service import NO_WARM_SOLVER, ServiceProcess

WARM_UP_REQUESTS = 50
DEFAULT_PLAN = ("restart:fast", "restart:immediate", "terminate", "terminate", "terminate")


@dataclass(frozen=True)
class FaultParams:
    """What to do and how hard.

    The faults in order (``restart:fast``, ``restart:immediate``, ``terminate``), the gap around
    each, client threads and their pause between requests, and the service's processes.
    """

    plan: tuple[str, ...] = DEFAULT_PLAN
    gap_s: float = 4.0
    threads: int = 6
    pause_s: float = 0.02
    workers: int = 2

    def __post_init__(self) -> None:
        unknown = set(self.plan) - {"restart:fast", "restart:immediate", "terminate"}
        if unknown or self.gap_s <= 0 or self.threads < 1 or self.workers < 1:
            raise ValueError(f"bad fault parameters (unknown faults: {sorted(unknown)})")


@dataclass(frozen=True)
class Attempt:
    """One request: when it was sent and answered, what, the outcome, which process."""

    sent: float
    done: float
    kind: str
    outcome: str  # "201", "503 database_unavailable", "RemoteDisconnected", …
    pid: int | None

    @property
    def is_error(self) -> bool:
        return not self.outcome[:1].isdigit() or int(self.outcome[:3]) >= 500


@dataclass
class Fault:
    """A fault as done: its name, when it began and ended, what it touched."""

    name: str
    began: float
    ended: float
    backends_terminated: int = 0


@dataclass
class Stream:
    """The client threads' shared state: work, answers, attempts."""

    service: ServiceProcess
    token: str
    pending: list[Submission]
    answers: dict[str, Answer | None] = field(default_factory=dict)
    tried: dict[str, Submission] = field(default_factory=dict)
    created: list[int] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_submission(self) -> Submission | None:
        with self.lock:
            if not self.pending:
                return None
            item = self.pending.pop()
            self.tried[item.key] = item
            return item

    def run(self, seed: int, pause_s: float) -> None:
        """Send requests until told to stop: three POSTs for every read."""
        rng = random.Random(seed)
        conn = Connection(self.service.port)
        pid: int | None = None
        item: Submission | None = None
        headers = {"Authorization": f"Bearer {self.token}"}
        n = 0
        while not self.stop.is_set():
            n += 1
            is_read = n % 4 == 0 and bool(self.created)
            if is_read:
                ticket_id = rng.choice(self.created)
                method, path, body, kind = "GET", f"/v1/tickets/{ticket_id}", None, "read"
                sent_headers = headers
            else:
                item = item or self.next_submission()
                if item is None:
                    break
                method, path, body, kind = "POST", item.path, item.body, item.path
                sent_headers = {
                    **headers,
                    "Idempotency-Key": item.key,
                    "Content-Type": "application/json",
                }
            sent = time.monotonic()
            try:
                status, answer_headers, content = conn.request(method, path, body, sent_headers)
                outcome = _outcome(status, content)
            except OSError as err:
                status, outcome, content, answer_headers = 0, type(err).__name__, b"", {}
            except Exception as err:  # http.client's own (a garbled or cut answer)
                status, outcome, content, answer_headers = 0, type(err).__name__, b"", {}
            if pid is None and conn.client_port is not None:
                pid = self.service.owner_of(conn.client_port)
            with self.lock:
                self.attempts.append(Attempt(sent, time.monotonic(), kind, outcome, pid))
            if conn.client_port is None:
                pid = None  # the connection was closed: the next one may land elsewhere
            if not is_read and item is not None and 200 <= status < 300:
                answer = Answer(
                    status, _ids(content), answer_headers.get("idempotent-replayed") == "true"
                )
                with self.lock:
                    self.answers[item.key] = answer
                    self.created.extend(answer.ticket_ids)
                item = None
            elif not is_read and item is not None and 400 <= status < 500 and status != 409:
                with self.lock:
                    self.answers[item.key] = Answer(status, (), False)  # refused: counted
                item = None
            time.sleep(pause_s)
        conn.close()


def _outcome(status: int, content: bytes) -> str:
    if status < 500:
        return str(status)
    try:
        return f"{status} {json.loads(content)['error']['code']}"
    except (ValueError, KeyError, TypeError):
        return f"{status} (not the error body)"


def _ids(content: bytes) -> tuple[int, ...]:
    body = json.loads(content)
    if "tickets" in body:
        return tuple(int(t["id"]) for t in body["tickets"])
    return (int(body["id"]),)


def _terminate(cluster: PrivateCluster, database: str) -> int:
    """Terminate every connection to ``database`` (the service's); return how many."""
    admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = :db AND pid <> pg_backend_pid()"
                ),
                {"db": database},
            ).scalar()
    finally:
        admin.dispose()
    return int(killed or 0)


def _do(fault: str, cluster: PrivateCluster, database: str) -> Fault:
    began = time.monotonic()
    if fault.startswith("restart:"):
        cluster.stop(fault.partition(":")[2])
        cluster.start()  # returns once the cluster accepts connections
        return Fault(fault, began, time.monotonic())
    killed = _terminate(cluster, database)
    return Fault(fault, began, time.monotonic(), backends_terminated=killed)


def fault_figures(fault: Fault, attempts: list[Attempt], until: float) -> dict[str, Any]:
    """Sort the errors answered from the fault's start to ``until`` into the fault's and later.

    An error is the fault's unless its request was sent after its process recovered.
    """
    mine = [a for a in attempts if fault.began <= a.done < until]
    recovered: dict[int | None, float] = {}
    for a in sorted(mine, key=lambda a: a.done):
        if not a.is_error and a.sent >= fault.ended:
            recovered.setdefault(a.pid, a.done)
    during: dict[str, int] = {}
    after: dict[str, int] = {}
    for a in mine:
        if not a.is_error:
            continue
        bucket = after if a.pid in recovered and a.sent >= recovered[a.pid] else during
        bucket[a.outcome] = bucket.get(a.outcome, 0) + 1
    errors = [a for a in mine if a.is_error]
    return {
        "fault": fault.name,
        "downtime_s": round(fault.ended - fault.began, 3),
        "backends_terminated": fault.backends_terminated,
        "requests": len(mine),
        "errors_during_fault": during,
        "errors_after_recovery": after,
        "processes_recovered": len(recovered),
        "recovered_after_s": round(max(recovered.values()) - fault.began, 3) if recovered else None,
        "last_error_after_s": round(max(a.done for a in errors) - fault.began, 3)
        if errors
        else None,
    }


def faults_run(params: FaultParams | None = None) -> dict[str, Any]:
    """Run the plan against a service on a private cluster; return the figures."""
    params = params or FaultParams()
    with private_cluster(free_port()) as cluster:
        name = f"faults_{uuid.uuid4().hex[:8]}"
        database = prepare(cluster.create_database(name))
        return _against(cluster, database, params)


def _against(cluster: PrivateCluster, database: RunDatabase, params: FaultParams) -> dict[str, Any]:
    name = str(make_url(database.url).database)
    service = ServiceProcess(database.url, free_port(), workers=params.workers, env=NO_WARM_SOLVER)
    service.start()
    work = submissions(f"faults-{uuid.uuid4().hex[:8]}", 20_000, batch_every=8)
    stream = Stream(service, database.tokens["integrator"], list(reversed(work)))
    threads = [
        threading.Thread(target=stream.run, args=(seed, params.pause_s), daemon=True)
        for seed in range(params.threads)
    ]
    started = time.monotonic()
    faults: list[Fault] = []
    try:
        for thread in threads:
            thread.start()
        warm_until = time.monotonic() + 60  # first requests of a fresh process are slow
        while len(stream.attempts) < WARM_UP_REQUESTS and time.monotonic() < warm_until:
            time.sleep(0.1)
        time.sleep(params.gap_s)
        for fault in params.plan:
            faults.append(_do(fault, cluster, name))
            time.sleep(params.gap_s)
        stream.stop.set()
        for thread in threads:
            thread.join(timeout=60)
        figures = _figures(stream, faults, started)
        # A key whose answer had not come when the stream stopped is retried to the end.
        unanswered = [s for k, s in stream.tried.items() if k not in stream.answers]
        for item in unanswered:
            stream.answers[item.key] = submit(
                Connection(service.port),
                item,
                database.tokens["integrator"],
                Tally(),
                time.monotonic() + 60,
            )
    finally:
        service.stop()
    engine = make_engine(database.url)
    try:
        sent = list(stream.tried.values())
        counts = audit(
            engine,
            source=database.source,
            principal=database.principal,
            sent=sent,
            answers=stream.answers,
        )
        version = server_version(engine)
    finally:
        engine.dispose()
    return {
        "server": version,
        "service_processes": params.workers,
        "client_threads": params.threads,
        **figures,
        "audit": counts,
    }


def _figures(stream: Stream, faults: list[Fault], started: float) -> dict[str, Any]:
    attempts = sorted(stream.attempts, key=lambda a: a.done)
    ends = [f.began for f in faults[1:]] + [float("inf")]
    per_fault = [fault_figures(f, attempts, until) for f, until in zip(faults, ends, strict=True)]
    before = [a for a in attempts if faults and a.done < faults[0].began and a.is_error]
    kinds: dict[str, int] = {}
    for a in attempts:
        kinds[a.kind] = kinds.get(a.kind, 0) + 1
    return {
        "seconds": round(attempts[-1].done - started, 1) if attempts else 0.0,
        "requests": len(attempts),
        "requests_by_kind": kinds,
        "errors_before_any_fault": len(before),
        "faults": per_fault,
        "errors_during_faults": sum(sum(f["errors_during_fault"].values()) for f in per_fault),
        "errors_after_recovery": sum(sum(f["errors_after_recovery"].values()) for f in per_fault),
        "non_503_errors": sum(
            n
            for f in per_fault
            for outcome, n in f["errors_during_fault"].items()
            if outcome != "503 database_unavailable"
        ),
    }


def faults_violations(figures: dict[str, Any]) -> list[str]:
    """List what broke the promise (nothing when it held).

    Errors outside faults or after recovery, errors other than 503s, keys lost or doubled,
    partial rows.
    """
    broken = [
        f"{name}: {figures[name]}"
        for name in ("errors_before_any_fault", "errors_after_recovery", "non_503_errors")
        if figures[name]
    ]
    return broken + audit_violations(figures["audit"])


def partial_rows(figures: dict[str, Any]) -> int:
    """Rows written in part: tickets not whole, batches in part, orphan keys and customers."""
    counts = figures["audit"]
    names = ("tickets_not_whole", "partial_batches", "orphan_key_rows", "orphan_customers")
    return sum(int(counts[name]) for name in names)
