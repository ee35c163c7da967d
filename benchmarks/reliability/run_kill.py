"""A dispatch run whose solver dies mid-solve is failed cleanly and can be run again.

A demo day (technicians with shifts, tickets; tomorrow, so that all of it is open) is seeded
through the API of a ``geodispatch serve`` running in its own process group. Two deaths:

- ``solver``: a run is submitted, and once it is solving its worker process is killed with
  SIGKILL (as the OOM killer would). The service sees the pool break and fails the run.
- ``service``: a run is solving when the whole service is killed with SIGKILL; the service is
  started again. Nobody renews the run's lease any more, so the first read after it expires
  (or the start-up check) fails the run (``worker_lost``).

For each: the seconds from the kill to the run read as failed, the error it carries, that the
failed run left nothing behind (no plan, no assignment, the tickets as they were), and that the
same run submitted again succeeds; the last re-run is applied.
"""

import time
from datetime import datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psutil
from sqlalchemy import text

from api.config import get_settings
from api.db.spatial import make_engine
from api.demo.city import DaySize, city_day
from api.demo.client import DemoApi
from api.demo.seeder import DemoDay, _orders, _put_technician
from api.demo.service import free_port
from benchmarks.reliability.databases import RunDatabase
from benchmarks.reliability.service import ServiceProcess

DEFAULT_DAY = DaySize(technicians=50, orders=250)
POLL_S = 0.1


def run_kill(
    database: RunDatabase,
    *,
    day_size: DaySize = DEFAULT_DAY,
    time_limit_s: float = 20.0,
    rerun_time_limit_s: float = 5.0,
    lease_s: float = 10.0,
    seed: int = 1,
) -> dict[str, Any]:
    """Seed a day, kill a solving run's worker, then the whole service; return the figures."""
    env = {"GEODISPATCH_DISPATCH_RUN_LEASE_S": str(lease_s)}
    service = ServiceProcess(database.url, free_port(), workers=1, env=env)
    service.start()
    try:
        with httpx.Client(base_url=service.url, timeout=120) as client:
            api = DemoApi(client, database.tokens)
            scope, n_tickets = _seed(api, day_size, seed)
            figures: dict[str, Any] = {
                "day": f"{day_size.technicians}x{day_size.orders}",
                "tickets": n_tickets,
                "lease_s": lease_s,
            }
            figures["solver_killed"] = _death(
                api, database, service, scope, "solver", time_limit_s, rerun_time_limit_s
            )
        with httpx.Client(base_url=service.url, timeout=120) as client:
            api = DemoApi(client, database.tokens)
            figures["service_killed"] = _death(
                api, database, service, scope, "service", time_limit_s, rerun_time_limit_s
            )
            rerun = figures["service_killed"]["rerun_id"]
            applied = api.must("dispatcher", "POST", f"/v1/dispatch/runs/{rerun}/apply")
            figures["applied_scheduled"] = len(applied["scheduled"])
    finally:
        service.stop()
    return figures


def _seed(api: DemoApi, size: DaySize, seed: int) -> tuple[dict[str, Any], int]:
    """Seed the day's technicians and tickets (tomorrow, from 10:00); return the runs' scope."""
    zone = ZoneInfo(get_settings().timezone)
    tomorrow = datetime.now(zone).date() + timedelta(days=1)
    city = city_day(datetime.combine(tomorrow, clock_time(10), tzinfo=zone), size, seed=seed)
    seeded = DemoDay(city.day, {str(t["id"]): t for t in city.technicians})
    for body in city.technicians:
        _put_technician(api, body)
    _orders(api, city, seeded)
    ticket_ids = sorted(seeded.tickets)
    return {"ticket_ids": ticket_ids, "date": city.day.isoformat()}, len(ticket_ids)


