"""``geodispatch bench reports``: the four manager reports on a city-sized quarter.

A fresh database (a SpatiaLite file by default; ``--database-url`` for an empty PostGIS
database) gets the demo regions and, by bulk insert, a quarter of work (the 13 ISO weeks up to
yesterday, the last one partial): N tickets, as many leads (a tenth junk, six in ten converted
into the tickets), their touches, the status history of every ticket worked (en route, on
site, completed...), a shift per technician and day, and a settlement with its breakdown lines
for every confirmed ticket (one in fifty corrected, so settled twice), then ``ANALYZE``. Each
report is then timed over the whole quarter, from the query to the JSON text, as the median of
``--runs`` runs.
"""

import json
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from pydantic import BaseModel
from sqlalchemy import Engine, Table, func, insert, select
from sqlalchemy.orm import Session

from shapely.geometry import Point

from api.auth import utc_now
from api.cli.common import fail
from api.config import PROJECT_ROOT, Settings
from api.datafiles import load_regions
from api.db import migrate
from api.db.spatial import make_engine, to_wkb
from api.db.tables import (
    LeadRow,
    LeadTouchRow,
    RateCardVersionRow,
    SettlementRow,
    TechnicianRow,
    TechnicianShiftRow,
    TicketRow,
    TicketStatusChangeRow,
)
from api.regions import repository as region_repo
from api.reports import service
from api.reports.rules import Period
from api.reports.schemas import CostReport, LeadFunnelReport

ZONE = ZoneInfo("Asia/Shanghai")
WEEKS = 13
TARGET_S = 2.0
CHANNELS = ("web_form", "api", "social", "ads", "offline_event", "partner", "csv")
WORKED = ("scheduled", "dispatched", "en_route", "on_site", "completed", "confirmed", "settled")
COMPONENTS = (  # (code, English, Chinese, share of the base fee in ‰)
    ("base_fee", "base fee", "基础服务费", 1000),
    ("region_coefficient", "region coefficient", "区域系数", 200),
    ("time_of_day", "early morning", "早班系数", 300),
    ("distance_subsidy", "distance subsidy", "远途补贴", 150),
    ("good_review", "good review", "好评奖励", 50),
)
BATCH = 5_000
# How far a ticket got, in per cent: cancelled, new, then each status of WORKED.
REACHED_WEIGHTS = (4, 3, 2, 2, 1, 1, 4, 8, 75)


@dataclass(frozen=True)
class Quarter:
    """The seeded quarter: its period and how many rows each table got."""

    period: Period
    counts: dict[str, int]


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _bulk(session: Session, table: Any, rows: Iterator[dict[str, Any]]) -> int:
    """Insert ``rows`` into ``table`` in batches of executemany; return how many."""
    target: Table = table.__table__
    count = 0
    for batch in _batches(rows):
        session.execute(insert(target), batch)
        count += len(batch)
    return count


def seed(engine: Engine, *, tickets: int, technicians: int, seed_value: int = 11) -> Quarter:
    """Fill the empty, migrated database behind ``engine`` with a quarter of work."""
    rng = random.Random(seed_value)
    last = utc_now().astimezone(ZONE).date() - timedelta(days=1)
    first = last - timedelta(days=last.weekday()) - timedelta(weeks=WEEKS - 1)
    period = Period(first, last, "Asia/Shanghai")
    days = period.days
    with Session(engine) as session, session.begin():
        if session.scalar(select(func.count()).select_from(TicketRow)):
            raise fail("the database already holds tickets: give an empty one")
        regions = load_regions(PROJECT_ROOT / "data" / "regions.geojson", max_vertices=20_000)
        region_repo.replace_all(session, regions=regions)
        region_ids = [r.id for r in regions if r.level in ("district", "zone")]
        plan = _Plan(rng, first, days, tickets, technicians, region_ids)
        counts = {
            "technicians": _bulk(session, TechnicianRow, plan.technicians()),
            "shifts": _bulk(session, TechnicianShiftRow, plan.shifts()),
            "tickets": _bulk(session, TicketRow, plan.tickets()),
            "status_changes": _bulk(session, TicketStatusChangeRow, plan.status_changes()),
            "leads": _bulk(session, LeadRow, plan.leads()),
            "touches": _bulk(session, LeadTouchRow, plan.touches()),
            "rate_card_versions": _bulk(session, RateCardVersionRow, plan.cards()),
            "settlements": _bulk(session, SettlementRow, plan.settlements()),
        }
    with engine.connect() as connection:  # statistics for the planner, as after any bulk load
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
    return Quarter(period, counts)


