"""Money under concurrency: settle, re-settle, adjustments and withdrawals at once.

A few technicians get a dozen finished jobs each through the API of ``geodispatch serve``
(two processes by default). Two thirds are confirmed before any rate card exists, so they wait
in ``confirmed``; the rest stay ``completed``. Then a card is published and, from many client
threads in a shuffled order:

- wave 1: every waiting ticket settled three times at once, the backlog settled
  (``/v1/settlement/pending``), the completed ones confirmed (which settles them) while being
  settled, small adjustments, and withdrawals sized so that many must be refused;
- a second version of the card (a higher fee) is published;
- wave 2: every ticket re-settled twice (a reversal and a new earning, once), settled again,
  more adjustments and withdrawals.

:mod:`benchmarks.reliability.money_audit` then checks the ledger against the answers given.
Adjustments are positive here (bonuses), and the second card pays more, so the only entries
that lower a balance are withdrawals (and a reversal with its own replacement): a balance below
zero at any point can only be an overdraft.
"""

import random
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from api.demo.service import free_port
from benchmarks.reliability.databases import RunDatabase
from benchmarks.reliability.money_audit import audit_ledgers
from benchmarks.reliability.service import NO_WARM_SOLVER, ServiceProcess, service_warnings

PUDONG = (121.522511, 31.230694)  # Century Avenue, district 310115 (coefficient 1.10)
STEPS = ("dispatched", "en_route", "on_site", "completed")


def card(version: int, repair_fee: str) -> dict[str, Any]:
    """Return the benchmark's card: a base fee and a region coefficient.

    No volume tiers, so that a ticket's price does not depend on the order in which the tickets
    settle.
    """
    return {
        "id": "bench-money",
        "version": version,
        "currency": "CNY",
        "effective_from": "2026-01-01",
        "time_zone": "Asia/Shanghai",
        "rules": [
            {
                "kind": "base_fee",
                "id": "base",
                "fees": {"repair": {"fee": repair_fee, "label_zh": "维修", "label_en": "repair"}},
            },
            {
                "kind": "region_coefficient",
                "id": "region",
                "outside": "fallback",
                "fallback_coefficient": "1.00",
                "coefficients": {"310115": "1.10"},
            },
        ],
    }


@dataclass(frozen=True)
class MoneyParams:
    """How big and how concurrent.

    Technicians, jobs each, client threads, withdrawals and adjustments per technician and wave,
    backlog settlements (``/v1/settlement/pending``) in the first wave, the service's processes,
    the seed of the shuffles and amounts.
    """

    technicians: int = 4
    jobs: int = 12
    threads: int = 8
    withdrawals: int = 15
    adjustments: int = 5
    backlog_settles: int = 3
    workers: int = 2
    seed: int = 1


@dataclass
class Outcomes:
    """Every answer: counts by operation and status, and the ledger entries answers named."""

    statuses: dict[str, int] = field(default_factory=dict)
    entries: dict[int, tuple[str, int]] = field(default_factory=dict)  # id -> (kind, fen)
    settled: set[int] = field(default_factory=set)  # tickets answered as settled
    server_errors: list[str] = field(default_factory=list)  # what each 5xx answered
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, operation: str, response: httpx.Response | None, error: str = "") -> None:
        status = "none" if response is None else str(response.status_code)  # none: no answer
        body = _json(response)
        with self.lock:
            name = f"{operation} {status}"
            self.statuses[name] = self.statuses.get(name, 0) + 1
            for entry in body.get("entries", []) if isinstance(body, dict) else []:
                fen = int(Decimal(entry["amount"]["amount"]) * 100)
                self.entries[int(entry["id"])] = (str(entry["kind"]), fen)
            if response is None or response.status_code >= 500:
                said = error if response is None else response.text[:300]
                self.server_errors.append(f"{operation} {status}: {said}")
            if operation in {"settle", "confirm"} and response is not None and response.is_success:
                self.settled.add(int(body.get("ticket_id", body.get("id", 0))))


def _json(response: httpx.Response | None) -> Any:
    try:
        return response.json() if response is not None else {}
    except ValueError:
        return {}


