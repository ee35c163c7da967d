"""``geodispatch bench geo``: how fast the region index answers point-in-region queries.

It builds a :class:`geo.regions.RegionIndex` from a regions file, draws seeded random points in
the regions' bounding box and times ``locate_indices`` (the numpy fast path), ``locate`` (ids as
a Python list) and the haversine travel-time matrix of 2,000 of those points. Every run also
checks a sample of answers against a direct test of every prepared region, so a fast wrong index
cannot produce a figure.
"""

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import psutil
import typer
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table

import shapely

from api.cli.common import fail, reports_errors
from api.config import PROJECT_ROOT, get_settings
from api.datafiles import load_regions
from geo.distance import HaversineTravelTime
from geo.regions import RegionIndex

TARGET_POINTS_PER_S = 1_000_000
_VERIFIED_POINTS = 20_000
_TRAVEL_MATRIX_POINTS = 2_000


def _median_s(run: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    """Run once to warm up, then ``repeats`` times; return the median and all timings."""
    run()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings), timings


def _reference_locate(
    index: RegionIndex, lons: NDArray[np.float64], lats: NDArray[np.float64]
) -> NDArray[np.int64]:
    """Locate without the grid: test every prepared region, the most specific hit winning."""
    answer = np.full(len(lons), -1, dtype=np.int64)
    for position in reversed(range(len(index))):  # most specific last, so it overwrites
        is_hit = shapely.intersects_xy(index.regions[position].geometry, lons, lats)
        answer[is_hit] = position
    return answer


def _cpus(*, pin_one: bool) -> list[int]:
    """Return the CPUs this process may use, first restricting it to one if ``pin_one``."""
    if not hasattr(os, "sched_getaffinity"):  # not Linux: report nothing rather than guess
        return []
    if pin_one:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    return sorted(os.sched_getaffinity(0))


def _measure(
    regions_path: Path,
    n_points: int,
    repeats: int,
    seed: int,
    grid_cells: int | None,
    *,
    max_vertices: int,
) -> dict[str, Any]:
    regions = load_regions(regions_path, max_vertices=max_vertices)
    if not regions:
        raise fail(f"{regions_path} holds no regions")
    process = psutil.Process()
    rss_before = process.memory_info().rss
    index = RegionIndex(regions, grid_cells=grid_cells)
    index_memory_b = process.memory_info().rss - rss_before
    build_s, _ = _median_s(lambda: RegionIndex(regions, grid_cells=grid_cells), repeats)

    xmin, ymin, xmax, ymax = shapely.total_bounds([r.geometry for r in regions])
    rng = np.random.default_rng(seed)
    lons, lats = rng.uniform(xmin, xmax, n_points), rng.uniform(ymin, ymax, n_points)
    indices_s, indices_runs = _median_s(lambda: index.locate_indices(lons, lats), repeats)
    ids_s, _ = _median_s(lambda: index.locate(lons, lats), repeats)

    travel = HaversineTravelTime(region_index=index)
    inside = np.flatnonzero(index.locate_indices(lons, lats) >= 0)[:_TRAVEL_MATRIX_POINTS]
    travel_s, _ = _median_s(lambda: travel.matrix_s(lons[inside], lats[inside]), repeats)

    sample = slice(0, min(n_points, _VERIFIED_POINTS))
    reference = _reference_locate(index, lons[sample], lats[sample])
    answers = index.locate_indices(lons, lats)
    mismatches = int(np.count_nonzero(answers[sample] != reference))
    reference_s, _ = _median_s(lambda: _reference_locate(index, lons[sample], lats[sample]), 1)
    reference_points_per_s = len(reference) / reference_s
    return {
        "benchmark": "geo.locate",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "regions_file": str(regions_path),
        "regions": len(index),
        "vertices": int(sum(shapely.get_num_coordinates(r.geometry) for r in regions)),
        "bbox": [float(xmin), float(ymin), float(xmax), float(ymax)],
        "points": n_points,
        "points_inside_share": round(float(np.mean(answers >= 0)), 4),
        "repeats": repeats,
        "seed": seed,
        "grid_cells": index.grid.cell_count,
        "boundary_cell_share": round(index.grid.boundary_share, 4),
        "build_s_median": round(build_s, 4),
        "index_rss_growth_mb": round(index_memory_b / 2**20, 1),
        "grid_arrays_mb": round(index.grid.nbytes / 2**20, 2),
        "locate_indices_s_median": round(indices_s, 4),
        "locate_indices_s_runs": [round(t, 4) for t in indices_runs],
        "locate_indices_points_per_s": round(n_points / indices_s),
        "locate_s_median": round(ids_s, 4),
        "locate_points_per_s": round(n_points / ids_s),
        "no_grid_points_per_s": round(reference_points_per_s),
        "speedup_vs_no_grid": round(n_points / ids_s / reference_points_per_s, 1),
        "travel_matrix_points": len(inside),
        "travel_matrix_s_median": round(travel_s, 4),
        "verified_points": len(reference),
        "mismatches": mismatches,
        "target_points_per_s": TARGET_POINTS_PER_S,
        "meets_target": n_points / ids_s >= TARGET_POINTS_PER_S and mismatches == 0,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "shapely": shapely.__version__,
        "cpu": platform.processor() or platform.machine(),
    }


