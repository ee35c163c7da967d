"""``geodispatch bench devices``: device events accepted per second, and duplicate incidents.

On a fresh PostGIS database served by ``geodispatch serve``, an integrator registers
``--devices`` devices (each for a customer of its own) and then:

1. **throughput**: every device posts ``--events`` readings in batches of ``--batch`` from
   ``--connections`` client threads at once; a reading in twenty is over the model's threshold,
   so rules fire and every device opens one incident and ticket. The figure is events accepted
   (answered 201) per second of wall time.
2. **replayed burst**: on ``--burst-devices`` other devices, ``--burst-threads`` threads each
   post the same burst of alarms ``--burst-repeats`` times at once, half of them retries under
   one ``Idempotency-Key`` and half fresh requests. Every burst fires the repeated-fault rule,
   so each device must end with exactly one incident and one maintenance ticket:
   ``duplicate_incidents`` (incidents beyond one per device and fault) must be 0.
"""

import json
import os
import platform
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from api.cli.common import fail, reports_errors
from api.config import PROJECT_ROOT
from api.db.tables import DeviceIncidentRow, TicketRow
from api.demo.service import free_port
from benchmarks.api_load import (
    DEFAULT_ADMIN_URL,
    fresh_database,
    prepare_database,
    uvicorn_server,
)

MODEL, METRIC, OVER = "AC-3000", "outlet_temp_c", 65.0  # over the model's 60 °C threshold
BURST = 3  # alarms per burst: the AC-3000's repeated-fault rule fires on the third
IN_FLIGHT_RETRIES, IN_FLIGHT_WAIT_S = 100, 0.05


