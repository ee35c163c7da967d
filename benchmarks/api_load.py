"""``geodispatch bench api``: ticket creation latency and batch time against uvicorn + PostGIS.

A fresh PostGIS database is created (and dropped afterwards), migrated and given the demo
regions; ``geodispatch serve`` runs the app under uvicorn in child processes on 127.0.0.1,
so the load generator does not share the server's interpreter. Single ``POST /v1/tickets``
(each with its own ``Idempotency-Key``, as integrators send them) go out open-loop at a fixed
rate, so a slow answer does not slow the arrivals down (no coordinated omission); then one
batch is posted. A warm-up at the rate comes first, then ``ANALYZE``: a fresh database has no
planner statistics until autovacuum first visits it, and without them PostgreSQL plans the
customer look-ups as scans of every customer of the source.

With ``--rate-card-kb``, the database first holds a rate card padded with difficulty flags to
about that size, and every ticket names one of its flags, so each POST checks its flags
against the cards in force: what a large card costs the hot path.

``--customers`` says who the tickets are for: ``returning`` (one customer the source already
knows, linked without a write, so the one-statement path serves every POST) or ``new`` (a new
person on each ticket: a customer and its phone to store, after the probable-match lookups).
"""

import asyncio
import enum
import itertools
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import numpy as np
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.auth import Role, create_key
from api.cli.common import fail, reports_errors
from api.config import PROJECT_ROOT, get_settings
from api.datafiles import load_regions
from api.db import migrate
from api.db.spatial import make_engine
from api.demo.service import free_port
from api.rate_cards import repository as card_repo
from api.regions import repository as region_repo

TARGET_P99_MS = 50.0
TARGET_BATCH_S = 5.0
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class Customers(enum.StrEnum):
    """Who the bench's tickets are for."""

    RETURNING = "returning"
    NEW = "new"


# The new people's numbers (phone and name), one each across every run of an invocation.
_NEW_PHONES = itertools.count(10_000_000)


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """Create a PostGIS database for one run; drop it afterwards, whatever happens."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"geodispatch_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name)
    try:
        with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text("CREATE EXTENSION postgis"))
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


PADDED_FLAG = "flag_00000"  # the first flag of the padded card: what every ticket names


def padded_card(size_kib: int) -> str:
    """Return a JSON rate card in force today, padded with difficulty flags to ``size_kib``.

    As many flags as fit: the document is at most ``size_kib`` KiB and within one flag of it.
    """
    flags: dict[str, dict[str, str]] = {}
    card = {
        "id": "bench-padded", "version": 1, "currency": "CNY", "effective_from": "2000-01-01",
        "rules": [
            {"kind": "base_fee", "id": "base",
             "fees": {"repair": {"fee": "80.00", "label_zh": "维修", "label_en": "repair"}}},
            {"kind": "difficulty", "id": "difficulty", "flags": flags},
        ],
    }  # fmt: skip
    entry = {"coefficient": "1.05", "label_zh": "难度标记", "label_en": "padding flag"}
    # What one more entry adds to a table: its key, its value and the ", " before it.
    per_flag = len(_json({**entry, PADDED_FLAG: entry})) - len(_json(entry))
    room = size_kib * 1024 - len(_json(card))
    for i in range(max(1, room // per_flag)):
        flags[f"flag_{i:05d}"] = entry
    return _json(card).decode()


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def prepare_database(database_url: str, rate_card_kib: int = 0) -> str:
    """Migrate, load the demo regions (and the padded card), and return an integrator's token."""
    settings = get_settings()
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    regions = load_regions(settings.regions_file, max_vertices=settings.max_region_vertices)
    with Session(engine) as session, session.begin():
        region_repo.replace_all(session, regions=regions)
        _, token = create_key(session, role=Role.INTEGRATOR, name="bench", source="bench")
        if rate_card_kib:
            card_repo.save_version(
                session, document=padded_card(rate_card_kib), document_format="json",
                region_ids={region.id for region in regions}, now=datetime.now(UTC),
                actor_key_id=None,
            )  # fmt: skip
    engine.dispose()
    return token


