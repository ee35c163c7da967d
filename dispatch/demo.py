"""A seeded, realistic day of field service on real places (the demo city's generator).

Technicians live near real places (metro stations, towns) and hold two to four skills from
a catalogue at levels 1-3; each works one shift with a lunch break, within limits on orders,
parts carried and, for some, a territory of nearby districts. Orders appear near real places
with a small jitter; their service type sets the duration, the skill level needed and the
parts carried; customers book a morning, an afternoon or a two-hour slot (sometimes two
windows); a few orders are emergencies, with an SLA deadline. Everything comes from one seeded
generator, so a seed always gives the same problem.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
from numpy.typing import NDArray

from dispatch.errors import InvalidField
from dispatch.model import (
    PRIORITY_SCALE,
    Break,
    Problem,
    Shift,
    Technician,
    TechnicianId,
    TimeWindow,
    WorkOrder,
    WorkOrderId,
)
from geo.distance import TravelTimeProvider, haversine_m

SKILL_CATALOG = ("aircon", "plumbing", "electrical", "appliance", "locks", "network")
SKILL_SHARE = (0.25, 0.2, 0.2, 0.2, 0.08, 0.07)  # how common each trade is among orders
LEVEL_SHARE = (0.5, 0.35, 0.15)  # technicians at levels 1, 2, 3
DURATION_FACTOR_BY_LEVEL = {1: 1.0, 2: 0.9, 3: 0.8}
HOUR_S = 3600
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
DEFAULT_ORIGIN = datetime(2026, 11, 23, tzinfo=SHANGHAI)


@dataclass(frozen=True, slots=True)
class ServiceType:
    """A kind of job: duration range (minutes), minimum skill level and parts carried."""

    name: str
    share: float
    duration_min: tuple[int, int]
    min_level: int
    demand: tuple[int, int]


SERVICE_TYPES = (
    ServiceType("install", 0.2, (90, 150), 2, (2, 5)),
    ServiceType("repair", 0.4, (45, 90), 1, (1, 2)),
    ServiceType("maintenance", 0.25, (40, 60), 1, (0, 1)),
    ServiceType("inspection", 0.15, (20, 40), 1, (0, 0)),
)
# Booking slots as (start hour, end hour) of the start of service, local time.
MORNING, AFTERNOON = (8, 12), (13, 17)
TWO_HOUR_SLOTS = ((8, 10), (10, 12), (13, 15), (15, 17))


@dataclass(frozen=True, slots=True)
class Places:
    """Real places to draw locations from: parallel arrays of lon, lat and district id."""

    lons: NDArray[np.float64]
    lats: NDArray[np.float64]
    district_ids: NDArray[np.str_]

    def __post_init__(self) -> None:
        if not len(self.lons) or not len(self.lons) == len(self.lats) == len(self.district_ids):
            raise InvalidField("places need equally long, non-empty lons, lats and district ids")


@dataclass(frozen=True, slots=True)
class DemoParams:
    """Size and shape of the generated day.

    Parameters
    ----------
    n_technicians, n_orders
        Fleet and job count.
    seed
        Seed of every random choice.
    origin
        Local midnight of the day; all times count from it.
    jitter_m
        Standard deviation of the distance between a location and its real place.
    territory_share
        Share of technicians limited to the districts within ``territory_radius_m``.
    emergency_share, two_window_share
        Share of emergency orders (SLA two hours after opening; a share of the rest is
        urgent) and of orders offering two windows. Priorities follow ``PRIORITY_SCALE``.
    shift_hours
        Local hours of the usual shift; a quarter of the technicians start an hour later.
    has_lunch_breaks
        Whether shifts carry a 45-minute lunch break (starting 3.5-5.5 hours in).
    """

    n_technicians: int
    n_orders: int
    seed: int = 0
    origin: datetime = DEFAULT_ORIGIN
    jitter_m: float = 400.0
    territory_share: float = 0.2
    territory_radius_m: float = 15_000.0
    emergency_share: float = 0.05
    two_window_share: float = 0.15
    shift_hours: tuple[int, int] = (8, 18)
    has_lunch_breaks: bool = True

    def __post_init__(self) -> None:
        if self.n_technicians < 1 or self.n_orders < 0:
            raise InvalidField("a demo needs at least one technician and no negative order count")
        for name in ("territory_share", "emergency_share", "two_window_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InvalidField(f"{name} must be within 0..1", field=name)


def demo_problem(places: Places, provider: TravelTimeProvider, params: DemoParams) -> Problem:
    """Generate a day of technicians and orders on ``places``; same seed, same problem."""
    rng = np.random.default_rng(params.seed)
    technicians = _technicians(rng, places, params)
    orders = _orders(rng, places, params)
    return Problem.with_travel_times(
        params.origin, technicians, orders, provider,
        duration_factor_by_level=DURATION_FACTOR_BY_LEVEL, skill_catalog=frozenset(SKILL_CATALOG),
    )  # fmt: skip


def _near_places(
    rng: np.random.Generator, places: Places, n: int, jitter_m: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Draw ``n`` places and jitter them; return lons, lats and the place drawn."""
    picked = rng.integers(0, len(places.lons), n)
    north_m, east_m = rng.normal(0.0, jitter_m, (2, n))
    lats = places.lats[picked] + north_m / 111_195.0
    lons = places.lons[picked] + east_m / (111_195.0 * np.cos(np.radians(places.lats[picked])))
    return np.round(lons, 6), np.round(lats, 6), picked