def money_run(database: RunDatabase, params: MoneyParams | None = None) -> dict[str, Any]:
    """Seed the jobs, run both waves, audit the ledgers; return the figures."""
    folder = Path(tempfile.mkdtemp(prefix="geodispatch-money-"))
    try:
        return _money_run(database, params or MoneyParams(), folder / "service.log")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _money_run(database: RunDatabase, params: MoneyParams, log_file: Path) -> dict[str, Any]:
    rng = random.Random(params.seed)
    service = ServiceProcess(
        database.url, free_port(), workers=params.workers, env=NO_WARM_SOLVER, log_file=log_file
    )
    service.start()
    outcomes = Outcomes()
    try:
        limits = httpx.Limits(max_connections=params.threads * 2)
        with httpx.Client(base_url=service.url, timeout=120, limits=limits) as client:
            caller = Caller(client, database.tokens, outcomes)
            jobs = _seed(caller, params)
            caller.must("admin", "POST", "/v1/rate-cards", json=card(1, "80.00"))
            _wave(caller, params, _first_wave(jobs, params, rng), rng)
            caller.must("admin", "POST", "/v1/rate-cards", json=card(2, "96.00"))
            _wave(caller, params, _second_wave(jobs, params, rng), rng)
            balances = {
                tech: caller.must("admin", "GET", f"/v1/earnings/{tech}/ledger?limit=1")["balance"]
                for tech in jobs
            }
    finally:
        service.stop()
    audit = audit_ledgers(database.url, list(jobs), outcomes, balances)
    operations = sum(n for name, n in outcomes.statuses.items() if not name.startswith("seed"))
    conflicts = sum(n for name, n in outcomes.statuses.items() if name.endswith(" 409"))
    server_errors = sum(
        n for name, n in outcomes.statuses.items() if name.split()[-1][0] in "5n"
    )  # 5xx and none (no answer)
    return {
        "technicians": params.technicians,
        "jobs_per_technician": params.jobs,
        "client_threads": params.threads,
        "service_processes": params.workers,
        "operations": operations,
        "conflicts_409": conflicts,
        "server_errors": server_errors,
        "answered_503": sum(n for name, n in outcomes.statuses.items() if name.endswith(" 503")),
        "answers": dict(sorted(outcomes.statuses.items())),
        "server_error_answers": outcomes.server_errors[:10],
        "service_log": _log_summary(service_warnings(log_file)),
        **audit,
    }


def _log_summary(lines: list[str]) -> dict[str, int]:
    """Count the service's warnings by their first line (and where, for database errors).

    Confirmations before the first card are expected to stay unsettled: left out.
    """
    counts: dict[str, int] = {}
    for line in lines:
        if "confirmed but not settled" in line:
            continue
        first = line.splitlines()[0]
        where = line.partition("CONTEXT:")[2].strip().splitlines()[:1]
        key = f"{first} ({where[0]})" if where else first
        counts[key] = counts.get(key, 0) + 1
    return counts


@dataclass
class Caller:
    """The client, the tokens by caller, and where answers are recorded."""

    client: httpx.Client
    tokens: dict[str, str]
    outcomes: Outcomes

    def call(
        self, who: str, operation: str, method: str, path: str, **kw: Any
    ) -> httpx.Response | None:
        headers = {"Authorization": f"Bearer {self.tokens[who]}", **kw.pop("headers", {})}
        error = ""
        try:
            response: httpx.Response | None = self.client.request(
                method, path, headers=headers, **kw
            )
        except httpx.HTTPError as err:
            response, error = None, f"{type(err).__name__}: {err}"
        self.outcomes.record(operation, response, error)
        return response

    def must(self, who: str, method: str, path: str, **kw: Any) -> Any:
        response = self.call(who, "seed", method, path, **kw)
        if response is None or not response.is_success:
            detail = "no answer" if response is None else f"{response.status_code} {response.text}"
            raise RuntimeError(f"{method} {path}: {detail[:400]}")
        return response.json()


def _seed(caller: Caller, params: MoneyParams) -> dict[str, list[tuple[int, bool]]]:
    """Technicians and their finished jobs; returns ``{technician: [(ticket, waits), ...]}``."""
    run = uuid.uuid4().hex[:6]
    now = datetime.now(UTC).isoformat()
    jobs: dict[str, list[tuple[int, bool]]] = {}
    for t in range(params.technicians):
        tech = f"T-money-{run}-{t}"
        caller.must(
            "dispatcher",
            "POST",
            "/v1/technicians",
            json={
                "id": tech,
                "name": f"money {t}",
                "home_base": list(PUDONG),
                "skills": {"appliance": 3},
            },
        )
        jobs[tech] = []
        for j in range(params.jobs):
            ticket = caller.must(
                "integrator",
                "POST",
                "/v1/tickets",
                json={
                    "external_id": f"money-{run}-{t}-{j}",
                    "type": "repair",
                    "location": list(PUDONG),
                    "address": "世纪大道 100 号",
                    "duration_min": 60,
                    "customer": {"name": "王女士"},
                },
            )
            path = f"/v1/tickets/{ticket['id']}/transitions"
            caller.must("dispatcher", "POST", path, json={"to": "scheduled", "technician_id": tech})
            for status in STEPS:
                caller.must("dispatcher", "POST", path, json={"to": status})
            waits = j % 3 != 2
            if waits:  # confirmed before any card: it waits in `confirmed`
                caller.must("dispatcher", "POST", path, json=_confirmation(now))
            jobs[tech].append((int(ticket["id"]), waits))
    return jobs