class _Plan:
    """The quarter's rows, drawn from one random stream so that a seed gives the same data."""

    def __init__(
        self, rng: random.Random, first: date, days: int, tickets: int, technicians: int,
        region_ids: list[str],
    ) -> None:  # fmt: skip
        self.rng, self.first, self.days = rng, first, days
        self.n_tickets, self.n_technicians, self.region_ids = tickets, technicians, region_ids
        self.n_leads = tickets
        self.made = datetime(first.year, first.month, first.day, tzinfo=ZONE) - timedelta(days=1)
        # Per ticket: (created_at, region, technician index, how far it got in WORKED, on-site).
        self.work: list[tuple[datetime, str, int, int, datetime]] = []
        for _ in range(tickets):
            day = rng.randrange(days)
            created = self._local(day, rng.randrange(7, 20), rng.randrange(60))
            reached = rng.choices(range(-1, len(WORKED) + 1), weights=(4, 3, 2, 2, 1, 1, 4, 8, 75))[
                0
            ]
            on_site = created + timedelta(hours=rng.randrange(2, 30), minutes=rng.randrange(60))
            self.work.append((created, rng.choice(region_ids), rng.randrange(technicians),
                              reached, on_site))  # fmt: skip

    def _local(self, day: int, hour: int, minute: int) -> datetime:
        d = self.first + timedelta(days=day)
        return datetime(d.year, d.month, d.day, hour, minute, tzinfo=ZONE)

    def _technician_id(self, index: int) -> str:
        return f"T-{index:04d}"

    def technicians(self) -> Iterator[dict[str, Any]]:
        for n in range(self.n_technicians):
            yield {"id": self._technician_id(n), "name": f"技师{n}",
                   "home_base": to_wkb(Point(121.3 + n % 30 * 0.01, 31.1 + n // 30 * 0.01)),
                   "skills": {"aircon": 2}, "is_active": True, "created_at": self.made,
                   "updated_at": self.made}  # fmt: skip

    def shifts(self) -> Iterator[dict[str, Any]]:
        for n in range(self.n_technicians):
            for day in range(self.days):
                if self.rng.random() < 6 / 7:  # about one day off a week
                    start = self._local(day, 8, 0)
                    lunch = {"earliest_start_at": (start + timedelta(hours=4)).isoformat(),
                             "latest_start_at": (start + timedelta(hours=5)).isoformat(),
                             "duration_min": 60}  # fmt: skip
                    yield {"technician_id": self._technician_id(n), "day": start.date(),
                           "start_at": start, "end_at": start + timedelta(hours=9),
                           "breaks": [lunch]}  # fmt: skip

    def tickets(self) -> Iterator[dict[str, Any]]:
        rng = self.rng
        for i, (created, region, tech, reached, _on_site) in enumerate(self.work, start=1):
            status = (
                "cancelled" if reached < 0 else ("new" if reached == 0 else WORKED[reached - 1])
            )
            yield {
                "id": i, "source": "bench", "external_id": f"B-{i}", "type": "repair",
                "location": to_wkb(Point(121.2 + rng.random() * 0.6, 31.0 + rng.random() * 0.4)),
                "region_id": region, "address": f"测试路 {i} 号", "duration_min": 60,
                "skills": {"aircon": 1}, "time_windows": [], "priority": "normal",
                "sla_due_at": created + timedelta(hours=rng.choice((24, 48, 72))),
                "status": status, "technician_id": self._technician_id(tech) if reached > 0
                else None, "demand": 0, "units": 1, "difficulty": [], "materials": [],
                "created_at": created, "updated_at": created,
            }  # fmt: skip

    def status_changes(self) -> Iterator[dict[str, Any]]:
        rng = self.rng
        for i, (created, _region, _tech, reached, on_site) in enumerate(self.work, start=1):
            if reached < 0:
                yield {"ticket_id": i, "from_status": "new", "to_status": "cancelled",
                       "at": created + timedelta(hours=1)}  # fmt: skip
                continue
            en_route = on_site - timedelta(minutes=rng.randrange(10, 60))
            times = {"scheduled": created + timedelta(minutes=20),
                     "dispatched": en_route - timedelta(minutes=30), "en_route": en_route,
                     "on_site": on_site,
                     "completed": on_site + timedelta(minutes=rng.randrange(30, 120))}  # fmt: skip
            times["confirmed"] = times["completed"] + timedelta(minutes=5)
            times["settled"] = times["confirmed"]
            previous = "new"
            for status in WORKED[:reached]:
                yield {"ticket_id": i, "from_status": previous, "to_status": status,
                       "at": times[status]}  # fmt: skip
                previous = status

    def leads(self) -> Iterator[dict[str, Any]]:
        rng = self.rng
        converted = iter(range(1, self.n_tickets + 1))
        for n in range(1, self.n_leads + 1):
            created = self._local(rng.randrange(self.days), rng.randrange(24), rng.randrange(60))
            roll = rng.random()
            status = ("rejected" if roll < 0.1 else "converted" if roll < 0.7
                      else rng.choice(("new", "assigned", "contacted")))  # fmt: skip
            responded = (created + timedelta(minutes=rng.randrange(5, 600))
                         if status == "contacted" or (status == "converted" and roll < 0.5)
                         else None)  # fmt: skip
            ticket = next(converted) if status == "converted" else None
            yield {
                "id": n, "source": "bench", "channel": rng.choice(CHANNELS),
                "region_id": rng.choice(self.region_ids), "status": status,
                "rejection_code": "spam" if status == "rejected" else None,
                "score_lines": [], "score_band": "warm",
                "first_response_due_at": None if status == "rejected"
                else created + timedelta(hours=4),
                "first_responded_at": responded, "touch_count": 1, "last_touched_at": created,
                "ticket_id": ticket, "converted_at": created + timedelta(hours=2) if ticket
                else None, "created_at": created, "updated_at": created,
            }  # fmt: skip

    def touches(self) -> Iterator[dict[str, Any]]:
        rng = random.Random(self.n_leads)  # its own stream: the leads are not kept in memory
        for n in range(1, self.n_leads + 1):
            if rng.random() < 0.6:
                yield {"lead_id": n, "direction": "outbound", "kind": "call",
                       "outcome": rng.choice(("reached", "no_answer", "replied")),
                       "at": self.made}  # fmt: skip

    def cards(self) -> Iterator[dict[str, Any]]:
        for version in (1, 2):
            yield {"id": version, "card_id": "bench", "version": version, "currency": "CNY",
                   "time_zone": "Asia/Shanghai", "effective_from": self.first,
                   "document_format": "json", "document": "{}", "content_sha256": "0" * 64,
                   "created_at": self.made}  # fmt: skip

    def settlements(self) -> Iterator[dict[str, Any]]:
        rng = self.rng
        settled_from = WORKED.index("confirmed")
        for i, (_created, region, tech, reached, on_site) in enumerate(self.work, start=1):
            if reached < settled_from + 1:
                continue
            for version in (1, 2) if rng.random() < 0.02 else (1,):
                base = rng.choice((6000, 8000, 12000))
                amounts = {
                    code: base * permille // 1000
                    for code, _, _, permille in COMPONENTS
                    if code == "base_fee" or rng.random() < 0.5
                }
                lines = [
                    {"code": code, "label_en": en, "label_zh": zh, "basis": "1", "rate": "1",
                     "amount_fen": amounts[code], "rule_id": code}
                    for code, en, zh, _ in COMPONENTS
                    if code in amounts
                ]  # fmt: skip
                pay = sum(amounts.values())
                # Most jobs are billed: a customer price covering pay and a margin.
                bill = pay * rng.choice((15, 18, 22)) // 10 if rng.random() < 0.9 else None
                yield {
                    "ticket_id": i, "technician_id": self._technician_id(tech),
                    "rate_card_version_id": version, "rate_card_version": f"bench@v{version}",
                    "service_type": "repair", "region_id": region, "service_at": on_site,
                    "service_date": on_site.astimezone(ZONE).date(), "nth_in_period": 1,
                    "total_fen": pay, "currency": "CNY",
                    "lines": lines, "inputs": {}, "settled_at": on_site,
                    "bill_total_fen": bill, "bill_currency": None if bill is None else "CNY",
                }  # fmt: skip


def _time(call: Callable[[], BaseModel], runs: int) -> tuple[list[float], BaseModel]:
    times, report = [], None
    for _ in range(runs):
        began = time.perf_counter()
        report = call()
        report.model_dump_json()
        times.append(time.perf_counter() - began)
    assert report is not None, "runs is at least 1"
    return times, report


def measure(engine: Engine, period: Period, runs: int) -> dict[str, Any]:
    """Time each report over ``period``; return the figures and a check total of each."""
    now = utc_now()
    with Session(engine) as session:
        calls: dict[str, Callable[[], BaseModel]] = {
            "lead_funnel": lambda: service.lead_funnel(session, period=period),
            "sla": lambda: service.sla(session, period=period, now=now),
            "cost": lambda: service.cost(session, period=period),
            "utilisation_day": lambda: service.utilisation(session, period=period, by="day"),
            "utilisation_week": lambda: service.utilisation(session, period=period, by="week"),
        }
        figures: dict[str, Any] = {}
        for name, call in calls.items():
            times, report = _time(call, runs)
            figures[name] = {"median_s": round(statistics.median(times), 3),
                             "runs_s": [round(t, 3) for t in times],
                             "rows": len(getattr(report, "rows", []))}  # fmt: skip
            if isinstance(report, LeadFunnelReport):
                figures[name]["leads_received"] = report.totals.received
            if isinstance(report, CostReport):
                figures[name]["orders_settled"] = sum(t.orders for t in report.totals)
            typer.echo(f"{name:>17}: median {figures[name]['median_s']:.3f} s "
                       f"({figures[name]['rows']} rows)")  # fmt: skip
    return figures


def bench_reports(
    tickets: Annotated[int, typer.Option(min=10, max=1_000_000)] = 100_000,
    technicians: Annotated[int, typer.Option(min=1, max=10_000)] = 300,
    runs: Annotated[int, typer.Option(min=1, help="timed runs per report (median)")] = 5,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="an empty PostGIS database (postgresql+psycopg://...); default: a "
            "fresh SpatiaLite file"
        ),
    ] = None,
    json_path: Annotated[
        Path, typer.Option("--json", help="where to write the figures")
    ] = PROJECT_ROOT / "benchmarks" / "results" / "reports.json",
) -> None:
    """Seed a quarter of N tickets by bulk insert, then time each manager report on it."""
    folder = None if database_url else tempfile.mkdtemp(prefix="bench-reports-")
    url = database_url or f"sqlite:///{folder}/bench.sqlite"
    engine = make_engine(url, spatialite_library_path=Settings().spatialite_library_path)
    try:
        migrate.upgrade(engine)
        began = time.perf_counter()
        quarter = seed(engine, tickets=tickets, technicians=technicians)
        seed_s = time.perf_counter() - began
        typer.echo(f"seeded in {seed_s:.1f} s: " +
                   ", ".join(f"{n:,} {k}" for k, n in quarter.counts.items()))  # fmt: skip
        figures = measure(engine, quarter.period, runs)
    finally:
        engine.dispose()
        if folder is not None:  # the SpatiaLite file was ours: a few hundred MB at full size
            shutil.rmtree(folder, ignore_errors=True)
    slowest = max(f["median_s"] for f in figures.values())
    result = {
        "benchmark": "reports",
        "database": engine.dialect.name,
        "period": {"first": quarter.period.first.isoformat(),
                   "last": quarter.period.last.isoformat(), "days": quarter.period.days},
        "rows": quarter.counts,
        "seed_s": round(seed_s, 1),
        "reports": figures,
        "target_s": TARGET_S,
        "is_within_target": slowest < TARGET_S,
        "load_average": os.getloadavg(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }  # fmt: skip
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    typer.echo(f"slowest report {slowest:.3f} s (target {TARGET_S} s); figures in {json_path}")
