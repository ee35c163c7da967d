"""``geodispatch demo run`` (the day headless, with a summary) and ``demo live`` (``make run``).

Both seed today's demo day through the service's API (``api.demo``) and play it on an
accelerated clock. ``demo run`` starts its own service on a fresh SpatiaLite file in a temporary
folder; ``demo live`` serves the configured database and keeps serving after the day is over.
Both start the demo webhook receiver (``api.demo.receiver``) and subscribe it to the demo shop's
escalations, which their service, and only it, may deliver to a private address.
"""

import logging
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from enum import StrEnum
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Annotated
from zoneinfo import ZoneInfo

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from api.cli.common import fail, reports_errors
from api.config import Settings, get_settings
from api.demo.city import FAST, FULL, DaySize, city_day
from api.demo.client import DemoApi, DemoStepFailed
from api.demo.escalations import escalate_now, subscribe, with_demo_webhooks
from api.demo.keys import (
    KEYS_FILE,
    TECHNICIANS,
    StoredKeys,
    create_staff_keys,
    create_technician_keys,
    describe,
    load_keys,
    save_keys,
)
from api.demo.receiver import DemoReceiver, ReceivedDelivery, new_secret
from api.demo.reuse import busiest_technicians, existing_day, tokens_work
from api.demo.seeder import DemoDay, seed_day
from api.demo.service import (
    ServiceNotStarted,
    ThreadedService,
    fresh_settings,
    prepared_engine,
    start_service,
)
from api.demo.simulator import SimParams, SimStats, Simulator, day_end
from api.demo.summary import delivery_line, escalations_table, print_summary, summarise

console = Console(stderr=True)
out = Console()
PAGES = ("/login", "/map", "/me/today", "/me/earnings", "/docs")
SEED_STEPS = 9  # the steps seed_day reports
DELIVERY_WAIT_S = 15.0  # the webhook worker polls every 2 s and retries a failure after ~10 s


class Size(StrEnum):
    """``--size`` values of ``demo live``."""

    FULL = "full"
    FAST = "fast"


def _positive(value: float | None, name: str) -> float | None:
    if value is not None and not value > 0:
        raise fail(f"{name} must be above 0, got {value:g}")
    return value


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """Yield an event that SIGINT or SIGTERM sets (the handlers are restored afterwards)."""
    stop = threading.Event()

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                    console=console)  # fmt: skip


def _simulate(sim: Simulator, progress: Progress, stop: threading.Event) -> SimStats:
    """Run the simulation with a progress row on the simulated clock."""
    total_s = max(1.0, (sim.end - sim.start).total_seconds())
    task = progress.add_task("simulate the day", total=total_s)
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.25):
            clock = sim.stats.clock or sim.start
            progress.update(task, completed=(clock - sim.start).total_seconds(),
                            description=f"simulate the day: {clock:%H:%M}")  # fmt: skip

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        return sim.run(stop)
    finally:
        done.set()
        watcher.join()
        progress.update(task, completed=total_s)


@reports_errors
def demo_run_command(
    fast: Annotated[bool, typer.Option(help="a small day (8 technicians, 40 orders)")] = False,
    seed: Annotated[int, typer.Option(help="seed of the day and its events")] = 1,
    speed: Annotated[
        float | None,
        typer.Option(help="simulated seconds per real second; default: as fast as possible"),
    ] = None,
    time_limit: Annotated[float, typer.Option(help="solver seconds per dispatch run")] = 0.0,
) -> None:
    """Play today's demo day headless on a fresh database and print its figures.

    Example: geodispatch demo run --fast --seed 3
    """
    _positive(speed, "--speed")
    if time_limit < 0:
        raise fail(f"--time-limit must not be negative, got {time_limit:g}")
    size = FAST if fast else FULL
    limit = time_limit or (2.0 if fast else 10.0)
    folder = Path(tempfile.mkdtemp(prefix="geodispatch-demo-"))
    logging.getLogger("geodispatch.demo").setLevel(logging.ERROR)
    started = time.perf_counter()
    receiver = DemoReceiver(new_secret())
    try:
        with _stop_on_signals() as stop, _progress() as progress:
            task = progress.add_task("start the service on a fresh database", total=None)
            settings = with_demo_webhooks(fresh_settings(folder))
            engine = prepared_engine(settings)
            tokens = create_staff_keys(engine)
            service = _start(settings, "127.0.0.1", None)
            progress.update(task, total=1, completed=1)
            _announce_receiver(receiver)
            try:
                with httpx.Client(base_url=service.url, timeout=120) as client:
                    api = DemoApi(client, tokens)
                    subscribe(api, receiver)
                    escalate = partial(escalate_now, engine, settings)
                    seeded, stats, queued = _run_day(
                        api, progress, size, seed, speed, limit, stop, escalate
                    )
                    receiver.wait_for(queued, DELIVERY_WAIT_S)
                    summary = summarise(api, seeded, stats)
            finally:
                service.stop()
                engine.dispose()
    except DemoStepFailed as err:
        raise fail(f"the demo stopped: {err}") from err
    finally:
        receiver.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print_summary(out, summary, seeded, stats)
    out.print(escalations_table(receiver.url, receiver.received))
    wall = time.perf_counter() - started
    if api.error_count:
        for what, n in api.errors.most_common():
            console.print(f"  {n} x {what}", highlight=False)
        raise fail(f"{api.error_count} API call(s) failed during the demo ({wall:.1f} s)")
    if stop.is_set():
        raise fail("stopped before the end of the day")
    out.print(f"demo day played in {wall:.1f} s with no failed step", highlight=False)