def _confirmation(now: str) -> dict[str, Any]:
    return {
        "to": "confirmed",
        "rating": 5,
        "signature": {"signer_name": "王女士", "signed_at": now},
    }


Operation = Callable[[Caller], Any]


def _withdrawal(tech: str, rng: random.Random) -> Operation:
    amount = f"{rng.randint(500, 12_000) / 100:.2f}"  # 5 to 120 yuan: many beyond the balance
    body = {"amount": {"amount": amount, "currency": "CNY"}, "memo": "bench"}
    return lambda c: c.call(
        "admin", "withdraw", "POST", f"/v1/earnings/{tech}/withdrawals", json=body
    )


def _adjustment(tech: str, rng: random.Random) -> Operation:
    amount = f"{rng.randint(1, 5_000) / 100:.2f}"  # a bonus of 0.01 to 50 yuan
    body = {"kind": "adjustment", "amount": {"amount": amount, "currency": "CNY"}, "memo": "bonus"}
    return lambda c: c.call(
        "admin", "adjust", "POST", f"/v1/earnings/{tech}/adjustments", json=body
    )


def _settle(ticket: int) -> Operation:
    return lambda c: c.call("admin", "settle", "POST", f"/v1/tickets/{ticket}/settle")


def _settle_pending() -> Operation:
    return lambda c: c.call("admin", "settle pending", "POST", "/v1/settlement/pending")


def _confirm(ticket: int, now: str) -> Operation:
    path, body = f"/v1/tickets/{ticket}/transitions", _confirmation(now)
    return lambda c: c.call("dispatcher", "confirm", "POST", path, json=body)


def _resettle(tech: str, ticket: int) -> Operation:
    body = {"kind": "resettle", "ticket_id": ticket, "memo": "card v2"}
    return lambda c: c.call(
        "admin", "resettle", "POST", f"/v1/earnings/{tech}/adjustments", json=body
    )


def _first_wave(
    jobs: dict[str, list[tuple[int, bool]]], params: MoneyParams, rng: random.Random
) -> list[Operation]:
    now = datetime.now(UTC).isoformat()
    ops: list[Operation] = []
    for tech, tickets in jobs.items():
        for ticket, waits in tickets:
            if waits:
                ops += [_settle(ticket)] * 3
            else:
                ops.append(_confirm(ticket, now))
                ops.append(_settle(ticket))  # 409 if it comes before the confirmation
        ops += [_withdrawal(tech, rng) for _ in range(params.withdrawals)]
        ops += [_adjustment(tech, rng) for _ in range(params.adjustments)]
    ops += [_settle_pending()] * params.backlog_settles
    return ops


def _second_wave(
    jobs: dict[str, list[tuple[int, bool]]], params: MoneyParams, rng: random.Random
) -> list[Operation]:
    ops: list[Operation] = []
    for tech, tickets in jobs.items():
        for ticket, _ in tickets:
            ops += [_resettle(tech, ticket)] * 2
            ops.append(_settle(ticket))
        ops += [_withdrawal(tech, rng) for _ in range(params.withdrawals)]
        ops += [_adjustment(tech, rng) for _ in range(params.adjustments)]
    return ops


def _wave(caller: Caller, params: MoneyParams, ops: list[Operation], rng: random.Random) -> None:
    rng.shuffle(ops)
    with ThreadPoolExecutor(params.threads) as pool:
        list(pool.map(lambda op: op(caller), ops))


def money_violations(figures: dict[str, Any]) -> list[str]:
    """List what broke the money promise: the audit's findings, and any 5xx but a 503.

    A 503 (``database_unavailable``: PostgreSQL chose the request as a deadlock's victim) wrote
    nothing, as the audit shows; :func:`unavailable_answers` reports those.
    """
    broken = list(figures["violations"])
    if others := figures["server_errors"] - figures["answered_503"]:
        broken.append(f"{others} answers were 5xx other than 503, or none")
    return broken


def unavailable_answers(figures: dict[str, Any]) -> list[str]:
    """List the 503s: the service promises none, though they cost no money."""
    if not figures["answered_503"]:
        return []
    causes = "; ".join(f"{n} x {line}" for line, n in figures["service_log"].items())
    return [f"{figures['answered_503']} answers were 503 database_unavailable ({causes})"]
