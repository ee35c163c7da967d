"""``geodispatch bench map``: the dispatcher map with a city-sized day, in headless chromium.

A fresh SpatiaLite file gets the demo regions, N technicians (with a shift and a GPS ping) and
M tickets, all through the service's own API; the service runs in a thread of this process and
Debian's chromium (Playwright, nothing downloaded) opens ``/map``. Each timed run is a new page:
from navigation until every live layer has drawn its first answer. The GeoJSON bytes of the
whole-city view are measured raw and gzipped.
"""

import gzip
import json
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import httpx
import typer
from sqlalchemy.orm import Session

from api.auth import Role, create_key
from api.cli.common import fail
from api.config import PROJECT_ROOT, Settings
from api.datafiles import load_regions
from api.db import migrate
from api.db.spatial import make_engine
from api.demo.service import start_service
from api.regions import repository as region_repo

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CITY_BOX = (121.20, 30.95, 121.80, 31.45)  # (min lon, min lat, max lon, max lat): Shanghai
LAYERS = ("regions", "technicians", "tickets", "unassigned", "routes")
ALL_DRAWN = (
    "() => window.GD && ['regions', 'technicians', 'routes', 'unassigned', 'tickets']"
    ".every((name) => window.GD.data[name])"
)
ZONE = ZoneInfo("Asia/Shanghai")


def _seed(client: httpx.Client, staff: dict[str, str], *, technicians: int, tickets: int) -> str:
    """Store the day through the API; return the day."""
    rng = random.Random(7)
    day = (datetime.now(ZONE) + timedelta(days=1)).date()
    start = datetime(day.year, day.month, day.day, 8, tzinfo=ZONE)

    def place() -> list[float]:
        return [round(rng.uniform(121.30, 121.65), 6), round(rng.uniform(31.05, 31.35), 6)]

    for n in range(technicians):
        shift = {"day": day.isoformat(), "start_at": start.isoformat(),
                 "end_at": (start + timedelta(hours=10)).isoformat(), "breaks": []}  # fmt: skip
        body = {"id": f"T-{n:04d}", "name": f"技师{n}", "home_base": place(),
                "skills": {"aircon": 2, "plumbing": 1}, "shifts": [shift]}  # fmt: skip
        client.post("/v1/technicians", json=body, headers=staff).raise_for_status()
        ping = {"pings": [{"location": place(), "recorded_at": datetime.now(UTC).isoformat()}]}
        client.post(f"/v1/technicians/T-{n:04d}/locations", json=ping, headers=staff)
    batch = []
    for i in range(tickets):
        opens = start + timedelta(hours=rng.randrange(0, 8))
        batch.append({
            "external_id": f"BENCH-{i:06d}", "type": "repair", "location": place(),
            "address": f"上海市测试路 {i} 号", "duration_min": 45, "skills": {"aircon": 1},
            "time_windows": [[opens.isoformat(), (opens + timedelta(hours=3)).isoformat()]],
            "priority": "urgent" if i % 20 == 0 else "normal",
            "customer": {"name": f"客户{i}"},
        })  # fmt: skip
    client.post("/v1/tickets/batch", json={"tickets": batch}, headers=staff).raise_for_status()
    return day.isoformat()


def _city_bytes(client: httpx.Client, staff: dict[str, str], day: str) -> dict[str, Any]:
    """Bytes of each layer for the whole-city view at zoom 10, raw and gzipped."""
    bbox = ",".join(str(v) for v in CITY_BOX)
    sizes: dict[str, Any] = {}
    for layer in (*LAYERS, "kpis"):
        query = f"day={day}" + ("" if layer == "kpis" else f"&bbox={bbox}&zoom=10")
        body = client.get(f"/v1/map/{layer}?{query}", headers=staff).content
        sizes[layer] = {"raw": len(body), "gzip": len(gzip.compress(body, 6))}
    sizes["total"] = {k: sum(v[k] for v in sizes.values()) for k in ("raw", "gzip")}
    return sizes


def bench_map(
    technicians: Annotated[int, typer.Option(min=1, max=5000)] = 500,
    tickets: Annotated[int, typer.Option(min=1, max=10_000)] = 10_000,
    repeats: Annotated[int, typer.Option(min=1, help="page loads (the median is reported)")] = 5,
    json_path: Annotated[
        Path, typer.Option("--json", help="where to write the figures")
    ] = PROJECT_ROOT / "benchmarks" / "results" / "map.json",
) -> None:
    """Time the dispatcher map to all layers drawn, and the GeoJSON bytes of the city view."""
    if not os.path.exists(CHROMIUM):
        raise fail(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    folder = tempfile.mkdtemp(prefix="bench-map-")
    settings = Settings(
        database_url=f"sqlite:///{folder}/bench.sqlite",
        session_secret="bench-map-secret-0123456789abcdef",  # type: ignore[arg-type]
        map_tiles="none",
    )
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        regions = load_regions(settings.regions_file, max_vertices=settings.max_region_vertices)
        region_repo.replace_all(session, regions=regions)
        _, token = create_key(session, role=Role.DISPATCHER, name="bench")
    engine.dispose()
    # The server thread is stopped and joined before the process exits: a daemon thread still
    # inside SpatiaLite while the interpreter finalises can crash the process (SIGSEGV).
    service = start_service(settings)
    base = service.url
    staff = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=120) as client:
        typer.echo(f"seeding {technicians} technicians and {tickets} tickets through the API…")
        day = _seed(client, staff, technicians=technicians, tickets=tickets)
        sizes = _city_bytes(client, staff, day)
    loads: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        for run in range(repeats):
            context = browser.new_context(
                base_url=base, viewport={"width": 1366, "height": 860},
                extra_http_headers=staff,
            )  # fmt: skip
            page = context.new_page()
            began = time.perf_counter()
            page.goto(f"/map?day={day}")
            page.wait_for_function(ALL_DRAWN, timeout=60_000, polling=20)
            loads.append(time.perf_counter() - began)
            drawn = page.evaluate("() => window.GD.data.tickets.features.length")
            typer.echo(f"run {run + 1}: {loads[-1]:.2f} s to all layers drawn ({drawn} tickets)")
            context.close()
        browser.close()
    service.stop()
    figures = {
        "benchmark": "map",
        "technicians": technicians,
        "tickets": tickets,
        "load_s": {
            "median": round(statistics.median(loads), 3),
            "runs": [round(v, 3) for v in loads],
        },
        "city_view_bytes": sizes,
        "load_average": os.getloadavg(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    raw_mb, gzip_kb = sizes["total"]["raw"] / 1e6, sizes["total"]["gzip"] / 1e3
    typer.echo(
        f"median {statistics.median(loads):.2f} s; city view {raw_mb:.2f} MB, {gzip_kb:.0f} kB gzip"
    )
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    typer.echo(f"figures written to {json_path}")
