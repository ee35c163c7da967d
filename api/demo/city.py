"""Today's demo day as API bodies, drawn by ``dispatch.demo``'s generator on the real places.

The generator counts seconds from a local "midnight"; the demo puts that origin on today's
local midnight when the clock reads 10:00-12:59, and otherwise moves the
whole day by whole hours (at most 8 earlier, 11 later) so that "now" falls at about noon of the
working day and there is always a morning behind and an afternoon ahead.
"""

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from api.cli.dispatching import PLACES_FILE, load_places
from api.datafiles import read_json
from dispatch.demo import DemoParams, Places, demo_problem
from dispatch.model import Problem, Technician, WorkOrder
from geo.distance import HaversineTravelTime, haversine_m

PERSONS = "张王李赵刘陈杨黄周吴徐孙马朱胡郭何林罗高"
GIVEN = ("伟", "芳", "娜", "敏", "静", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超")
CHANNELS = ("web_form", "ads", "social", "partner", "offline_event")


@dataclass(frozen=True, slots=True)
class DaySize:
    """How big a demo day is: fleet, orders, and the share of orders that start as leads."""

    technicians: int = 24
    orders: int = 120
    lead_share: float = 0.3
    junk_leads: int = 6

    def __post_init__(self) -> None:
        if self.technicians < 2 or self.orders < 1:
            raise ValueError("a demo day needs at least two technicians and one order")
        if not 0.0 <= self.lead_share <= 1.0:
            raise ValueError("lead_share must be within 0..1")


FAST = DaySize(technicians=8, orders=40, junk_leads=3)
FULL = DaySize()


@dataclass(frozen=True, slots=True)
class DemoOrder:
    """One work order: its ticket body, and the lead it starts as (``None``: sent as a ticket)."""

    body: dict[str, object]
    lead: dict[str, object] | None
    closes_at: datetime  # end of its last time window


@dataclass(frozen=True, slots=True)
class CityDay:
    """What the seeder sends: technicians, orders and junk leads, for ``day``."""

    day: date
    origin: datetime
    technicians: list[dict[str, object]]
    orders: list[DemoOrder]
    junk_leads: list[dict[str, object]]


def day_origin(now: datetime) -> datetime:
    """Return the local instant the generator counts from (see the module docstring)."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    hour = now.hour
    offset = 0 if 10 <= hour < 13 else min(max(hour - 12, -8), 11)
    return midnight + timedelta(hours=offset)


def city_day(
    now: datetime, size: DaySize, *, seed: int, places_file: Path = PLACES_FILE
) -> CityDay:
    """Generate the day around ``now`` (timezone-aware, local) with ``seed``."""
    zone = now.tzinfo
    assert isinstance(zone, ZoneInfo), "now must carry a ZoneInfo"
    origin = day_origin(now)
    places = load_places(places_file)
    names = _place_names(places_file)
    params = DemoParams(size.technicians, size.orders, seed=seed, origin=origin)
    problem = demo_problem(places, HaversineTravelTime(), params)
    day = now.date()
    rng = np.random.default_rng([seed, day.toordinal()])  # customers differ from day to day
    technicians = [_technician(t, problem, day, rng) for t in problem.technicians]
    tag = f"demo-{day.isoformat()}"
    orders = [
        _order(
            o, problem, (places, names), rng, tag=tag, as_lead=bool(rng.random() < size.lead_share)
        )
        for o in problem.orders
    ]
    junk = [_junk_lead(i, rng, tag) for i in range(size.junk_leads)]
    return CityDay(day, origin, technicians, _returning_customers(orders, tag), junk)


def _at(problem: Problem, seconds: int) -> str:
    return (problem.origin + timedelta(seconds=seconds)).isoformat()


def _name(rng: np.random.Generator) -> str:
    return str(rng.choice(list(PERSONS))) + "".join(rng.choice(GIVEN, int(rng.integers(1, 3))))


MOBILE_PREFIXES = ("135", "136", "137", "138", "139", "150", "151", "158", "159", "186", "188")


def _phone(rng: np.random.Generator) -> str:
    prefix = str(rng.choice(MOBILE_PREFIXES))
    return f"+86 {prefix} {rng.integers(1000, 10000)} {rng.integers(1000, 10000)}"


def _technician(
    tech: Technician, problem: Problem, day: date, rng: np.random.Generator
) -> dict[str, object]:
    shift = tech.shifts[0]
    breaks = [
        {"earliest_start_at": _at(problem, b.earliest_start_s),
         "latest_start_at": _at(problem, b.latest_start_s), "duration_min": b.duration_s // 60}
        for b in shift.breaks
    ]  # fmt: skip
    return {
        "id": tech.id, "name": _name(rng), "phone": _phone(rng), "home_base": list(tech.start),
        "skills": dict(tech.skills), "max_orders": tech.max_orders, "capacity": tech.capacity,
        "territory": sorted(tech.territory) if tech.territory is not None else None,
        "shifts": [{"day": day.isoformat(), "start_at": _at(problem, shift.start_s),
                    "end_at": _at(problem, shift.end_s), "breaks": breaks}],
    }  # fmt: skip


def _place_names(path: Path) -> list[str]:
    features = read_json(path)["features"]
    return [str(f["properties"].get("name") or "") for f in features]


def _address(
    places: tuple[Places, list[str]], lon: float, lat: float, rng: np.random.Generator
) -> str:
    where, names = places
    nearest = int(np.argmin(haversine_m(lon, lat, where.lons, where.lats)))
    room = f"{rng.integers(1, 30)}0{rng.integers(1, 5)}"
    return f"{names[nearest] or '上海'}附近 {rng.integers(1, 400)} 号 {room} 室"


def _order(
    order: WorkOrder, problem: Problem, places: tuple[Places, list[str]], rng: np.random.Generator,
    *, tag: str, as_lead: bool,
) -> DemoOrder:  # fmt: skip
    windows = [[_at(problem, w.start_s), _at(problem, w.end_s)] for w in order.windows]
    kind = _kind_of(order)
    name = _name(rng)
    body: dict[str, object] = {
        "external_id": f"{tag}-{order.id}", "type": kind, "location": list(order.location),
        "address": _address(places, *order.location, rng),
        "duration_min": max(1, order.duration_s // 60), "skills": dict(order.required_skills),
        "time_windows": windows, "priority": "urgent" if order.priority >= 2 else "normal",
        "customer": {"name": name, "phone": _phone(rng)}, "demand": order.demand,
    }  # fmt: skip
    if order.sla_deadline_s is not None:
        body["sla_due_at"] = _at(problem, order.sla_deadline_s)
    closes_at = problem.origin + timedelta(seconds=max(w.end_s for w in order.windows))
    if not as_lead:
        return DemoOrder(body, None, closes_at)
    customer = body["customer"]
    assert isinstance(customer, dict)
    lead = {
        "external_id": f"{tag}-lead-{order.id}", "channel": str(rng.choice(CHANNELS)),
        "campaign": "winter-service-2026", "name": customer["name"], "phone": customer["phone"],
        "address": body["address"], "location": body["location"],
        "product_line": next(iter(order.required_skills)),
    }  # fmt: skip
    return DemoOrder(body, lead, closes_at)


def _returning_customers(orders: list[DemoOrder], tag: str) -> list[DemoOrder]:
    """Give a few customers histories across channels (no draws: the rest of the day is kept).

    The first lead's person (a web form) books again, the phone spelled otherwise: linked at
    once. A member orders on a marketplace and calls again from another phone with the
    member id: linked at once. Someone else gives the member's phone under their own name:
    a probable duplicate, offered for merge with its evidence.
    """
    leads = [i for i, o in enumerate(orders) if o.lead is not None]
    plain = [i for i, o in enumerate(orders) if o.lead is None]
    if not leads or len(plain) < 4:
        return orders
    result = list(orders)
    first_lead = result[leads[0]]
    assert first_lead.lead is not None
    result[leads[0]] = replace(first_lead, lead={**first_lead.lead, "channel": "web_form"})
    person = _customer_of(first_lead)
    respelled = str(person["phone"]).removeprefix("+86 ").replace(" ", "-")
    result[plain[0]] = _with_customer(
        result[plain[0]], {"name": person["name"], "phone": respelled}
    )
    member = {**_customer_of(result[plain[1]]), "member_id": f"{tag}-member-1",
              "marketplace_buyer_id": f"{tag}-tmall-1"}  # fmt: skip
    result[plain[1]] = _with_customer(result[plain[1]], member)
    other_phone = {**_customer_of(result[plain[2]]), "name": member["name"],
                   "member_id": member["member_id"]}  # fmt: skip
    result[plain[2]] = _with_customer(result[plain[2]], other_phone)
    shared_phone = {**_customer_of(result[plain[3]]), "phone": member["phone"]}
    result[plain[3]] = _with_customer(result[plain[3]], shared_phone)
    return result


def _customer_of(order: DemoOrder) -> dict[str, object]:
    customer = order.body["customer"]
    assert isinstance(customer, dict)
    return customer


def _with_customer(order: DemoOrder, customer: dict[str, object]) -> DemoOrder:
    return replace(order, body={**order.body, "customer": customer})


def _kind_of(order: WorkOrder) -> str:
    """Guess the generator's service type back from duration and demand (it does not keep it)."""
    minutes, level = order.duration_s // 60, max(order.required_skills.values(), default=1)
    if level >= 2 and minutes >= 90:
        return "install"
    if order.demand == 0 and minutes <= 40:
        return "inspection"
    return "maintenance" if order.demand <= 1 and minutes <= 60 else "repair"


def _junk_lead(i: int, rng: np.random.Generator, tag: str) -> dict[str, object]:
    """Return a lead the cleaning rejects (no contact, or a test number)."""
    junk: dict[str, object] = {"external_id": f"{tag}-junk-{i}", "channel": "web_form",
                               "name": "test"}  # fmt: skip
    if i % 2:
        junk["phone"] = "12345"
    return junk
