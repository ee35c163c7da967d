"""``geodispatch bench reliability crash|faults|run-kill|money|all``: print the figures, keep them.

Each command writes its part of ``benchmarks/results/reliability.json`` (the other parts are
kept), stamped with the commit, the time and the load average before and after, and exits 1
when a promise did not hold (the figures are printed and written all the same).
"""

import json
import os
import subprocess
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from api.cli.common import fail, reports_errors
from api.config import PROJECT_ROOT
from api.demo.city import DaySize
from benchmarks.api_load import DEFAULT_ADMIN_URL
from benchmarks.reliability.crash import CrashParams, crash_run, crash_violations
from benchmarks.reliability.databases import POSTGIS, SPATIALITE, run_database
from benchmarks.reliability.faults import (
    DEFAULT_PLAN,
    FaultParams,
    faults_run,
    faults_violations,
    partial_rows,
)
from benchmarks.reliability.money import (
    MoneyParams,
    money_run,
    money_violations,
    unavailable_answers,
)
from benchmarks.reliability.run_kill import run_kill, run_kill_violations

RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "reliability.json"
reliability = typer.Typer(
    help="Crash, fault and money figures against the real service.", no_args_is_help=True
)
console = Console()


class Databases(StrEnum):
    """Which databases a part runs on."""

    SPATIALITE = SPATIALITE
    POSTGIS = POSTGIS
    BOTH = "both"


AdminUrl = Annotated[
    str,
    typer.Option(
        envvar="TEST_POSTGIS_ADMIN_URL", help="PostgreSQL URL allowed to create databases"
    ),
]
JsonPath = Annotated[Path, typer.Option("--json", help="the figures file (parts are merged)")]


def _stamp() -> dict[str, Any]:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    return {
        "head": done.stdout.strip() or "unknown",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cores": os.cpu_count(),
    }


def _measured(part: str, json_path: Path, run: Callable[[], Any]) -> Any:
    """Run a part, stamp it, merge it into ``json_path`` and print where; return its figures."""
    load_before = [round(x, 2) for x in os.getloadavg()]
    figures = run()
    load_after = [round(x, 2) for x in os.getloadavg()]
    entry = {
        **_stamp(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "figures": figures,
    }
    try:
        stored = json.loads(json_path.read_text(encoding="utf-8")) if json_path.exists() else {}
    except ValueError:
        stored = {}
    stored[part] = entry
    try:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(stored, indent=2, ensure_ascii=False) + "\n", "utf-8")
    except OSError as err:
        raise fail(f"cannot write {json_path}: {err.strerror}") from err
    console.print(
        f"[dim]load average {load_before} -> {entry['load_average_after']}; "
        f"figures in {json_path} ({part})[/]"
    )
    return figures


def _verdict(part: str, broken: list[str]) -> None:
    if broken:
        raise fail(f"{part}: the promise did not hold: " + "; ".join(broken))
    console.print(f"[bold green]{part}: the promise held[/]")


def _kinds(databases: Databases) -> list[str]:
    return [SPATIALITE, POSTGIS] if databases is Databases.BOTH else [databases.value]


@reliability.command("crash")
@reports_errors
def crash_command(
    databases: Annotated[Databases, typer.Option("--database")] = Databases.BOTH,
    keys: Annotated[int, typer.Option(min=1, max=100_000, help="keyed ticket POSTs")] = 1000,
    kills: Annotated[int, typer.Option(min=0, max=20, help="SIGKILLs of the service")] = 3,
    threads: Annotated[int, typer.Option(min=1, max=64, help="client threads")] = 8,
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
    json_path: JsonPath = RESULTS,
) -> None:
    """Kill -9 the service during keyed ticket POSTs: acknowledged = stored, none lost or twice."""
    params = CrashParams(keys=keys, kills=kills, threads=threads)
    _verdict("crash", _crash(databases, params, admin_url, json_path))


def _crash(databases: Databases, params: CrashParams, admin_url: str, json_path: Path) -> list[str]:
    def run() -> dict[str, Any]:
        figures = {}
        for kind in _kinds(databases):
            with run_database(kind, admin_url) as database:
                figures[kind] = crash_run(database, params)
            _print_crash(figures[kind])
        return figures

    figures = _measured("crash", json_path, run)
    return [f"{k}: {v}" for k, f in figures.items() for v in crash_violations(f)]