def _technicians(
    rng: np.random.Generator, places: Places, params: DemoParams
) -> tuple[Technician, ...]:
    n = params.n_technicians
    lons, lats, _ = _near_places(rng, places, n, params.jitter_m * 3)
    first, last = params.shift_hours
    shift_start = first * HOUR_S + rng.choice([0, 0, 0, HOUR_S], n)  # a quarter start an hour late
    n_skills = rng.choice([2, 3, 4], n, p=[0.4, 0.4, 0.2])
    limited = rng.random(n) < params.territory_share
    technicians = []
    for k in range(n):
        skills = rng.choice(len(SKILL_CATALOG), n_skills[k], replace=False, p=SKILL_SHARE)
        levels = rng.choice([1, 2, 3], n_skills[k], p=LEVEL_SHARE)
        start_s = int(shift_start[k])
        end_s = start_s + (last - first) * HOUR_S
        lunch = Break(start_s + 3 * HOUR_S + 1800, start_s + 5 * HOUR_S + 1800, 45 * 60)
        technicians.append(
            Technician(
                id=TechnicianId(f"T{k + 1:04d}"), start=(float(lons[k]), float(lats[k])),
                shifts=(Shift(start_s, end_s, (lunch,) if params.has_lunch_breaks else ()),),
                skills={SKILL_CATALOG[s]: int(lvl) for s, lvl in zip(skills, levels, strict=True)},
                max_orders=int(rng.integers(7, 13)), capacity=int(rng.integers(12, 25)),
                max_working_s=int(rng.integers(8, 10)) * HOUR_S,
                territory=_territory(places, lons[k], lats[k], params) if limited[k] else None,
            )
        )  # fmt: skip
    return tuple(technicians)


def _territory(places: Places, lon: float, lat: float, params: DemoParams) -> frozenset[str]:
    """Districts with a place within the territory radius of a base (its own included)."""
    near = haversine_m(lon, lat, places.lons, places.lats) <= params.territory_radius_m
    nearest = int(np.argmin(haversine_m(lon, lat, places.lons, places.lats)))
    return frozenset(str(d) for d in places.district_ids[near]) | {
        str(places.district_ids[nearest])
    }


def _orders(rng: np.random.Generator, places: Places, params: DemoParams) -> tuple[WorkOrder, ...]:
    n = params.n_orders
    lons, lats, picked = _near_places(rng, places, n, params.jitter_m)
    kinds = rng.choice(len(SERVICE_TYPES), n, p=[s.share for s in SERVICE_TYPES])
    skills = rng.choice(len(SKILL_CATALOG), n, p=SKILL_SHARE)
    emergency = rng.random(n) < params.emergency_share
    urgent = ~emergency & (rng.random(n) < 0.15)
    orders = []
    for i in range(n):
        kind = SERVICE_TYPES[kinds[i]]
        skill = SKILL_CATALOG[skills[i]]
        required = {skill: kind.min_level + int(rng.random() < 0.1)}
        if kind.name == "install" and skill == "aircon":
            required["electrical"] = 1  # an aircon install wires a new circuit
        windows = _windows(rng, params, is_emergency=bool(emergency[i]))
        sla = windows[0].start_s + 2 * HOUR_S if emergency[i] else None
        orders.append(
            WorkOrder(
                id=WorkOrderId(f"O{i + 1:05d}"), location=(float(lons[i]), float(lats[i])),
                duration_s=int(rng.integers(*kind.duration_min, endpoint=True)) * 60,
                required_skills=required, windows=windows,
                priority=_priority(emergency=bool(emergency[i]), urgent=bool(urgent[i])),
                sla_deadline_s=sla,
                demand=int(rng.integers(*kind.demand, endpoint=True)),
                region_id=str(places.district_ids[picked[i]]),
            )
        )  # fmt: skip
    return tuple(orders)


def _priority(*, emergency: bool, urgent: bool) -> int:
    name = "emergency" if emergency else "urgent" if urgent else "normal"
    return PRIORITY_SCALE[name]


def _windows(
    rng: np.random.Generator, params: DemoParams, *, is_emergency: bool
) -> tuple[TimeWindow, ...]:
    """Booked windows on the start of service: emergency orders take any time of the day."""
    if is_emergency:
        first, last = params.shift_hours
        return (TimeWindow(first * HOUR_S, (last - 1) * HOUR_S),)
    draw = rng.random()
    slots: list[tuple[int, int]]
    if draw < 0.4:
        slots = [MORNING]
    elif draw < 0.8:
        slots = [AFTERNOON]
    else:
        slots = [TWO_HOUR_SLOTS[int(rng.integers(len(TWO_HOUR_SLOTS)))]]
    if rng.random() < params.two_window_share:
        later = [s for s in TWO_HOUR_SLOTS if s[0] > slots[0][1]]
        if later:
            slots.append(later[int(rng.integers(len(later)))])
    return tuple(TimeWindow(a * HOUR_S, b * HOUR_S) for a, b in slots)