@contextmanager
def uvicorn_server(database_url: str, port: int, workers: int) -> Iterator[str]:
    """Run ``geodispatch serve`` (``workers`` processes) until the block ends; yield its URL."""
    env = {**os.environ, "GEODISPATCH_DATABASE_URL": database_url}
    command = [
        sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warning", "--no-access-log", "--workers", str(workers),
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # importing the solver stack takes a while
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise fail("uvicorn did not come up (see its output above)")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _tickets(
    n: int, seed: int, prefix: str, difficulty: list[str], customers: Customers
) -> list[dict[str, Any]]:
    """``n`` plausible tickets around Shanghai, seeded, with the ``difficulty`` flags."""
    rng = np.random.default_rng(seed)
    skills = get_settings().skill_catalogue
    day = datetime.now(UTC).replace(hour=1, minute=0, second=0, microsecond=0) + timedelta(days=1)
    tickets = []
    for i in range(n):
        start = day + timedelta(hours=int(rng.integers(0, 8)))
        tickets.append(
            {
                "external_id": f"{prefix}-{i}",
                "type": "repair",
                "location": [float(rng.uniform(121.2, 121.8)), float(rng.uniform(30.9, 31.5))],
                "crs": "gcj02",
                "address": f"测试路 {i} 号",
                "duration_min": int(rng.integers(30, 180)),
                "skills": {str(rng.choice(skills)): int(rng.integers(1, 4))},
                "time_windows": [[start.isoformat(), (start + timedelta(hours=3)).isoformat()]],
                "priority": "normal",
                "customer": _customer(customers),
                "difficulty": difficulty,
            }
        )
    return tickets


def _customer(customers: Customers) -> dict[str, str]:
    if customers is Customers.RETURNING:
        return {"name": "张三", "phone": "+86 138 0000 0000"}
    # Each run repeats the seeded locations: a name repeated there would be a probable
    # duplicate of the earlier run's customer, so the name is as new as the phone.
    number = next(_NEW_PHONES)
    return {"name": f"客户{number}", "phone": f"+86 139 {number:08d}"}


class _Connection:
    """One keep-alive HTTP/1.1 connection that POSTs prepared requests and reads the answers.

    The load generator shares the machine with the server, so it must be cheap: httpx spends
    about 3 ms of CPU per request here, a third of a core at 200 requests/s. Requests are
    serialised before the clock starts; answers are read by ``Content-Length`` (the service
    never streams) and only their status is kept.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    @classmethod
    async def open(cls, base: str) -> "_Connection":
        url = httpx.URL(base)
        reader, writer = await asyncio.open_connection(url.host, url.port)
        return cls(reader, writer)

    async def post(self, request: bytes) -> int:
        """Send one request and return the answer's status, once its body has arrived."""
        self._writer.write(request)
        status = int((await self._reader.readline()).split()[1])
        length = 0
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self._reader.readexactly(length)
        return status

    def close(self) -> None:
        self._writer.close()


def _requests(base: str, token: str, bodies: list[dict[str, Any]]) -> list[bytes]:
    """Serialise each body as a complete ``POST /v1/tickets`` with its own Idempotency-Key."""
    host = httpx.URL(base).netloc.decode()
    requests = []
    for body in bodies:
        content = json.dumps(body).encode()
        head = (
            f"POST /v1/tickets HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {token}\r\nIdempotency-Key: k-{uuid.uuid4()}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(content)}\r\n\r\n"
        )
        requests.append(head.encode() + content)
    return requests


async def _steady(
    base: str,
    token: str,
    rate: float,
    duration_s: float,
    warmup_s: float,
    connections: int,
    difficulty: list[str],
    customers: Customers,
) -> dict[str, Any]:
    """Post tickets at ``rate``/s on a schedule; time those sent after the warm-up.

    Each of ``connections`` workers owns one keep-alive connection and takes the next slot of
    the schedule; a request goes out at its slot, or as soon as a worker is free if all were
    busy (``max_send_lag_ms`` shows how late that got). Latency counts from the send; the
    ``*_from_schedule_ms`` figures count from the slot, so they include that lag too.
    """
    n_warm, n = int(rate * warmup_s), int(rate * duration_s)
    bodies = _tickets(n_warm + n, 1, f"single-{uuid.uuid4().hex[:6]}", difficulty, customers)
    requests = _requests(base, token, bodies)
    latencies: list[float] = []
    lags: list[float] = []
    statuses: dict[str, int] = {}
    slots = iter(range(n_warm + n))
    pool = [await _Connection.open(base) for _ in range(connections)]
    start = time.perf_counter() + 0.5

    async def worker(connection: _Connection) -> None:
        for i in slots:
            at = start + i / rate
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            sent = time.perf_counter()
            try:
                outcome = str(await connection.post(requests[i]))
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as err:
                outcome = type(err).__name__  # a dropped connection or a garbled answer
                connection.close()
                connection = await _Connection.open(base)
            if i >= n_warm:
                latencies.append(time.perf_counter() - sent)
                lags.append(sent - at)
                statuses[outcome] = statuses.get(outcome, 0) + 1
        connection.close()

    await asyncio.gather(*(worker(c) for c in pool))
    elapsed = time.perf_counter() - (start + n_warm / rate)
    ms = np.array(latencies) * 1000
    from_schedule = ms + np.array(lags) * 1000
    return {
        "requests": n,
        "rate_per_s": rate,
        "achieved_per_s": round(n / elapsed, 1),
        "statuses": dict(sorted(statuses.items())),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 2),
        "max_send_lag_ms": round(max(lags) * 1000, 2),
        "p50_from_schedule_ms": round(float(np.percentile(from_schedule, 50)), 2),
        "p99_from_schedule_ms": round(float(np.percentile(from_schedule, 99)), 2),
    }


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the runs' median of each figure (statuses summed): the machine is noisy."""
    median = {
        name: round(float(np.median([run[name] for run in runs])), 2)
        for name, value in runs[0].items()
        if isinstance(value, float) and name != "rate_per_s"
    }
    statuses: dict[str, int] = {}
    for run in runs:
        for status, count in run["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    return {
        **runs[0],
        **median,
        "runs": len(runs),
        "requests": sum(run["requests"] for run in runs),
        "statuses": statuses,
    }