def _print_crash(f: dict[str, Any]) -> None:
    kills = ", ".join(
        f"{k['requests_in_flight']} in flight (restart {k['restart_s']} s)" for k in f["kills"]
    )
    console.print(
        f"[bold]crash on {f['database']}[/] ({f['server']}): {f['keys']:,} keys, "
        f"{len(f['kills'])} kills [{kills}], {f['seconds']} s\n"
        f"  acknowledged {f['acknowledged']:,}, stored {f['stored_keys']:,}, lost {f['lost']}, "
        f"duplicated {f['duplicated']}, stored unacknowledged {f['stored_unacknowledged']}; "
        f"answers replayed {f['replayed_answers']}\n"
        f"  tickets {f['tickets_stored']:,}, whole {f['tickets_whole']:,}; orphan key rows "
        f"{f['orphan_key_rows']}, orphan customers {f['orphan_customers']}\n"
        f"  attempts {json.dumps(f['attempts'])}"
    )


@reliability.command("faults")
@reports_errors
def faults_command(
    plan: Annotated[
        str, typer.Option(help="faults in order: restart:fast, restart:immediate, terminate")
    ] = ",".join(DEFAULT_PLAN),
    gap: Annotated[float, typer.Option(min=1, max=60, help="seconds around each fault")] = 4.0,
    threads: Annotated[int, typer.Option(min=1, max=64, help="client threads")] = 6,
    workers: Annotated[int, typer.Option(min=1, max=8, help="service processes")] = 2,
    json_path: JsonPath = RESULTS,
) -> None:
    """Restart a private PostgreSQL cluster and kill the service's connections under load."""
    try:
        params = FaultParams(tuple(plan.split(",")), gap, threads, workers=workers)
    except ValueError as err:
        raise fail(str(err), 2) from err
    _verdict("faults", _faults(params, json_path))


def _faults(params: FaultParams, json_path: Path) -> list[str]:
    figures = _measured("faults", json_path, lambda: faults_run(params))
    _print_faults(figures)
    return faults_violations(figures)


def _print_faults(f: dict[str, Any]) -> None:
    console.print(
        f"[bold]PostgreSQL faults[/] ({f['server']}, private cluster; {f['service_processes']} "
        f"service processes, {f['client_threads']} client threads): {f['requests']:,} requests "
        f"in {f['seconds']} s {json.dumps(f['requests_by_kind'])}"
    )
    for fault in f["faults"]:
        console.print(
            f"  {fault['fault']:<18} {fault['downtime_s']:>6.2f} s down, "
            f"{fault['backends_terminated']} backends killed; errors during "
            f"{json.dumps(fault['errors_during_fault'])}, after recovery "
            f"{json.dumps(fault['errors_after_recovery'])}; recovered after "
            f"{fault['recovered_after_s']} s"
        )
    a = f["audit"]
    console.print(
        f"  errors during faults {f['errors_during_faults']}, after recovery "
        f"{f['errors_after_recovery']}, not 503 {f['non_503_errors']}; keys {a['keys']:,}: "
        f"lost {a['lost']}, duplicated {a['duplicated']}; partial rows {partial_rows(f)}"
    )


@reliability.command("run-kill")
@reports_errors
def run_kill_command(
    databases: Annotated[Databases, typer.Option("--database")] = Databases.POSTGIS,
    technicians: Annotated[int, typer.Option(min=2, max=300)] = 50,
    orders: Annotated[int, typer.Option(min=1, max=2000)] = 250,
    time_limit: Annotated[float, typer.Option(min=2, max=60, help="the killed runs' limit")] = 20,
    lease: Annotated[
        float, typer.Option(min=2, max=600, help="GEODISPATCH_DISPATCH_RUN_LEASE_S")
    ] = 10,
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
    json_path: JsonPath = RESULTS,
) -> None:
    """Kill a dispatch run's solver, then the whole service, mid-solve; re-run the run."""
    size = DaySize(technicians=technicians, orders=orders)
    _verdict("run-kill", _run_kill(databases, size, time_limit, lease, admin_url, json_path))


