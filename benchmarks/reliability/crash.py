"""Kill -9 of the service during keyed ticket POSTs: nothing acknowledged lost, nothing doubled.

``geodispatch serve`` (one process) runs in its own process group. Several client threads POST
``keys`` tickets, each with its own ``Idempotency-Key``, and retry each until they get an answer
(a lost connection, a refused one while the service is down, a 503 or a 409 for a key still
held are retried; the same key and body each time); one key in ten is first sent by an
impatient client that gives up after a millisecond, as a client with a short timeout would, so
that the service completes requests nobody waits for. Meanwhile the benchmark kills the whole
service with SIGKILL ``kills`` times, at even shares of the answered keys, and starts it again
on the same port. Then :func:`benchmarks.reliability.keyed.audit` counts, key by key, what was
acknowledged and what the database holds.
"""

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from api.db.spatial import make_engine
from api.demo.service import free_port
from benchmarks.reliability.databases import RunDatabase, server_version
from benchmarks.reliability.keyed import (
    Answer,
    Connection,
    Tally,
    audit,
    audit_violations,
    submissions,
    submit,
)
from benchmarks.reliability.service import NO_WARM_SOLVER, ServiceProcess


@dataclass(frozen=True)
class CrashParams:
    """How many keys, kills and client threads; how long the clients may keep retrying.

    The first attempt of every ``impatient_every``-th key waits only ``impatient_s`` for its
    answer, then gives up and retries (0: never): requests the service completes after the
    client left, whose retries must get the stored answer, not a second ticket.
    """

    keys: int = 1000
    kills: int = 3
    threads: int = 8
    deadline_s: float = 300.0
    impatient_every: int = 10
    impatient_s: float = 0.001

    def __post_init__(self) -> None:
        if self.keys < 1 or self.kills < 0 or self.threads < 1 or self.deadline_s <= 0:
            raise ValueError("keys and threads must be positive, kills not negative")


def crash_run(database: RunDatabase, params: CrashParams | None = None) -> dict[str, Any]:
    """Submit the keys while killing the service; return the audit and what each kill cut."""
    params = params or CrashParams()
    sent = submissions(f"crash-{uuid.uuid4().hex[:8]}", params.keys)
    service = ServiceProcess(database.url, free_port(), workers=1, env=NO_WARM_SOLVER)
    first_start_s = service.start()
    token = database.tokens["integrator"]
    answers: dict[str, Answer | None] = {}
    tally = Tally()
    work = iter(sent)
    work_lock = threading.Lock()
    deadline = time.monotonic() + params.deadline_s

    def client() -> None:
        conn = Connection(service.port)
        while True:
            with work_lock:
                item = next(work, None)
            if item is None:
                break
            is_impatient = (
                params.impatient_every
                and int(item.key.rsplit("-", 1)[1]) % (params.impatient_every) == 0
            )
            wait_s = params.impatient_s if is_impatient else 60.0
            answers[item.key] = submit(conn, item, token, tally, deadline, first_wait_s=wait_s)
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(params.threads)]
    for thread in threads:
        thread.start()
    kills = []
    try:
        for k in range(1, params.kills + 1):
            while len(answers) < params.keys * k / (params.kills + 1):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.005)
            cut = tally.in_flight
            at_s = time.monotonic() - started
            service.kill()
            restart_s = service.start()
            kills.append(
                {
                    "at_s": round(at_s, 2),
                    "answered_before": len(answers),
                    "requests_in_flight": cut,
                    "restart_s": round(restart_s, 2),
                }
            )
        for thread in threads:
            thread.join(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        service.stop()
    elapsed_s = time.monotonic() - started
    engine = make_engine(database.url)
    try:
        counts = audit(
            engine,
            source=database.source,
            principal=database.principal,
            sent=sent,
            answers=answers,
        )
        version = server_version(engine)
    finally:
        engine.dispose()
    return {
        "database": database.kind,
        "server": version,
        "keys": params.keys,
        "client_threads": params.threads,
        "kills": kills,
        "first_start_s": round(first_start_s, 2),
        "seconds": round(elapsed_s, 1),
        "attempts": dict(sorted(tally.outcomes.items())),
        **counts,
    }


def crash_violations(figures: dict[str, Any]) -> list[str]:
    """List what broke the promise (nothing when it held): acknowledged = stored, all whole."""
    broken = audit_violations(figures)
    if figures["acknowledged"] != figures["keys"]:
        broken.append(f"acknowledged {figures['acknowledged']} of {figures['keys']}")
    if figures["stored_keys"] != figures["acknowledged"]:
        broken.append(f"stored {figures['stored_keys']} != acknowledged {figures['acknowledged']}")
    return broken
