"""Play the rest of the demo day through the API on an accelerated clock.

Each tick moves the simulated clock by ``step_s`` and, unless the speed is ``None`` (as fast as
the service answers), waits ``step_s / speed`` real seconds. Technicians follow their applied
routes (``GET /v1/technicians/{id}/route``): a stop is dispatched and set off when the previous
one ends, reached at its planned arrival and finished at its planned end, then confirmed by the
customer (so it settles); a few are cancelled before anyone sets off, a few fail on site. On the
way each technician sends a GPS ping (recorded now, in real time) every ``ping_every_s``.
Urgent orders arrive now and then and are inserted into the plan (``POST /v1/dispatch/insert``).
An API error is logged and counted, never raised.
"""

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from api.demo.client import DemoApi
from api.demo.seeder import DemoDay
from geo.distance import haversine_m

OPEN = ("scheduled", "dispatched", "en_route", "on_site")
NOT_PLACED = frozenset({404, 409, 422})  # an urgent order the plan cannot take


@dataclass(frozen=True, slots=True)
class SimParams:
    """How the day plays: clock speed (``None``: no waiting), tick, events and their seed."""

    speed: float | None = 60.0
    step_s: int = 60
    seed: int = 0
    ping_every_s: int = 120
    urgent_every_s: int = 45 * 60
    cancel_share: float = 0.03
    fail_share: float = 0.03
    route_refresh_s: int = 15 * 60

    def __post_init__(self) -> None:
        if self.speed is not None and not self.speed > 0:
            raise ValueError("speed must be above 0")
        if self.step_s < 1 or self.ping_every_s < 1 or self.urgent_every_s < 1:
            raise ValueError("step_s, ping_every_s and urgent_every_s must be positive")
        if not (0 <= self.cancel_share <= 1 and 0 <= self.fail_share <= 1):
            raise ValueError("cancel_share and fail_share must be within 0..1")


@dataclass
class SimStats:
    """What the simulation did; ``on_time`` counts arrivals within a window of the ticket."""

    transitions: Counter[str] = field(default_factory=Counter)
    pings: int = 0
    km: float = 0.0
    on_time: int = 0
    late: int = 0
    urgent_created: int = 0
    urgent_inserted: int = 0
    urgent_refused: Counter[str] = field(default_factory=Counter)
    urgent_ids: list[int] = field(default_factory=list)
    clock: datetime | None = None


@dataclass
class _Tech:
    id: str
    here: tuple[float, float]
    stops: list[dict[str, Any]] = field(default_factory=list)
    leg_from: tuple[float, float] | None = None
    last_ping_s: float = -1e9
    is_stale: bool = True