def _analyze(database_url: str) -> None:
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()


def _batch(
    base: str, token: str, size: int, difficulty: list[str], customers: Customers
) -> dict[str, Any]:
    tickets = _tickets(size, 2, f"batch-{uuid.uuid4().hex[:6]}", difficulty, customers)
    body = json.dumps({"tickets": tickets})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    started = time.perf_counter()
    response = httpx.post(f"{base}/v1/tickets/batch", content=body, headers=headers, timeout=120)
    seconds = time.perf_counter() - started
    if response.status_code != 201:
        raise fail(f"batch answered {response.status_code}: {response.text[:500]}")
    return {"tickets": size, "body_mb": round(len(body) / 2**20, 2), "seconds": round(seconds, 3)}


def _card_figures(size_kib: int) -> dict[str, Any] | None:
    """Return the padded card's size and flag count, or None when no card was stored."""
    if not size_kib:
        return None
    document = padded_card(size_kib)
    flags = json.loads(document)["rules"][1]["flags"]
    return {"kib": round(len(document.encode()) / 1024, 1), "flags": len(flags)}


def _print(figures: dict[str, Any], console: Console) -> None:
    single, batch = figures["single"], figures["batch"]
    workers = figures["uvicorn_workers"]
    title = f"POST /v1/tickets on uvicorn ({workers} workers) + PostGIS ({figures['postgres']})"
    title += f", {figures['customers']} customers"
    if card := figures["rate_card"]:
        title += f", a {card['kib']} KiB rate card of {card['flags']:,} flags stored"
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        (
            "single POST: requests (rate)",
            f"{single['requests']:,} at {single['rate_per_s']:g}/s in {single['runs']} runs",
        ),
        ("achieved rate", f"{single['achieved_per_s']:g}/s"),
        ("statuses", json.dumps(single["statuses"])),
        (
            "median p50 / p95 / p99",
            f"{single['p50_ms']} / {single['p95_ms']} / {single['p99_ms']} ms",
        ),
        ("p99 of each run", " / ".join(f"{run['p99_ms']}" for run in figures["single_runs"])),
        ("max (max send lag)", f"{single['max_ms']} ms ({single['max_send_lag_ms']} ms)"),
        (
            "p50 / p99 from the schedule",
            f"{single['p50_from_schedule_ms']} / {single['p99_from_schedule_ms']} ms",
        ),
        (f"p99 target <= {TARGET_P99_MS:g} ms", "met" if figures["meets_p99"] else "NOT met"),
        ("batch", f"{batch['tickets']:,} tickets, {batch['body_mb']} MiB"),
        ("batch time", f"{batch['seconds']} s"),
        (f"batch target <= {TARGET_BATCH_S:g} s", "met" if figures["meets_batch"] else "NOT met"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


@reports_errors
def bench_api(
    admin_url: Annotated[
        str,
        typer.Option(
            envvar="TEST_POSTGIS_ADMIN_URL", help="PostgreSQL URL allowed to create databases"
        ),
    ] = DEFAULT_ADMIN_URL,
    rate: Annotated[float, typer.Option(min=1, help="single POSTs per second")] = 200,
    duration: Annotated[float, typer.Option(min=1, max=600, help="timed seconds")] = 20,
    warmup: Annotated[
        float, typer.Option(min=0, max=60, help="untimed seconds before each run")
    ] = 2,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="tickets in the batch")] = 10_000,
    connections: Annotated[int, typer.Option(min=1, max=256, help="client connections")] = 32,
    workers: Annotated[int, typer.Option(min=1, max=16, help="uvicorn worker processes")] = 2,
    repeat: Annotated[
        int, typer.Option(min=1, max=20, help="timed runs at the rate; medians are reported")
    ] = 3,
    rate_card_kb: Annotated[
        int,
        typer.Option(
            min=0,
            max=10_240,
            help="store a rate card padded with difficulty flags to this many KiB, and send "
            "every ticket with one of its flags (0: no card, no flags)",
        ),
    ] = 0,
    customers: Annotated[
        Customers,
        typer.Option(
            help="returning: every ticket for one known customer; new: a new person on each"
        ),
    ] = Customers.RETURNING,
    json_path: Annotated[
        Path, typer.Option("--json", help="where to write the figures")
    ] = PROJECT_ROOT / "benchmarks" / "results" / "api.json",
) -> None:
    """Measure single ticket POST latency at a steady rate and one batch, on PostGIS."""
    load_before = round(os.getloadavg()[0], 2)
    difficulty = [PADDED_FLAG] if rate_card_kb else []
    with fresh_database(admin_url) as database_url:
        token = prepare_database(database_url, rate_card_kb)
        with uvicorn_server(database_url, free_port(), workers) as base:
            # A fresh database has no planner statistics until autovacuum's first visit, up
            # to a minute in: a live service's tables have them. Take them after a warm-up.
            asyncio.run(
                _steady(base, token, rate, warmup or 1, 0, connections, difficulty, customers)
            )
            _analyze(database_url)
            runs = [
                asyncio.run(
                    _steady(base, token, rate, duration, warmup, connections, difficulty, customers)
                )
                for _ in range(repeat)
            ]
            batch_figures = _batch(base, token, batch, difficulty, customers)
        with create_engine(database_url).connect() as conn:
            postgres = str(conn.execute(text("SELECT version()")).scalar()).split(" on ")[0]
    single = _median_run(runs)
    figures = {
        "benchmark": "api.tickets",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "postgres": postgres,
        "single": single,
        "single_runs": runs,
        "batch": batch_figures,
        "rate_card": _card_figures(rate_card_kb),
        "customers": customers.value,
        "target_p99_ms": TARGET_P99_MS,
        "target_batch_s": TARGET_BATCH_S,
        "meets_p99": single["p99_ms"] <= TARGET_P99_MS,
        "meets_batch": batch_figures["seconds"] <= TARGET_BATCH_S,
        "uvicorn_workers": workers,
        "client_connections": connections,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        # Other work on the machine inflates latencies; the 1-minute load says how much.
        "load_average_1m_before_after": [load_before, round(os.getloadavg()[0], 2)],
    }
    _print(figures, Console())
    try:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    except OSError as err:
        raise fail(f"cannot write {json_path}: {err.strerror}") from err
    typer.echo(f"figures written to {json_path}")
