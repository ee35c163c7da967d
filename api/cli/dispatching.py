"""``geodispatch solve`` and ``demo problem``: dispatch a problem file, make a demo day.

The display shows each phase with elapsed time: the share of the time limit used while one
problem is solved, the parts done when it is partitioned. Bad files end with a one-line
error and exit status 1.
"""

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.cli.common import reports_errors
from api.datafiles import DataFileError, read_json
from dispatch import ObjectiveWeights, Plan, Problem, SolveParams, solve
from dispatch.demo import DemoParams, Places, demo_problem
from dispatch.executors import DaskCluster, Executor, LocalProcesses
from dispatch.params import DEFAULT_SOLVE
from dispatch.partition import PartitionMode
from dispatch.plan_io import plan_to_dict
from dispatch.problem_io import problem_from_dict, problem_to_dict
from dispatch.scale_out import ScaleOutParams, solve_partitioned
from geo.distance import HaversineTravelTime

# The checkout's data folder, as api.config.PROJECT_ROOT has it: importing api.config would load
# pydantic-settings (a fifth of a second) before every solve.
PLACES_FILE = Path(__file__).resolve().parents[2] / "data" / "places.geojson"
AUTO_PARTITION_ORDERS = 2500  # above this many orders, ``auto`` partitions by cluster
console = Console(stderr=True)
T = TypeVar("T")


class PartitionChoice(StrEnum):
    """``--partition`` values."""

    AUTO = "auto"
    NONE = "none"
    REGION = "region"
    CLUSTER = "cluster"


def load_places(path: Path) -> Places:
    """Read the demo city's places (GeoJSON points with a ``district_id`` property)."""
    data = read_json(path)
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list) or not features:
        raise DataFileError(f"{path}: not a FeatureCollection of places", path=str(path))
    try:
        coords = np.asarray([f["geometry"]["coordinates"] for f in features], dtype=np.float64)
        districts = np.asarray([str(f["properties"]["district_id"]) for f in features])
    except (KeyError, TypeError, ValueError) as err:
        raise DataFileError(f"{path}: every place needs a point and a district_id") from err
    return Places(coords[:, 0].copy(), coords[:, 1].copy(), districts)


def write_json(path: Path, document: object) -> None:
    """Write a JSON document, creating the folder; a failure names the file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    except OSError as err:
        raise DataFileError(f"cannot write {path}: {err.strerror}", path=str(path)) from err


def read_problem(path: Path) -> Problem:
    """Read a problem file; travel times from the file or the default haversine model."""
    return problem_from_dict(read_json(path), HaversineTravelTime())


def executor_from_settings() -> Executor:
    """Return a Dask executor when a scheduler is configured, else local processes."""
    from api.config import get_settings  # settings only matter to a partitioned solve

    address = get_settings().dask_scheduler
    return DaskCluster(address) if address else LocalProcesses()


def partition_mode(choice: PartitionChoice, problem: Problem) -> PartitionMode | None:
    """Resolve ``--partition``: ``auto`` partitions by cluster above the size threshold."""
    if choice is PartitionChoice.AUTO:
        return PartitionMode.CLUSTER if len(problem.orders) > AUTO_PARTITION_ORDERS else None
    return None if choice is PartitionChoice.NONE else PartitionMode(choice.value)


def solve_problem(
    problem: Problem,
    params: SolveParams,
    mode: PartitionMode | None,
    orders_per_part: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> Plan:
    """Solve in one piece, or partitioned on the configured executor.

    ``on_progress(done, of)`` reports per cent of the time limit in one piece, parts when
    partitioned.
    """
    if mode is None:
        report = None if on_progress is None else _percent(on_progress)
        return solve(problem, params, progress=report)
    executor = executor_from_settings()
    try:
        return solve_partitioned(
            problem, params, executor, ScaleOutParams(mode, orders_per_part), on_progress
        )
    finally:
        if isinstance(executor, DaskCluster):
            executor.close()


Step = Callable[[int, int], None]  # (done, of)


def _percent(step: Step) -> Callable[[float], None]:
    def report(share: float) -> None:
        step(round(share * 100), 100)

    return report


@contextmanager
def _phases() -> Iterator[Callable[[str, Callable[[Step], T]], T]]:
    """Yield ``phase(name, work)``: a progress row per phase; ``work`` may report steps."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console) as progress:

        def phase(name: str, work: Callable[[Step], T]) -> T:
            task = progress.add_task(name, total=1)
            steps = [1]  # the last total reported

            def step(done: int, of: int) -> None:
                steps[0] = of
                progress.update(task, completed=done, total=of)

            result = work(step)
            progress.update(task, completed=steps[0], total=steps[0])
            return result

        try:
            yield phase
        except BaseException:
            progress.live.transient = True  # the error alone is shown, on one line
            raise


