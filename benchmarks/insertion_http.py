"""``geodispatch bench insertion --http``: urgent insertion and availability through the API.

The service runs on a fresh database (a SpatiaLite file in a temporary folder, or the empty
PostGIS database given with ``--database-url``) as ``geodispatch serve`` with one uvicorn
worker, in a process of its own as in production: the client's work and garbage stay out of
its timings. The demo day (50 technicians, 250 orders) is seeded, planned and applied through
the API; then each run creates urgent tickets near technicians' bases and times
``POST /v1/dispatch/insert`` on each (the ticket's creation is not timed) and
``GET /v1/dispatch/availability`` for a prospective ticket near another base, from the client:
the full HTTP round trip. One untimed pair first loads the applied plan into the process.
The day is tomorrow, generated around 10:00 local, so that all of it is still open whenever
the bench runs: every order is planned (no morning is played, no position is sent) and the
urgent tickets' windows open at that hour.
"""

import shutil
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np

from api.config import get_settings
from api.demo.city import DaySize, city_day
from api.demo.client import DemoApi
from api.demo.keys import create_staff_keys
from api.demo.seeder import DemoDay, _dispatch, _orders, _put_technician, ensure_rate_card
from api.demo.service import free_port, fresh_settings, prepared_engine
from benchmarks.api_load import uvicorn_server

DAY = DaySize(technicians=50, orders=250)
NOT_PLACED = frozenset({409, 422})
REFERENCE = clock_time(10)


def bench_http(
    *, database_url: str | None, runs: int, calls: int, seed: int, time_limit_s: float
) -> dict[str, Any]:
    """Seed the demo day on a fresh service and time the insert and availability calls."""
    folder = Path(tempfile.mkdtemp(prefix="geodispatch-bench-http-"))
    try:
        overrides = {"database_url": database_url} if database_url else {}
        settings = fresh_settings(folder, **overrides)
        engine = prepared_engine(settings)
        tokens = create_staff_keys(engine)
        engine.dispose()
        with (
            uvicorn_server(settings.database_url, free_port(), workers=1) as url,
            httpx.Client(base_url=url, timeout=120) as client,
        ):
            api = DemoApi(client, tokens)
            zone = ZoneInfo(get_settings().timezone)
            tomorrow = datetime.now(zone).date() + timedelta(days=1)
            now = datetime.combine(tomorrow, REFERENCE, tzinfo=zone)
            city = city_day(now, DAY, seed=seed)
            seeded = DemoDay(city.day, {str(t["id"]): t for t in city.technicians})
            ensure_rate_card(api)
            for body in city.technicians:
                _put_technician(api, body)
            _orders(api, city, seeded)
            _dispatch(api, seeded, list(seeded.tickets), settings, time_limit_s)
            return _timed(api, seeded, now, runs=runs, calls=calls, seed=seed)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _timed(
    api: DemoApi, seeded: DemoDay, now: datetime, *, runs: int, calls: int, seed: int
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    _insert(api, seeded, now, rng, 0)  # loads the applied plan into the service's process
    _availability(api, seeded, now, rng)
    insert_ms: list[list[float]] = []
    availability_ms: list[list[float]] = []
    placed_ms: list[float] = []
    statuses: dict[str, int] = {}
    for run in range(runs):
        insert_ms.append([])
        availability_ms.append([])
        for call in range(calls):
            elapsed_ms, status = _insert(api, seeded, now, rng, 1 + run * calls + call)
            insert_ms[-1].append(elapsed_ms)
            if status == 200:
                placed_ms.append(elapsed_ms)
            statuses[f"insert {status}"] = statuses.get(f"insert {status}", 0) + 1
            elapsed_ms, status = _availability(api, seeded, now, rng)
            availability_ms[-1].append(elapsed_ms)
            statuses[f"availability {status}"] = statuses.get(f"availability {status}", 0) + 1
    return {
        "day": f"{DAY.technicians}x{DAY.orders}", "planned": len(seeded.planned),
        "runs": runs, "calls_per_run": calls, "statuses": statuses,
        "insert": _figures(insert_ms), "availability": _figures(availability_ms),
        "insert_placed": _figures([placed_ms]) if placed_ms else None,
        "errors": api.error_count,
    }  # fmt: skip


def _figures(runs_ms: list[list[float]]) -> dict[str, Any]:
    every = [ms for run in runs_ms for ms in run]
    return {
        "median_ms": round(statistics.median(every), 1),
        "p95_ms": round(float(np.percentile(every, 95)), 1),
        "max_ms": round(max(every), 1),
        "run_medians_ms": [round(statistics.median(run), 1) for run in runs_ms],
    }


def _near_base(seeded: DemoDay, rng: np.random.Generator) -> tuple[dict[str, Any], list[float]]:
    tech = seeded.technicians[sorted(seeded.technicians)[rng.integers(len(seeded.technicians))]]
    lon, lat = tech["home_base"]
    here = [round(lon + rng.uniform(-0.03, 0.03), 6), round(lat + rng.uniform(-0.03, 0.03), 6)]
    return tech, here


def _insert(
    api: DemoApi, seeded: DemoDay, now: datetime, rng: np.random.Generator, n: int
) -> tuple[float, int]:
    tech, here = _near_base(seeded, rng)
    skill = sorted(tech["skills"])[rng.integers(len(tech["skills"]))]
    body = {
        "external_id": f"bench-{seeded.day.isoformat()}-urgent-{time.time_ns()}-{n:03d}",
        "type": "repair", "location": here, "address": "bench", "duration_min": 45,
        "skills": {skill: 1}, "priority": "urgent",
        "time_windows": [[now.isoformat(), (now + timedelta(hours=3)).isoformat()]],
        "sla_due_at": (now + timedelta(hours=3)).isoformat(),
        "customer": {"name": "bench", "phone": "+86 138 0013 8000"},
    }  # fmt: skip
    ticket = api.must("integrator", "POST", "/v1/tickets", json=body)
    insert = {"ticket_id": ticket["id"], "date": seeded.day.isoformat()}
    started = time.perf_counter()
    got = api.call("dispatcher", "POST", "/v1/dispatch/insert", expect=NOT_PLACED, json=insert)
    elapsed_ms = (time.perf_counter() - started) * 1000
    return elapsed_ms, 0 if got is None else got.status_code


def _availability(
    api: DemoApi, seeded: DemoDay, now: datetime, rng: np.random.Generator
) -> tuple[float, int]:
    tech, here = _near_base(seeded, rng)
    skill = sorted(tech["skills"])[rng.integers(len(tech["skills"]))]
    params = {
        "lon": here[0], "lat": here[1], "duration_min": 60, "skills": f"{skill}:1",
        "window_start": now.isoformat(), "window_end": (now + timedelta(hours=4)).isoformat(),
    }  # fmt: skip
    started = time.perf_counter()
    got = api.call("dispatcher", "GET", "/v1/dispatch/availability", params=params)
    elapsed_ms = (time.perf_counter() - started) * 1000
    return elapsed_ms, 0 if got is None else got.status_code