def _death(
    api: DemoApi,
    database: RunDatabase,
    service: ServiceProcess,
    scope: dict[str, Any],
    what: str,
    time_limit_s: float,
    rerun_time_limit_s: float,
) -> dict[str, Any]:
    before = _ticket_states(database, scope["ticket_ids"])
    run = api.must(
        "dispatcher",
        "POST",
        "/v1/dispatch/runs",
        json={"scope": scope, "time_limit_s": time_limit_s},
    )
    run_id = int(run["id"])
    _wait(api, run_id, lambda r: r["status"] == "running" and r["progress"] > 0, 120)
    time.sleep(1.0)  # well inside the search
    solving = _wait(api, run_id, lambda r: True, 10)
    killed_at = time.monotonic()
    if what == "solver":
        for pid in service.solver_pids():
            psutil.Process(pid).kill()
        restart_s = None
    else:
        service.kill()
        restart_s = round(service.start(), 2)
    limit = 60 + (0 if what == "solver" else float(service.env["GEODISPATCH_DISPATCH_RUN_LEASE_S"]))
    failed = _wait(api, run_id, lambda r: r["status"] in {"failed", "succeeded"}, limit)
    failed_after_s = time.monotonic() - killed_at
    left = _leftovers(database, run_id, scope["ticket_ids"], before)
    rerun = api.must(
        "dispatcher",
        "POST",
        "/v1/dispatch/runs",
        json={"scope": scope, "time_limit_s": rerun_time_limit_s},
    )
    done = _wait(api, int(rerun["id"]), lambda r: r["status"] in {"failed", "succeeded"}, 180)
    return {
        "run_id": run_id,
        "progress_at_kill": round(float(solving["progress"]), 3),
        "service_restart_s": restart_s,
        "failed_after_s": round(failed_after_s, 2),
        "status": failed["status"],
        "error": failed["error"],
        "plan": failed["plan"],
        **left,
        "rerun_id": int(rerun["id"]),
        "rerun_status": done["status"],
        "rerun_assigned": (done.get("kpis") or {}).get("assigned"),
    }


def _wait(api: DemoApi, run_id: int, until: Any, limit_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + limit_s
    while True:
        response = api.call("dispatcher", "GET", f"/v1/dispatch/runs/{run_id}")
        if response is not None and response.status_code == 200:
            run: dict[str, Any] = response.json()
            if until(run):
                return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"dispatch run {run_id} did not get there in {limit_s:g} s")
        time.sleep(POLL_S)


def _ticket_states(database: RunDatabase, ticket_ids: list[int]) -> dict[int, tuple[str, Any]]:
    engine = make_engine(database.url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, status, technician_id FROM ticket")).all()
    finally:
        engine.dispose()
    wanted = set(ticket_ids)
    return {int(r.id): (str(r.status), r.technician_id) for r in rows if int(r.id) in wanted}


def _leftovers(
    database: RunDatabase, run_id: int, ticket_ids: list[int], before: dict[int, tuple[str, Any]]
) -> dict[str, int]:
    """Count what the failed run left: its assignments, tickets whose status it changed."""
    engine = make_engine(database.url)
    try:
        with engine.connect() as conn:
            assignments = conn.execute(
                text("SELECT count(*) FROM assignment WHERE run_id = :run"), {"run": run_id}
            ).scalar()
    finally:
        engine.dispose()
    after = _ticket_states(database, ticket_ids)
    return {
        "assignments_by_failed_run": int(assignments or 0),
        "tickets_changed": sum(1 for i, state in before.items() if after.get(i) != state),
    }


def run_kill_violations(figures: dict[str, Any]) -> list[str]:
    """List what broke the promise (nothing when it held).

    A killed run not failed within its lease (plus a minute), failed without a clear error,
    leaving rows behind, or not re-runnable.
    """
    broken = []
    for name, limit_s in (("solver_killed", 60.0), ("service_killed", figures["lease_s"] + 60)):
        death = figures[name]
        if death["status"] != "failed" or not (death["error"] or {}).get("code"):
            broken.append(f"{name}: the run ended {death['status']} with {death['error']}")
        if death["failed_after_s"] > limit_s:
            broken.append(f"{name}: failed only after {death['failed_after_s']} s")
        if (
            death["plan"] is not None
            or death["assignments_by_failed_run"]
            or death["tickets_changed"]
        ):
            broken.append(f"{name}: the failed run left a plan, assignments or ticket changes")
        if death["rerun_status"] != "succeeded":
            broken.append(f"{name}: the re-run ended {death['rerun_status']}")
    if not figures["applied_scheduled"]:
        broken.append("the last re-run's plan scheduled nothing when applied")
    return broken