def _run_kill(
    databases: Databases,
    size: DaySize,
    time_limit: float,
    lease: float,
    admin_url: str,
    json_path: Path,
) -> list[str]:
    def run() -> dict[str, Any]:
        figures = {}
        for kind in _kinds(databases):
            with run_database(kind, admin_url) as database:
                figures[kind] = run_kill(
                    database, day_size=size, time_limit_s=time_limit, lease_s=lease
                )
            _print_run_kill(kind, figures[kind])
        return figures

    figures = _measured("run_kill", json_path, run)
    return [f"{k}: {v}" for k, f in figures.items() for v in run_kill_violations(f)]


def _print_run_kill(kind: str, f: dict[str, Any]) -> None:
    title = f"dispatch run killed mid-solve on {kind}"
    console.print(f"[bold]{title}[/] (day {f['day']}, lease {f['lease_s']:g} s)")
    for name in ("solver_killed", "service_killed"):
        d = f[name]
        console.print(
            f"  {name:<15} at progress {d['progress_at_kill']}: {d['status']} after "
            f"{d['failed_after_s']} s ({(d['error'] or {}).get('code')}); assignments left "
            f"{d['assignments_by_failed_run']}, tickets changed {d['tickets_changed']}; re-run "
            f"{d['rerun_status']} ({d['rerun_assigned']} assigned)"
        )
    console.print(f"  the last re-run applied: {f['applied_scheduled']} tickets scheduled")


@reliability.command("money")
@reports_errors
def money_command(
    databases: Annotated[Databases, typer.Option("--database")] = Databases.POSTGIS,
    technicians: Annotated[int, typer.Option(min=1, max=50)] = 4,
    jobs: Annotated[int, typer.Option(min=1, max=100, help="finished jobs per technician")] = 12,
    threads: Annotated[int, typer.Option(min=1, max=64, help="client threads")] = 8,
    workers: Annotated[int, typer.Option(min=1, max=8, help="service processes")] = 2,
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
    json_path: JsonPath = RESULTS,
) -> None:
    """Concurrent settle, re-settle, adjustments and withdrawals; then audit every ledger."""
    params = MoneyParams(technicians=technicians, jobs=jobs, threads=threads, workers=workers)
    _verdict("money", _money(databases, params, admin_url, json_path))


def _money(databases: Databases, params: MoneyParams, admin_url: str, json_path: Path) -> list[str]:
    def run() -> dict[str, Any]:
        figures = {}
        for kind in _kinds(databases):
            with run_database(kind, admin_url) as database:
                figures[kind] = money_run(database, params)
            _print_money(kind, figures[kind])
        return figures

    figures = _measured("money", json_path, run)
    return [
        f"{k}: {v}"
        for k, f in figures.items()
        for v in money_violations(f) + unavailable_answers(f)
    ]


def _print_money(kind: str, f: dict[str, Any]) -> None:
    console.print(
        f"[bold]money on {kind}[/] ({f['technicians']} technicians x {f['jobs_per_technician']} "
        f"jobs, {f['service_processes']} service processes, {f['client_threads']} threads): "
        f"{f['operations']:,} operations, {f['conflicts_409']} answered 409, "
        f"{f['server_errors']} 5xx ({f['answered_503']} x 503)\n"
        f"  ledger {json.dumps(f['ledger_entries'])}; settlements per ticket "
        f"{json.dumps(f['settlements_per_ticket'])}; lowest balance {f['lowest_balance_fen']} "
        f"fen; violations {len(f['violations'])}\n"
        f"  answers {json.dumps(f['answers'])}"
    )


@reliability.command("all")
@reports_errors
def all_command(admin_url: AdminUrl = DEFAULT_ADMIN_URL, json_path: JsonPath = RESULTS) -> None:
    """Every part with its defaults (about five minutes on two cores)."""
    broken = _crash(Databases.BOTH, CrashParams(), admin_url, json_path)
    broken += _faults(FaultParams(), json_path)
    broken += _run_kill(Databases.POSTGIS, DaySize(50, 250), 20.0, 10.0, admin_url, json_path)
    broken += _money(Databases.POSTGIS, MoneyParams(), admin_url, json_path)
    _verdict("reliability", broken)