def _run_day(
    api: DemoApi, progress: Progress, size: DaySize, seed: int, speed: float | None,
    limit: float, stop: threading.Event, escalate: Callable[[], int],
) -> tuple[DemoDay, SimStats, int]:  # fmt: skip
    """Seed the day, ``escalate`` what is late at once, play the day; also return its deliveries.

    ``escalate`` runs one pass of the escalation rules and returns the webhook deliveries queued.
    """
    zone = ZoneInfo(get_settings().timezone)
    now = datetime.now(zone)
    city = city_day(now, size, seed=seed)
    task = progress.add_task("seed the day", total=SEED_STEPS)

    def step(what: str) -> None:
        progress.update(task, advance=1, description=f"seed the day: {what}")

    settings = get_settings()
    seeded = seed_day(api, city, now=now, settings=settings, time_limit_s=limit, step=step)
    progress.update(task, completed=SEED_STEPS, description="seed the day")
    queued = escalate()
    params = SimParams(speed=speed, step_s=120 if speed is None else 60, seed=seed,
                       ping_every_s=600 if speed is None else 120)  # fmt: skip
    sim = Simulator(api, seeded, start=now, end=day_end(seeded), params=params)
    return seeded, _simulate(sim, progress, stop), queued


@reports_errors
def demo_live_command(
    speed: Annotated[float, typer.Option(help="simulated seconds per real second")] = 60.0,
    simulate: Annotated[
        bool, typer.Option(help="play the day (--no-simulate: a still day)")
    ] = True,
    seed: Annotated[int, typer.Option(help="seed of the day and its events")] = 1,
    size: Annotated[Size, typer.Option(help="full: 24 technicians, 120 orders; fast: 8, 40")] = (
        Size.FULL
    ),
    reset: Annotated[
        bool, typer.Option(help="delete the SQLite database file first and start afresh")
    ] = False,
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
) -> None:
    """Serve the configured database with today's demo day, and play it (what make run does).

    Migrates the database and loads the demo regions (as ``db upgrade`` and ``demo load`` do),
    seeds the day once (a second start finds it and reuses it), prints the pages and the demo
    keys, then plays the day until it ends; the service keeps serving until Ctrl-C or SIGTERM.

    Example: geodispatch demo live --speed 120
    """
    _positive(speed, "--speed")
    settings = get_settings()
    if reset:
        _reset(settings.database_url)
    engine = prepared_engine(settings)  # what db upgrade and demo load do, in one process
    started = time.perf_counter()
    zone = ZoneInfo(settings.timezone)
    service = _start(with_demo_webhooks(settings), host or settings.host, port or settings.port)
    receiver = DemoReceiver(new_secret(), on_delivery=_print_delivery)
    try:
        with httpx.Client(base_url=service.url, timeout=120) as client, _stop_on_signals() as stop:
            out.print(f"serving at {service.url}; loading today's demo day…", highlight=False)
            _announce_receiver(receiver)
            api = DemoApi(client, {})
            stored = load_keys(KEYS_FILE, database_url=settings.database_url)
            api.tokens = stored.tokens if stored else {}
            if stored is None or not tokens_work(api):
                stored, api.tokens = None, create_staff_keys(engine)
            subscribe(api, receiver)
            now = datetime.now(zone)
            seeded = existing_day(api, now.date())
            if seeded is not None:
                console.print(f"demo day {now.date()} is already loaded: reusing it "
                              "(--reset starts afresh)")  # fmt: skip
            else:
                with _progress() as progress:
                    seeded, _ = _seed_live(api, progress, size, seed, now)
            escalate_now(engine, settings)  # each delivery prints its line as it arrives
            if stored is None or stored.day != now.date():
                stored = _with_technician_keys(api, engine, now.date())
            save_keys(KEYS_FILE, database_url=settings.database_url, stored=stored)
            _print_welcome(service.url, stored, time.perf_counter() - started, receiver.url)
            if simulate:
                params = SimParams(speed=speed, seed=seed)
                sim = Simulator(api, seeded, start=now, end=day_end(seeded), params=params)
                stats = sim.run(stop, _hourly(receiver))
                if not stop.is_set():
                    console.print(f"the demo day is over ({stats.transitions['confirmed']} "
                                  "orders confirmed); still serving, Ctrl-C stops")  # fmt: skip
                    out.print(escalations_table(receiver.url, receiver.received))
            stop.wait()
    finally:
        service.stop()
        receiver.stop()
        engine.dispose()


