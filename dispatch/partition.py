"""Split a large problem into independent parts: by region, or by spatial clusters.

A part is a set of technicians and the orders they alone will be offered. By region, orders
go by their ``region_id`` and technicians by the region of their base; small regions are
grouped with their nearest neighbours until a part holds about ``orders_per_part`` orders.
By cluster, orders are grouped by seeded k-means on their locations, and technicians are
given to clusters nearest-first until each cluster's share of the fleet's working time
matches its share of the orders (balanced by capacity). Either way an order pinned or locked
to a technician follows that technician, and ``sub_problem`` cuts the travel matrix down to
a part's nodes, so each part solves as a problem of its own.
"""

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from dispatch.errors import InvalidField
from dispatch.model import NODES_PER_TECHNICIAN, Problem

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
KMEANS_ROUNDS = 25
SPLIT_ROUNDS = 4


class PartitionMode(StrEnum):
    """How to split: by region ids, or by k-means clusters of order locations."""

    REGION = "region"
    CLUSTER = "cluster"


@dataclass(frozen=True, slots=True)
class Part:
    """Technician and order indices (into the parent problem) solved together."""

    label: str
    technicians: IntArray
    orders: IntArray


def partition(
    problem: Problem, mode: PartitionMode, *, orders_per_part: int, seed: int = 0
) -> tuple[Part, ...]:
    """Split ``problem`` into parts of about ``orders_per_part`` orders each."""
    if orders_per_part < 1:
        raise InvalidField("orders_per_part must be >= 1", field="orders_per_part")
    order_xy, tech_xy = _planar(problem)
    capacity = _capacity_s(problem)
    if mode is PartitionMode.REGION:
        order_group, tech_group = _region_groups(problem, order_xy, tech_xy, orders_per_part)
    else:
        order_group = np.zeros(len(order_xy), dtype=np.int64)
        tech_group = np.zeros(len(tech_xy), dtype=np.int64)
    for _ in range(SPLIT_ROUNDS):  # a cluster of a dense centre may need another cut
        split = _split_large(
            order_xy, tech_xy, capacity, order_group, tech_group, orders_per_part, seed
        )
        if np.array_equal(split[0], order_group):
            break
        order_group, tech_group = split
    order_group = _follow_pins(problem, order_group, tech_group)
    labels = sorted(set(order_group.tolist()) | set(tech_group.tolist()))
    return tuple(
        Part(
            label=f"{mode.value}-{g}",
            technicians=np.flatnonzero(tech_group == g).astype(np.int64),
            orders=np.flatnonzero(order_group == g).astype(np.int64),
        )
        for g in labels
    )


def sub_problem(problem: Problem, part: Part) -> Problem:
    """Return the part as a problem of its own, its matrices cut from the parent's."""
    n = len(problem.orders)
    tech_nodes = (
        n + NODES_PER_TECHNICIAN * part.technicians[:, None] + np.arange(NODES_PER_TECHNICIAN)
    )
    nodes = np.concatenate([part.orders, tech_nodes.ravel()]).astype(np.int64)
    cut = np.ix_(nodes, nodes)
    skills = {s for t in problem.technicians for s in t.skills} | set(problem.skill_catalog or ())
    return Problem(
        origin=problem.origin,
        technicians=tuple(problem.technicians[int(k)] for k in part.technicians),
        orders=tuple(problem.orders[int(i)] for i in part.orders),
        travel_s=np.ascontiguousarray(problem.travel_s[cut]),
        distance_m=None if problem.distance_m is None else problem.distance_m[cut],
        duration_factor_by_level=problem.duration_factor_by_level,
        skill_catalog=frozenset(skills),  # a skill held elsewhere is not a typo
    )


def _planar(problem: Problem) -> tuple[FloatArray, FloatArray]:
    """Order and technician-base positions in kilometres on a local equirectangular plane."""
    points = [o.location for o in problem.orders] + [t.start for t in problem.technicians]
    lonlat = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    mean_lat = np.radians(lonlat[:, 1].mean()) if len(lonlat) else 0.0
    xy = np.column_stack([lonlat[:, 0] * np.cos(mean_lat), lonlat[:, 1]]) * 111.195
    return xy[: len(problem.orders)], xy[len(problem.orders) :]