@reports_errors
def solve_command(
    problem_file: Annotated[Path, typer.Argument(help="Problem JSON (docs/problem-format.md).")],
    out: Annotated[Path, typer.Option(help="Where to write the plan JSON.")] = Path("plan.json"),
    time_limit: Annotated[float, typer.Option(help="Seconds for the whole solve.")] = 30.0,
    partition: Annotated[PartitionChoice, typer.Option(help="Split large problems.")] = (
        PartitionChoice.AUTO
    ),
    orders_per_part: Annotated[int, typer.Option(help="Target orders per part.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the randomised parts.")] = 0,
    polish_share: Annotated[
        float, typer.Option(help="Share of the time for OR-Tools' descent after the search.")
    ] = DEFAULT_SOLVE.polish_share,
    drop_penalty: Annotated[
        int,
        typer.Option(
            help="Cost of leaving a priority-0 order unserved, in seconds of driving (x10 a "
            "priority level). Lower it to drive less and serve fewer."
        ),
    ] = DEFAULT_SOLVE.weights.drop_penalty,
    balance_weight: Annotated[
        int,
        typer.Option(
            help="Seconds of driving worth taking one second off the longest working day (0: none)."
        ),
    ] = DEFAULT_SOLVE.weights.balance_per_s,
) -> None:
    """Solve a problem file and write the plan, with progress and a summary."""
    weights = ObjectiveWeights(drop_penalty=drop_penalty, balance_per_s=balance_weight)
    params = SolveParams(time_limit, seed=seed, polish_share=polish_share, weights=weights)
    started = time.perf_counter()
    with _phases() as phase:
        problem = phase("read problem and travel times", lambda _: read_problem(problem_file))
        mode = partition_mode(partition, problem)
        what = f"solve ({mode.value} parts solved)" if mode else "solve (% of the time limit)"
        plan = phase(what, lambda step: solve_problem(problem, params, mode, orders_per_part, step))
        phase(f"write {out}", lambda _: write_json(out, plan_to_dict(plan)))
    print_summary(plan, time.perf_counter() - started)


def print_summary(plan: Plan, wall_s: float) -> None:
    """Print the figures a dispatcher judges a plan by."""
    k = plan.kpis
    table = Table(title="plan")
    table.add_column("figure")
    table.add_column("value", justify="right")
    total = k.assigned + k.unassigned
    rows = [
        ("assigned", f"{k.assigned} / {total}"),
        ("on time", f"{k.on_time_rate:.1%}"),
        (
            "travel",
            f"{k.travel_min / 60:,.1f} h" if k.travel_km is None else f"{k.travel_km:,.1f} km",
        ),
        ("workload spread", f"{k.load_spread_s / 3600:.1f} h"),
        ("objective", f"{k.objective:,}"),
        *([("OR-Tools polish gain", f"{k.polish_gain:,}")] if k.polish_gain is not None else []),
        ("wall time", f"{wall_s:.1f} s"),
    ]
    for reason, count in sorted(Counter(u.reason.value for u in plan.unassigned).items()):
        rows.append((f"unassigned: {reason}", str(count)))
    for row in rows:
        table.add_row(*row)
    Console().print(table)


@reports_errors
def demo_problem_command(
    out: Annotated[Path, typer.Option(help="Where to write the problem JSON.")] = Path(
        "problem.json"
    ),
    technicians: Annotated[int, typer.Option(help="Number of technicians.")] = 50,
    orders: Annotated[int, typer.Option(help="Number of orders.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed: same seed, same day.")] = 1,
    places: Annotated[Path, typer.Option(help="Places GeoJSON to draw from.")] = PLACES_FILE,
) -> None:
    """Generate a realistic demo day on the demo city's real places."""
    problem = demo_problem(
        load_places(places), HaversineTravelTime(), DemoParams(technicians, orders, seed=seed)
    )
    write_json(out, problem_to_dict(problem))
    typer.echo(f"wrote {out}: {technicians} technicians, {orders} orders (seed {seed})")
