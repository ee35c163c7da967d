"""``geodispatch bench load``: a realistic mix under locust, headless, on ``serve --workers 2``.

A fresh PostGIS database (created and dropped here; or an empty one given with
``--database-url``) is migrated and given the demo regions; ``geodispatch serve`` runs in
processes of its own on 127.0.0.1, and today's demo day is seeded through its API as ``make
run`` does (technicians, leads, orders, a settled morning, dispatch runs applied). A few
technicians get keys of their own. Then locust runs ``benchmarks/locustfile.py`` headless for
``--duration`` seconds: ``--users`` users, each at ``--rate`` requests per second (locust's
``constant_throughput``), the mix described there, against the loopback address only.

Figures (per kind and overall): requests, requests per second, p50/p95/p99/max (locust's
percentiles: exact below 100 ms, rounded to 2 significant digits above), failures, all written
to ``benchmarks/results/load.json``.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import httpx
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from api.auth import Role, create_key
from api.cli.common import fail, reports_errors
from api.config import PROJECT_ROOT, get_settings
from api.db.spatial import make_engine
from api.demo.city import FULL, DaySize, city_day
from api.demo.client import DemoApi
from api.demo.seeder import DemoDay, seed_day
from api.demo.service import free_port
from benchmarks.api_load import DEFAULT_ADMIN_URL, fresh_database
from benchmarks.reliability.databases import RunDatabase, prepare, server_version
from benchmarks.reliability.service import ServiceProcess

LOCUSTFILE = PROJECT_ROOT / "benchmarks" / "locustfile.py"
TECHNICIAN_KEYS = 8


@contextmanager
def _database(admin_url: str, database_url: str | None) -> Iterator[RunDatabase]:
    if database_url:
        yield prepare(database_url)
        return
    with fresh_database(admin_url) as url:
        yield prepare(url)


def _seed(
    service: ServiceProcess, database: RunDatabase, size: DaySize, seed: int
) -> dict[str, Any]:
    """Seed today's demo day through the API; return what the locust users need."""
    zone = ZoneInfo(get_settings().timezone)
    now = datetime.now(zone)
    with httpx.Client(base_url=service.url, timeout=120) as client:
        api = DemoApi(client, database.tokens)
        city = city_day(now, size, seed=seed)
        seeded: DemoDay = seed_day(api, city, now=now, settings=get_settings(), time_limit_s=3.0)
    technicians = [
        {"id": tech_id, "home_base": body["home_base"], "skills": sorted(body["skills"])}
        for tech_id, body in sorted(seeded.technicians.items())
    ]
    engine = make_engine(database.url)
    with Session(engine) as session, session.begin():
        keyed = []
        for tech in technicians[:TECHNICIAN_KEYS]:
            _, token = create_key(
                session, role=Role.TECHNICIAN, name=f"load-{tech['id']}", technician_id=tech["id"]
            )
            keyed.append({"id": tech["id"], "token": token})
    engine.dispose()
    tomorrow = now.date() + timedelta(days=1)
    return {
        "tokens": database.tokens,
        "day": seeded.day.isoformat(),
        "now": now.isoformat(),
        "tomorrow_09": datetime.combine(tomorrow, clock_time(9), tzinfo=zone).isoformat(),
        "ticket_ids": sorted(seeded.tickets),
        "technicians": technicians,
        "technicians_with_keys": keyed,
        "skills": list(get_settings().skill_catalogue),
        "seeded": {"technicians": len(technicians), "tickets": len(seeded.tickets),
                   "morning_done": len(seeded.morning_done), "planned": len(seeded.planned)},
    }  # fmt: skip


def _locust(
    url: str, plan_path: Path, out: Path, *, users: int, rate: float, duration_s: int
) -> None:
    """Run locust headless against ``url`` (loopback) for ``duration_s``; stats go to ``out``."""
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "--host", url, "--users", str(users), "--spawn-rate", str(max(1, users)),
        "--run-time", f"{duration_s}s", "--stop-timeout", "5", "--csv", str(out),
        "--only-summary", "--loglevel", "ERROR", "--exit-code-on-error", "0",
    ]  # fmt: skip
    env = {
        **os.environ,
        "GEODISPATCH_LOAD_PLAN": str(plan_path),
        "GEODISPATCH_LOAD_RATE": str(rate),
    }
    done = subprocess.run(command, env=env, cwd=PROJECT_ROOT, timeout=duration_s + 120,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0 or not Path(f"{out}_stats.csv").exists():
        raise fail(f"locust failed ({done.returncode}): {done.stderr.strip()[-800:]}")


def read_stats(out: Path) -> dict[str, Any]:
    """Return locust's CSV statistics as figures per request kind and overall, with failures."""
    kinds: dict[str, dict[str, Any]] = {}
    overall: dict[str, Any] = {}
    with open(f"{out}_stats.csv", encoding="utf-8", newline="") as stats:
        for row in csv.DictReader(stats):
            figures = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "rps": round(float(row["Requests/s"]), 1),
                "p50_ms": _ms(row["50%"]), "p95_ms": _ms(row["95%"]), "p99_ms": _ms(row["99%"]),
                "max_ms": _ms(row["Max Response Time"]),
            }  # fmt: skip
            if row["Name"] == "Aggregated":
                overall = figures
            else:
                kinds[row["Name"]] = figures
    failures: dict[str, int] = {}
    with open(f"{out}_failures.csv", encoding="utf-8", newline="") as failed:
        for row in csv.DictReader(failed):
            message = f"{row['Name']}: {row['Error'][:120]}"
            failures[message] = failures.get(message, 0) + int(row["Occurrences"])
    return {"overall": overall, "kinds": kinds, "failures": failures}