def _print(figures: dict[str, Any], console: Console) -> None:
    table = Table(
        title=f"locate on {figures['points']:,} random points ({figures['regions_file']})"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("regions / vertices", f"{figures['regions']} / {figures['vertices']:,}"),
        (
            "grid cells (boundary share)",
            f"{figures['grid_cells']:,} ({figures['boundary_cell_share']:.1%})",
        ),
        ("index build, median", f"{figures['build_s_median'] * 1000:.0f} ms"),
        ("process RSS growth while building", f"{figures['index_rss_growth_mb']:.1f} MiB"),
        ("grid lookup arrays", f"{figures['grid_arrays_mb']:.2f} MiB"),
        ("locate_indices, median", f"{figures['locate_indices_s_median'] * 1000:.1f} ms"),
        ("locate_indices throughput", f"{figures['locate_indices_points_per_s']:,} points/s"),
        ("locate (ids), median", f"{figures['locate_s_median'] * 1000:.1f} ms"),
        ("locate (ids) throughput", f"{figures['locate_points_per_s']:,} points/s"),
        (
            f"travel-time matrix, {figures['travel_matrix_points']:,} points",
            f"{figures['travel_matrix_s_median'] * 1000:.0f} ms",
        ),
        ("without the grid (prepared polygons)", f"{figures['no_grid_points_per_s']:,} points/s"),
        ("speed-up of locate over no grid", f"x{figures['speedup_vs_no_grid']}"),
        (
            "checked against no-grid answers",
            f"{figures['verified_points']:,} points, {figures['mismatches']} mismatches",
        ),
        ("target >= 1M points/s, one core", "met" if figures["meets_target"] else "NOT met"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


@reports_errors
def bench_geo(
    regions: Annotated[
        Path | None, typer.Option(help="regions GeoJSON (default: the settings' regions_file)")
    ] = None,
    points: Annotated[int, typer.Option(min=1, help="random points per run")] = 1_000_000,
    repeats: Annotated[int, typer.Option(min=1, help="timed runs (the median is reported)")] = 5,
    seed: Annotated[int, typer.Option(help="seed of the random points")] = 0,
    grid_cells: Annotated[
        int | None, typer.Option(min=1, help="lookup grid cells (default: the index's own)")
    ] = None,
    json_path: Annotated[
        Path, typer.Option("--json", help="where to write the figures")
    ] = PROJECT_ROOT / "benchmarks" / "results" / "geo.json",
    one_core: Annotated[bool, typer.Option(help="pin the process to one CPU")] = True,
) -> None:
    """Measure RegionIndex.locate on random points in the regions' bounding box."""
    cores = _cpus(pin_one=one_core)
    settings = get_settings()
    figures = _measure(
        regions or settings.regions_file,
        points,
        repeats,
        seed,
        grid_cells,
        max_vertices=settings.max_region_vertices,
    )
    figures["cpu_affinity"] = cores
    _print(figures, Console())
    try:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    except OSError as err:
        raise fail(f"cannot write {json_path}: {err.strerror}") from err
    typer.echo(f"figures written to {json_path}")
    if figures["mismatches"]:
        raise fail(f"{figures['mismatches']} answers differ from the no-grid reference")