class Simulator:
    """The rest of ``seeded``'s day from ``start`` to ``end`` (aware datetimes)."""

    def __init__(
        self, api: DemoApi, seeded: DemoDay, *, start: datetime, end: datetime, params: SimParams
    ) -> None:
        self.api, self.seeded, self.params = api, seeded, params
        self.start, self.end = start, end
        self.rng = random.Random(params.seed)
        self.stats = SimStats(clock=start)
        self.techs = {t: _Tech(t, seeded.positions.get(t, _base(b))) for t, b in
                      seeded.technicians.items()}  # fmt: skip
        self._next_urgent = start + self._urgent_gap()
        self._urgent_n = 0
        self._last_refresh = start

    def run(
        self,
        stop: threading.Event | None = None,
        on_tick: Callable[[datetime, SimStats], None] | None = None,
    ) -> SimStats:
        """Tick until the day ends or ``stop`` is set; return the figures."""
        stop = stop or threading.Event()
        now = self.start
        while now <= self.end and not stop.is_set():
            began = time.monotonic()
            self.tick(now)
            if on_tick is not None:
                on_tick(now, self.stats)
            now += timedelta(seconds=self.params.step_s)
            if self.params.speed is not None:
                stop.wait(
                    max(0.0, self.params.step_s / self.params.speed - (time.monotonic() - began))
                )
        return self.stats

    def tick(self, now: datetime) -> None:
        """Advance every technician and the urgent arrivals to ``now`` (simulated)."""
        self.stats.clock = now
        if now - self._last_refresh >= timedelta(seconds=self.params.route_refresh_s):
            self._last_refresh = now
            for tech in self.techs.values():
                tech.is_stale = True
        if now >= self._next_urgent and now < self.end - timedelta(hours=2):
            self._urgent(now)
            self._next_urgent = now + self._urgent_gap()
        for tech in self.techs.values():
            if tech.is_stale:
                self._load_route(tech)
            self._advance(tech, now)
            self._ping(tech, now)

    def _urgent_gap(self) -> timedelta:
        return timedelta(seconds=self.rng.expovariate(1 / self.params.urgent_every_s))

    def _load_route(self, tech: _Tech) -> None:
        path = f"/v1/technicians/{tech.id}/route?day={self.seeded.day.isoformat()}"
        got = self.api.call("dispatcher", "GET", path)
        if got is None or got.status_code != 200:
            return
        stops = [s for s in got.json()["stops"] if s["sequence"] is not None]
        tech.stops = sorted(stops, key=lambda s: s["sequence"])
        tech.is_stale = False

    def _advance(self, tech: _Tech, now: datetime) -> None:
        """Take the technician's current stop as far as ``now`` allows, then the next ones."""
        for _ in range(12):  # a few steps per tick at most; the rest waits for the next one
            stop = next((s for s in tech.stops if s["status"] in OPEN), None)
            if stop is None or not self._step(tech, stop, now):
                return

    def _step(self, tech: _Tech, stop: dict[str, Any], now: datetime) -> bool:
        """Make the one move that is due on ``stop``; return whether one was made."""
        status, eta, end = stop["status"], _t(stop["eta_at"]), _t(stop["end_at"])
        leave = eta - timedelta(minutes=20)
        previous = [s for s in tech.stops if s["sequence"] < stop["sequence"] and s["end_at"]]
        if previous:
            leave = min(eta, _t(previous[-1]["end_at"]))
        if status == "scheduled" and now >= leave:
            if self.rng.random() < self.params.cancel_share:
                return self._move(stop, "cancelled", note="customer cancelled")
            tech.leg_from = tech.here
            return self._move(stop, "dispatched") and self._move(stop, "en_route")
        if status == "dispatched" and now >= leave:
            tech.leg_from = tech.here
            return self._move(stop, "en_route")
        if status == "en_route" and now >= eta:
            here = (float(stop["location"][0]), float(stop["location"][1]))
            self.stats.km += float(haversine_m(*(tech.leg_from or tech.here), *here)) / 1000
            tech.here, tech.leg_from = here, None
            self._count_on_time(stop, now)
            return self._move(stop, "on_site")
        if status == "on_site" and now >= end:
            if self.rng.random() < self.params.fail_share:
                return self._move(stop, "failed", note="customer not at home")
            self.api.work_checklist("dispatcher", int(stop["ticket_id"]))
            return self._move(stop, "completed") and self._confirm(stop)
        if status == "en_route" and tech.leg_from is not None:  # on the way: move the marker
            share = min(1.0, max(0.0, (now - leave) / max(eta - leave, timedelta(seconds=1))))
            (x0, y0), (x1, y1) = tech.leg_from, stop["location"]
            tech.here = (round(x0 + (x1 - x0) * share, 6), round(y0 + (y1 - y0) * share, 6))
        return False

    def _count_on_time(self, stop: dict[str, Any], now: datetime) -> None:
        windows = stop["time_windows"]
        if not windows or any(_t(a) <= now <= _t(b) for a, b in windows):
            self.stats.on_time += 1
        else:
            self.stats.late += 1

    def _move(self, stop: dict[str, Any], to: str, note: str | None = None) -> bool:
        body: dict[str, Any] = {"to": to} | ({"note": note} if note else {})
        got = self.api.call("dispatcher", "POST", f"/v1/tickets/{stop['ticket_id']}/transitions",
                            json=body)  # fmt: skip
        if got is None or got.status_code >= 400:
            stop["status"] = "unknown"  # leave it; the next route refresh tells what it is
            return False
        stop["status"] = to
        self.stats.transitions[to] += 1
        return True

    def _confirm(self, stop: dict[str, Any]) -> bool:
        signed = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        rating = self.rng.choice((5, 5, 5, 4, 4, 3))
        body = {"to": "confirmed", "rating": rating,
                "signature": {"signer_name": "客户", "signed_at": signed}}  # fmt: skip
        got = self.api.call("dispatcher", "POST", f"/v1/tickets/{stop['ticket_id']}/transitions",
                            json=body)  # fmt: skip
        if got is None or got.status_code >= 400:
            return False
        stop["status"] = "confirmed"
        self.stats.transitions["confirmed"] += 1
        return True

    def _ping(self, tech: _Tech, now: datetime) -> None:
        sim_s = (now - self.start).total_seconds()
        if sim_s - tech.last_ping_s < self.params.ping_every_s:
            return
        tech.last_ping_s = sim_s
        at = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        body = {"pings": [{"location": list(tech.here), "recorded_at": at, "accuracy_m": 8.0}]}
        got = self.api.call("dispatcher", "POST", f"/v1/technicians/{tech.id}/locations", json=body)
        if got is not None and got.status_code < 400:
            self.stats.pings += 1

    def _urgent(self, now: datetime) -> None:
        """Take a customer's call: an urgent order near a technician, inserted into the plan."""
        tech = self.techs[self.rng.choice(sorted(self.techs))]
        skills = self.seeded.technicians[tech.id]["skills"]
        skill = self.rng.choice(sorted(skills))
        lon = round(tech.here[0] + self.rng.uniform(-0.03, 0.03), 6)
        lat = round(tech.here[1] + self.rng.uniform(-0.03, 0.03), 6)
        self._urgent_n += 1
        body = {
            "external_id": f"demo-{self.seeded.day.isoformat()}-urgent-"
                           f"{datetime.now(UTC):%H%M%S}-{self._urgent_n:03d}",
            "type": "repair", "location": [lon, lat], "address": "紧急报修 (demo)",
            "duration_min": self.rng.choice((30, 45, 60)), "skills": {skill: 1},
            "time_windows": [[now.isoformat(), (now + timedelta(hours=3)).isoformat()]],
            "priority": "urgent", "sla_due_at": (now + timedelta(hours=3)).isoformat(),
            "customer": {"name": "急修客户", "phone": "+86 138 0013 8000"},
        }  # fmt: skip
        made = self.api.call("integrator", "POST", "/v1/tickets", json=body)
        if made is None or made.status_code >= 400:
            return
        self.stats.urgent_created += 1
        ticket_id = made.json()["id"]
        self.stats.urgent_ids.append(ticket_id)
        insert = {"ticket_id": ticket_id, "date": self.seeded.day.isoformat()}
        got = self.api.call(
            "dispatcher", "POST", "/v1/dispatch/insert", expect=NOT_PLACED, json=insert
        )
        if got is None:
            return
        if got.status_code >= 400:
            code = got.json().get("error", {}).get("code", str(got.status_code))
            self.stats.urgent_refused[code] += 1
            return
        self.stats.urgent_inserted += 1
        self.techs[got.json()["technician_id"]].is_stale = True


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _base(body: dict[str, Any]) -> tuple[float, float]:
    lon, lat = body["home_base"]
    return float(lon), float(lat)


def day_end(seeded: DemoDay) -> datetime:
    """Return the end of the last shift of the day, plus half an hour."""
    ends = [_t(t["shifts"][0]["end_at"]) for t in seeded.technicians.values()]
    return max(ends) + timedelta(minutes=30)