def _ms(value: str) -> float | None:
    return None if value in {"", "N/A"} else round(float(value), 1)


def _print(figures: dict[str, Any], console: Console) -> None:
    table = Table(
        title=f"locust, {figures['users']} users at {figures['rate_per_user']:g}/s each, "
        f"{figures['duration_s']} s, against serve --workers {figures['service_processes']} + "
        f"{figures['server']} (load {figures['load_average_before']} -> "
        f"{figures['load_average_after']})"
    )
    for column in ("kind", "requests", "rps", "p50 ms", "p95 ms", "p99 ms", "max ms", "failures"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    rows = [*sorted(figures["kinds"].items()), ("all", figures["overall"])]
    for name, f in rows:
        table.add_row(name, f"{f['requests']:,}", f"{f['rps']}", *(str(f[k]) for k in (
            "p50_ms", "p95_ms", "p99_ms", "max_ms")), str(f["failures"]))  # fmt: skip
    console.print(table)
    for message, n in figures["failures"].items():
        console.print(f"  {n} x {message}", highlight=False)


@reports_errors
def bench_load(
    admin_url: Annotated[
        str,
        typer.Option(
            envvar="TEST_POSTGIS_ADMIN_URL", help="PostgreSQL URL allowed to create databases"
        ),
    ] = DEFAULT_ADMIN_URL,
    database_url: Annotated[
        str | None, typer.Option(help="an empty database to use instead of a fresh PostGIS one")
    ] = None,
    users: Annotated[int, typer.Option(min=1, max=200, help="locust users")] = 20,
    rate: Annotated[
        float, typer.Option(min=0.1, max=50, help="requests per second per user")
    ] = 5.0,
    duration: Annotated[int, typer.Option(min=1, max=600, help="seconds of load")] = 60,
    workers: Annotated[int, typer.Option(min=1, max=16, help="service processes")] = 2,
    technicians: Annotated[
        int, typer.Option(min=2, max=300, help="of the seeded day")
    ] = FULL.technicians,
    orders: Annotated[int, typer.Option(min=1, max=2000, help="of the seeded day")] = FULL.orders,
    seed: Annotated[int, typer.Option(help="seed of the demo day")] = 1,
    json_path: Annotated[
        Path, typer.Option("--json", help="where to write the figures")
    ] = PROJECT_ROOT / "benchmarks" / "results" / "load.json",
) -> None:
    """Load the service with a realistic mix (tickets, leads, availability, pay, map) in locust."""
    load_before = [round(x, 2) for x in os.getloadavg()]
    folder = Path(tempfile.mkdtemp(prefix="geodispatch-load-"))
    try:
        with _database(admin_url, database_url) as database:
            service = ServiceProcess(database.url, free_port(), workers=workers)
            service.start()
            try:
                plan = _seed(service, database, DaySize(technicians, orders), seed)
                plan_path = folder / "plan.json"
                plan_path.write_text(json.dumps(plan), encoding="utf-8")
                load_at_start = [round(x, 2) for x in os.getloadavg()]
                _locust(service.url, plan_path, folder / "load", users=users, rate=rate,
                        duration_s=duration)  # fmt: skip
            finally:
                service.stop()
            engine = make_engine(database.url)
            version = server_version(engine)
            engine.dispose()
        stats = read_stats(folder / "load")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    figures = {
        "benchmark": "load",
        "measured_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "server": version, "service_processes": workers, "users": users,
        "rate_per_user": rate, "duration_s": duration, "seeded": plan["seeded"],
        **stats, "errors": stats["overall"].get("failures", 0),
        "load_average_before": load_before, "load_average_at_start": load_at_start,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }  # fmt: skip
    _print(figures, Console(width=max(120, Console().width)))
    try:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", "utf-8")
    except OSError as err:
        raise fail(f"cannot write {json_path}: {err.strerror}") from err
    typer.echo(f"figures written to {json_path}")