def _register(client: httpx.Client, n: int) -> int:
    """Register device ``n`` for a customer of its own (made with a ticket, as integrators do)."""
    location = [121.40 + (n % 50) / 250, 31.15 + (n // 50 % 50) / 250]
    ticket = {
        "external_id": f"bench-customer-{n}", "type": "install", "location": location,
        "address": f"bench address {n}", "duration_min": 60,
        "customer": {"name": f"bench customer {n}", "phone": f"139{n:08d}"},
    }  # fmt: skip
    response = client.post("/v1/tickets", json=ticket)
    if response.status_code != 201:
        raise fail(f"cannot create bench customer {n}: {response.text[:200]}")
    device = {
        "external_id": f"bench-device-{n}", "customer_id": response.json()["customer"]["id"],
        "model": MODEL, "location": location, "address": f"bench address {n}",
    }  # fmt: skip
    response = client.post("/v1/devices", json=device)
    if response.status_code != 201:
        raise fail(f"cannot register bench device {n}: {response.text[:200]}")
    device_id: int = response.json()["id"]
    return device_id


def _readings(start: datetime, first: int, count: int) -> list[dict[str, Any]]:
    return [
        {"kind": "reading", "occurred_at": (start + timedelta(seconds=i)).isoformat(),
         "metric": METRIC, "value": OVER if i % 20 == 19 else 20.0 + i % 7}
        for i in range(first, first + count)
    ]  # fmt: skip


def _in_threads(threads: int, jobs: list[Callable[[], int]]) -> list[int]:
    """Run ``jobs`` (each answering a status) on ``threads`` threads; return the statuses."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda job: job(), jobs))


def _tally(statuses: list[int]) -> dict[str, int]:
    return {str(k): v for k, v in sorted(Counter(statuses).items())}


def _throughput(
    base: str, token: str, device_ids: list[int], events: int, batch: int, connections: int
) -> dict[str, Any]:
    start = datetime.now(UTC) - timedelta(seconds=events + 60)
    headers = {"Authorization": f"Bearer {token}"}
    client = httpx.Client(base_url=base, headers=headers, timeout=60,
                          limits=httpx.Limits(max_connections=connections))  # fmt: skip
    # Batch by batch, every device's n-th batch before any (n+1)-th: each device's events reach
    # the service in time order, from many devices at once.
    sends = [(d, _readings(start, first, min(batch, events - first)))
             for first in range(0, events, batch) for d in device_ids]  # fmt: skip

    def job(device_id: int, body: list[dict[str, Any]]) -> Callable[[], int]:
        url = f"/v1/devices/{device_id}/events"
        return lambda: client.post(url, json={"events": body}).status_code

    began = time.perf_counter()
    statuses = _in_threads(connections, [job(d, body) for d, body in sends])
    seconds = time.perf_counter() - began
    client.close()
    accepted = sum(len(body) for (_, body), status in zip(sends, statuses, strict=True)
                   if status == 201)  # fmt: skip
    return {
        "devices": len(device_ids), "events_per_device": events, "batch": batch,
        "requests": len(sends), "statuses": _tally(statuses), "events_accepted": accepted,
        "seconds": round(seconds, 3), "events_per_s": round(accepted / seconds, 1),
        "connections": connections,
    }  # fmt: skip


def _burst(
    base: str, token: str, device_ids: list[int], threads: int, repeats: int
) -> dict[str, Any]:
    occurred = datetime.now(UTC) - timedelta(minutes=1)
    alarms = [{"kind": "alarm", "occurred_at": (occurred + timedelta(seconds=i)).isoformat(),
               "fault_code": "E4"} for i in range(BURST)]  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    client = httpx.Client(base_url=base, headers=headers, timeout=60,
                          limits=httpx.Limits(max_connections=threads))  # fmt: skip

    def job(device_id: int, n: int) -> Callable[[], int]:
        # Even-numbered sends retry one key (replayed answers); odd ones are fresh requests.
        key = {"Idempotency-Key": f"burst-{device_id}"} if n % 2 == 0 else {}
        url = f"/v1/devices/{device_id}/events"

        def send() -> int:
            # As a client should: a key whose first request is still running is tried again
            # (sooner than the answer's Retry-After, to keep the burst a burst).
            for _ in range(IN_FLIGHT_RETRIES):
                response = client.post(url, json={"events": alarms}, headers=key)
                if response.status_code != 409:
                    break
                time.sleep(IN_FLIGHT_WAIT_S)
            return response.status_code

        return send

    jobs = [job(d, n) for d in device_ids for n in range(threads * repeats)]
    began = time.perf_counter()
    statuses = _in_threads(threads, jobs)
    seconds = time.perf_counter() - began
    client.close()
    return {
        "devices": len(device_ids), "threads": threads, "sends_per_device": threads * repeats,
        "alarms_per_send": BURST, "statuses": _tally(statuses),
        "seconds": round(seconds, 3),
    }  # fmt: skip


def _incident_counts(database_url: str) -> tuple[int, int, int]:
    """Return the incidents, the (device, fault) pairs they are of, and maintenance tickets."""
    engine = create_engine(database_url)
    with Session(engine) as session:
        incidents = session.scalar(select(func.count()).select_from(DeviceIncidentRow)) or 0
        pairs = select(DeviceIncidentRow.device_id, DeviceIncidentRow.fault_key).distinct()
        faults = session.scalar(select(func.count()).select_from(pairs.subquery())) or 0
        tickets = session.scalar(
            select(func.count()).select_from(TicketRow).where(TicketRow.type == "maintenance")
        ) or 0  # fmt: skip
    engine.dispose()
    return incidents, faults, tickets


@reports_errors
def bench_devices(
    admin_url: Annotated[
        str,
        typer.Option(
            envvar="TEST_POSTGIS_ADMIN_URL", help="PostgreSQL URL allowed to create databases"
        ),
    ] = DEFAULT_ADMIN_URL,
    devices: Annotated[int, typer.Option(min=1, max=10_000, help="devices posting")] = 200,
    events: Annotated[int, typer.Option(min=1, max=100_000, help="readings per device")] = 100,
    batch: Annotated[int, typer.Option(min=1, max=1000, help="readings per request")] = 10,
    connections: Annotated[int, typer.Option(min=1, max=256, help="client threads")] = 16,
    burst_devices: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    burst_threads: Annotated[int, typer.Option(min=2, max=64)] = 8,
    burst_repeats: Annotated[int, typer.Option(min=1, max=100)] = 3,
    workers: Annotated[int, typer.Option(min=1, max=16, help="uvicorn worker processes")] = 2,
    json_path: Annotated[
        Path, typer.Option("--json", help="where to write the figures")
    ] = PROJECT_ROOT / "benchmarks" / "results" / "devices.json",
) -> None:
    """Measure device events accepted per second and duplicate incidents under a replayed burst."""
    load_before = round(os.getloadavg()[0], 2)
    with fresh_database(admin_url) as database_url:
        token = prepare_database(database_url)
        with uvicorn_server(database_url, free_port(), workers) as base:
            with httpx.Client(base_url=base, timeout=60,
                              headers={"Authorization": f"Bearer {token}"}) as client:  # fmt: skip
                ids = [_register(client, n) for n in range(devices + burst_devices)]
            throughput = _throughput(base, token, ids[:devices], events, batch, connections)
            burst = _burst(base, token, ids[devices:], burst_threads, burst_repeats)
        incidents, faults, tickets = _incident_counts(database_url)
        with create_engine(database_url).connect() as conn:
            postgres = str(conn.execute(text("SELECT version()")).scalar()).split(" on ")[0]
    # Every throughput device fires its threshold once it reads 20 values; every burst device
    # its repeated fault: one fault each, if each posted enough.
    expected_faults = (devices if events >= 20 else 0) + burst_devices
    figures = {
        "benchmark": "api.devices",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "postgres": postgres,
        "throughput": throughput,
        "burst": burst,
        "incidents": incidents,
        "faults": faults,
        "expected_faults": expected_faults,
        "maintenance_tickets": tickets,
        "duplicate_incidents": incidents - faults,
        "uvicorn_workers": workers,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        # Other work on the machine slows the service; the 1-minute load says how much.
        "load_average_1m_before_after": [load_before, round(os.getloadavg()[0], 2)],
    }
    try:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    except OSError as err:
        raise fail(f"cannot write {json_path}: {err.strerror}") from err
    typer.echo(
        f"{throughput['events_accepted']:,} events accepted in {throughput['seconds']} s: "
        f"{throughput['events_per_s']:,} events/s ({devices} devices, batches of {batch}, "
        f"{connections} connections, {workers} workers)"
    )
    typer.echo(
        f"replayed burst: {burst['sends_per_device']} sends of {BURST} alarms per device from "
        f"{burst_threads} threads on {burst_devices} devices: {figures['incidents']} incidents "
        f"for {figures['faults']} faults, {figures['duplicate_incidents']} duplicate incidents, "
        f"{figures['maintenance_tickets']} maintenance tickets; figures in {json_path}"
    )