def _hourly(receiver: DemoReceiver) -> Callable[[datetime, SimStats], None]:
    """Return a tick callback that prints a line each simulated hour."""
    last = [-1]

    def report(now: datetime, stats: SimStats) -> None:
        if now.hour != last[0]:
            last[0] = now.hour
            moves = ", ".join(f"{n} {s}" for s, n in sorted(stats.transitions.items()))
            out.print(f"{now:%H:%M} simulated: {moves or 'no moves yet'}; {stats.pings} pings; "
                      f"urgent {stats.urgent_inserted}/{stats.urgent_created} inserted; "
                      f"{len(receiver.accepted)} escalation(s) delivered",
                      highlight=False, soft_wrap=True)  # fmt: skip

    return report


def _announce_receiver(receiver: DemoReceiver) -> None:
    console.print(f"escalations go to the demo webhook receiver at {receiver.url}: this demo's "
                  "service may send webhooks to private addresses (the default, "
                  "GEODISPATCH_WEBHOOK_ALLOW_PRIVATE_URLS=false, holds everywhere else)",
                  highlight=False, soft_wrap=True)  # fmt: skip


def _print_delivery(delivery: ReceivedDelivery) -> None:
    out.print(delivery_line(delivery), highlight=False, soft_wrap=True)


def _seed_live(
    api: DemoApi, progress: Progress, size: Size, seed: int, now: datetime
) -> tuple[DemoDay, None]:
    city = city_day(now, FAST if size is Size.FAST else FULL, seed=seed)
    task = progress.add_task("seed the demo day", total=SEED_STEPS)

    def step(what: str) -> None:
        progress.update(task, advance=1, description=f"seed the demo day: {what}")

    settings = get_settings()
    try:
        seeded = seed_day(api, city, now=now, settings=settings, time_limit_s=3.0, step=step)
    except DemoStepFailed as err:
        raise fail(f"cannot seed the demo day: {err} (geodispatch demo live --reset starts "
                   "afresh)") from err  # fmt: skip
    progress.update(task, completed=SEED_STEPS, description="seed the demo day")
    return seeded, None


def _with_technician_keys(api: DemoApi, engine: Engine, day: date) -> StoredKeys:
    """Give the two busiest technicians of ``day`` the demo technician keys."""
    busiest = busiest_technicians(api, day, len(TECHNICIANS))
    tokens = create_technician_keys(engine, busiest)
    staff = {k: v for k, v in api.tokens.items() if k not in {c.caller for c in TECHNICIANS}}
    names = dict(zip((c.caller for c in TECHNICIANS), busiest, strict=False))
    return StoredKeys(day, {**staff, **tokens}, names)


def _start(settings: Settings, host: str, port: int | None) -> ThreadedService:
    try:
        return start_service(settings, host=host, port=port)
    except ServiceNotStarted as err:
        raise fail(str(err)) from err


def _reset(database_url: str) -> None:
    if not database_url.startswith("sqlite:///"):
        raise fail("--reset only deletes a SQLite database file; drop a PostGIS one yourself")
    path = Path(database_url.removeprefix("sqlite:///"))
    for extra in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    KEYS_FILE.unlink(missing_ok=True)
    console.print(f"--reset: deleted {path}; a new demo database follows", highlight=False)


def _print_welcome(url: str, stored: StoredKeys, elapsed_s: float, receiver_url: str) -> None:
    out.print(f"\n[bold]geodispatch demo[/] at {url}: a living day, ready in {elapsed_s:.1f} s")
    for page in PAGES:
        out.print(f"  {url}{page}", highlight=False)
    out.print(f"escalations are delivered to the demo webhook receiver at {receiver_url}, "
              "a line each as it arrives", highlight=False, soft_wrap=True)  # fmt: skip
    out.print(f"demo keys (sign in at /login with a token; kept in {KEYS_FILE}):", highlight=False)
    for name, what, token in describe(stored):
        out.print(f"  {name:<22} {what}\n    {token}", highlight=False, soft_wrap=True)