def _kmeans(xy: FloatArray, k: int, seed: int) -> tuple[IntArray, FloatArray]:
    """Seeded k-means (k-means++ start, Lloyd rounds); return labels and centres."""
    rng = np.random.default_rng(seed)
    centres = xy[[int(rng.integers(len(xy)))]] if len(xy) else np.zeros((1, 2))
    while len(centres) < k:
        d2 = ((xy[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2).min(axis=1)
        pick = rng.choice(len(xy), p=d2 / d2.sum()) if d2.sum() > 0 else int(rng.integers(len(xy)))
        centres = np.vstack([centres, xy[pick]])
    labels = np.zeros(len(xy), dtype=np.int64)
    for _ in range(KMEANS_ROUNDS):
        labels = ((xy[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
        moved = np.array([xy[labels == c].mean(axis=0) if (labels == c).any() else centres[c]
                          for c in range(k)])  # fmt: skip
        if np.allclose(moved, centres):
            break
        centres = moved
    return labels.astype(np.int64), centres


def _split_large(
    order_xy: FloatArray,
    tech_xy: FloatArray,
    capacity: FloatArray,
    order_group: IntArray,
    tech_group: IntArray,
    orders_per_part: int,
    seed: int,
) -> tuple[IntArray, IntArray]:
    """Cut every group above 1.5 parts into k-means clusters, sharing out its technicians.

    Dense city centres make k-means over the whole map uneven; cutting each oversized group
    on its own keeps parts near the target size, so no part dominates time and memory.
    """
    orders_out, techs_out = order_group.copy(), tech_group.copy()
    next_label = int(max(order_group.max(initial=0), tech_group.max(initial=0))) + 1
    for g in np.unique(order_group):
        members, crew = np.flatnonzero(order_group == g), np.flatnonzero(tech_group == g)
        k = min(-(-len(members) // orders_per_part), max(len(crew), 1))
        if len(members) <= 1.5 * orders_per_part or k < 2:
            continue
        labels, centres = _kmeans(order_xy[members], k, seed)
        counts = np.bincount(labels, minlength=k)
        crew_labels = _balanced_technicians(capacity[crew], tech_xy[crew], centres, counts)
        orders_out[members] = next_label + labels
        techs_out[crew] = next_label + crew_labels
        next_label += k
    return orders_out, techs_out


def _capacity_s(problem: Problem) -> FloatArray:
    """Working seconds each technician offers: open shift time, capped by max working time."""
    return np.asarray(
        [
            sum(min(s.end_s - s.start_s, t.max_working_s or s.end_s - s.start_s)
                for _, s in t.open_shifts())
            for t in problem.technicians
        ],
        dtype=np.float64,
    )  # fmt: skip


def _balanced_technicians(
    capacity: FloatArray, tech_xy: FloatArray, centres: FloatArray, orders_per_cluster: IntArray
) -> IntArray:
    """Give technicians to clusters nearest-first until each has its share of working time."""
    quota = capacity.sum() * orders_per_cluster / max(orders_per_cluster.sum(), 1)
    distance = np.sqrt(((tech_xy[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2))
    group = np.full(len(tech_xy), -1, dtype=np.int64)
    given = np.zeros(len(centres))
    for flat in np.argsort(distance, axis=None, kind="stable"):
        tech, cluster = divmod(int(flat), len(centres))
        if group[tech] < 0 and given[cluster] < quota[cluster]:
            group[tech], given[cluster] = cluster, given[cluster] + capacity[tech]
    unplaced = group < 0  # every quota met: the rest go to their nearest cluster
    group[unplaced] = distance[unplaced].argmin(axis=1)
    return group


def _region_groups(
    problem: Problem, order_xy: FloatArray, tech_xy: FloatArray, orders_per_part: int
) -> tuple[IntArray, IntArray]:
    """Group orders by region id (small regions joined to their nearest) and bases likewise."""
    names = sorted({o.region_id or "" for o in problem.orders})
    region_of = np.asarray([names.index(o.region_id or "") for o in problem.orders], dtype=np.int64)
    counts = np.bincount(region_of, minlength=len(names)).astype(np.int64)
    centres = np.asarray([order_xy[region_of == r].mean(axis=0) for r in range(len(names))])
    group = np.arange(len(names))
    for r in np.argsort(counts, kind="stable"):  # smallest first
        members = group == group[r]
        size = counts[members].sum()
        others = np.flatnonzero(group != group[r])
        if size >= orders_per_part // 2 or not len(others):
            continue
        d = np.sqrt(((centres[others] - centres[r]) ** 2).sum(axis=1))
        target = group[others[int(d.argmin())]]
        if size + counts[group == target].sum() <= orders_per_part * 1.5:
            group[members] = target
    order_group = group[region_of]
    part_centres = {g: order_xy[order_group == g].mean(axis=0) for g in set(order_group.tolist())}
    keys = sorted(part_centres)
    centre_array = np.asarray([part_centres[g] for g in keys])
    nearest = np.sqrt(((tech_xy[:, None, :] - centre_array[None, :, :]) ** 2).sum(axis=2))
    tech_group = np.asarray(keys, dtype=np.int64)[nearest.argmin(axis=1)]
    for k, tech in enumerate(problem.technicians):  # a territory decides over the base
        if tech.territory is not None:
            inside = np.asarray([o.region_id in tech.territory for o in problem.orders])
            if inside.any():
                tech_group[k] = np.bincount(order_group[inside]).argmax()
    return order_group.astype(np.int64), tech_group


def _follow_pins(problem: Problem, order_group: IntArray, tech_group: IntArray) -> IntArray:
    """Move orders pinned or locked to a technician into that technician's part."""
    tech_index = {t.id: k for k, t in enumerate(problem.technicians)}
    order_index = {o.id: i for i, o in enumerate(problem.orders)}
    moved = order_group.copy()
    for i, o in enumerate(problem.orders):
        if o.pinned_to is not None:
            moved[i] = tech_group[tech_index[o.pinned_to]]
    for k, t in enumerate(problem.technicians):
        for order_id in t.locked_stops:
            moved[order_index[order_id]] = tech_group[k]
    return moved
