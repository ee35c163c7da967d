"""A small dispatched day, made through the service's own API (no rows written by hand).

Four technicians (T-1 to T-4, air-con and plumbing) on a shift tomorrow, sixteen tickets in
central Shanghai, two of them needing ``solar`` (a skill nobody has, so the plan leaves them
out with a reason), a dispatch run applied, a GPS ping per technician, and one ticket of T-1's
taken through to confirmation so it is settled under the demo rate card.
"""

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from api.config import PROJECT_ROOT
from api.demo.client import DEMO_PHOTO

ZONE = ZoneInfo("Asia/Shanghai")
BASES = {
    "T-1": (121.4737, 31.2304),
    "T-2": (121.4450, 31.2200),
    "T-3": (121.5225, 31.2307),
    "T-4": (121.4300, 31.1900),
}
TICKET_PLACES = [(121.48 + 0.012 * (i % 4), 31.205 + 0.011 * (i // 4)) for i in range(14)]
SOLAR_PLACES = [(121.50, 31.26), (121.455, 31.245)]


@dataclass
class World:
    """What the seed made: the day, the tokens by caller, the tickets by role in the story."""

    day: date
    tokens: dict[str, str]
    ticket_ids: list[int] = field(default_factory=list)
    solar_ids: list[int] = field(default_factory=list)
    settled_id: int = 0
    run_id: int = 0
    plan: dict[str, Any] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        """Return the ``Authorization`` header of ``who`` (admin, dispatcher, T-1...)."""
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def local(day: date, hour: int, minute: int = 0) -> str:
    """Return an ISO 8601 instant at ``hour:minute`` in Shanghai on ``day``."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE).isoformat()


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, f"{response.request.url}: {response.text}"
    return response.json()


def seed(client: httpx.Client, tokens: dict[str, str], day: date) -> World:
    """Make the day through the API on ``client`` (a server with a fresh database)."""
    world = World(day=day, tokens=tokens)
    admin, staff = world.headers("admin"), world.headers("dispatcher")
    card = (PROJECT_ROOT / "data" / "rate_card.toml").read_bytes()
    _ok(client.post("/v1/rate-cards", content=card,
                    headers={**admin, "Content-Type": "application/toml"}))  # fmt: skip
    for n, (tech_id, base) in enumerate(BASES.items()):
        shift = {"day": day.isoformat(), "start_at": local(day, 8), "end_at": local(day, 19),
                 "breaks": []}  # fmt: skip
        body = {
            "id": tech_id,
            "name": ["张伟", "李娜", "王强", "刘洋"][n],
            "home_base": list(base),
            "skills": {"aircon": 3, "plumbing": 2} if n % 2 == 0 else {"aircon": 2},
            "max_orders": 6,
            "shifts": [shift],
        }
        _ok(client.post("/v1/technicians", json=body, headers=staff))
    for i, place in enumerate([*TICKET_PLACES, *SOLAR_PLACES]):
        is_solar = i >= len(TICKET_PLACES)
        body = {
            "external_id": f"SEED-{i:03d}",
            "type": "install" if i % 3 == 0 else "repair",
            "location": list(place),
            "address": f"上海市黄浦区测试路 {i + 1} 号",
            "duration_min": 45,
            "skills": {"solar": 1} if is_solar else {"aircon": 1},
            "time_windows": [[local(day, 9 + i % 6), local(day, 13 + i % 6)]],
            "priority": "urgent" if i % 7 == 0 else "normal",
            "customer": {"name": f"客户{i}", "phone": f"+86 138 0013 {8000 + i}"},
        }
        ticket = _ok(client.post("/v1/tickets", json=body, headers=staff))
        (world.solar_ids if is_solar else world.ticket_ids).append(ticket["id"])
    run = _ok(client.post(
        "/v1/dispatch/runs",
        json={"scope": {"ticket_ids": world.ticket_ids + world.solar_ids,
                        "date": day.isoformat()}, "time_limit_s": 1},
        headers=staff,
    ))  # fmt: skip
    world.run_id = run["id"]
    deadline = time.monotonic() + 60
    while (status := _ok(client.get(f"/v1/dispatch/runs/{run['id']}", headers=staff)))[
        "status"
    ] in {"queued", "running"}:
        assert time.monotonic() < deadline, "the dispatch run did not finish in 60 s"
        time.sleep(0.2)
    assert status["status"] == "succeeded", status
    world.plan = status["plan"]
    _ok(client.post(f"/v1/dispatch/runs/{run['id']}/apply", headers=staff))
    for tech_id, (lon, lat) in BASES.items():
        ping = {"pings": [{"location": [lon + 0.002, lat + 0.001], "recorded_at": just_now()}]}
        _ok(client.post(f"/v1/technicians/{tech_id}/locations", json=ping, headers=staff))
    world.settled_id = _complete_first_stop(client, world, "T-1")
    return world


def _complete_first_stop(client: httpx.Client, world: World, tech_id: str) -> int:
    """Take the first stop of ``tech_id``'s route through to the customer's confirmation."""
    route = next(r for r in world.plan["routes"] if r["technician_id"] == tech_id)
    ticket_id = int(route["stops"][0]["order_id"])
    tech = world.headers(tech_id)
    for status in ("dispatched", "en_route", "on_site"):
        who = world.headers("dispatcher") if status == "dispatched" else tech
        _ok(client.post(f"/v1/tickets/{ticket_id}/transitions", json={"to": status}, headers=who))
    procedure = _ok(client.get(f"/v1/tickets/{ticket_id}/procedure", headers=tech))
    for item in procedure["missing"]:  # the technician works the checklist, photos and all
        body = DEMO_PHOTO if item["photo_required"] else {}
        url = f"/v1/tickets/{ticket_id}/checklist/{item['item_id']}"
        _ok(client.put(url, json=body, headers=tech))
    done = {"to": "completed"}
    _ok(client.post(f"/v1/tickets/{ticket_id}/transitions", json=done, headers=tech))
    confirm = {
        "to": "confirmed",
        "rating": 5,
        "signature": {"signed_at": local(world.day, 11), "signer_name": "王女士"},
    }
    _ok(client.post(f"/v1/tickets/{ticket_id}/transitions", json=confirm, headers=tech))
    return ticket_id


def just_now() -> str:
    """Return an ISO 8601 instant a second ago (pings from the future are refused)."""
    return (datetime.now(ZONE) - timedelta(seconds=1)).isoformat()


def tomorrow() -> date:
    """Return tomorrow's date in Shanghai (a day the clock cannot clip)."""
    return (datetime.now(ZONE) + timedelta(days=1)).date()
