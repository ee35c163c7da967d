"""Seed today's demo day through the service's own API.

In order: the demo rate card (when none is in force), technicians with shifts, lunch breaks and
territories, leads (some junk, the rest converted into tickets), work orders in batches, an
air conditioner at a customer's whose storm of one alarm opens one maintenance ticket, three
customers' inquiries drafted by the model and confirmed as tickets by the dispatcher, a late
job nobody took (for the escalation rules), the morning's work (orders whose windows closed
before now: assigned by hand, then taken through ``dispatched → en_route → on_site → completed
→ confirmed`` so they settle), a GPS ping per technician, and dispatch runs over the rest of
the day, applied. The optimiser plans from the service's clock, so the morning cannot be
planned by a run: it is assigned as a dispatcher would after the fact, each order to the
nearest free technician with the skills.
"""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from api.config import PROJECT_ROOT, Settings
from api.demo.city import CityDay, DemoOrder
from api.demo.client import DemoApi, DemoStepFailed
from geo.distance import haversine_m

RATE_CARD = PROJECT_ROOT / "data" / "rate_card.toml"
PRICE_LIST = PROJECT_ROOT / "data" / "price_list.toml"
MORNING_MARGIN = timedelta(minutes=30)  # an order closing this soon is done in the morning
Step = Callable[[str], None]


@dataclass
class DemoDay:
    """What the seed made and what the summary needs from it."""

    day: date
    technicians: dict[str, dict[str, Any]]
    tickets: dict[int, DemoOrder] = field(default_factory=dict)
    leads_created: int = 0
    leads_rejected: int = 0
    morning_done: list[int] = field(default_factory=list)
    morning_km: float = 0.0
    positions: dict[str, tuple[float, float]] = field(default_factory=dict)
    run_ids: list[int] = field(default_factory=list)
    planned: list[int] = field(default_factory=list)
    unassigned: Counter[str] = field(default_factory=Counter)
    device_alarm: "DeviceAlarm | None" = None
    inquiry_tickets: list["InquiryTicket"] = field(default_factory=list)
    late_ticket_id: int | None = None


@dataclass(frozen=True)
class DeviceAlarm:
    """The demo's alarm storm: the device, how many alarms it sent, the one ticket they opened."""

    device_id: int
    alarms: int
    incident_id: int
    ticket_id: int
    event_count: int


@dataclass(frozen=True)
class InquiryTicket:
    """A customer's inquiry the dispatcher confirmed as a ticket: the type drafted and kept."""

    inquiry_id: int
    ticket_id: int
    drafted_type: str
    ticket_type: str


def seed_day(
    api: DemoApi, city: CityDay, *, now: datetime, settings: Settings, time_limit_s: float,
    step: Step | None = None,
) -> DemoDay:  # fmt: skip
    """Make the day through ``api`` (a service with the demo regions and the demo keys)."""
    report = step or (lambda _: None)
    seeded = DemoDay(city.day, {str(t["id"]): t for t in city.technicians})
    report("rate card")
    ensure_rate_card(api)
    ensure_price_list(api)
    report(f"{len(city.technicians)} technicians")
    for body in city.technicians:
        _put_technician(api, body)
    report(f"{len(city.orders)} orders, leads first")
    _orders(api, city, seeded)
    report("a device alarm storm")
    seeded.device_alarm = _device_alarm(api, seeded, now)
    report(f"{len(DEMO_INQUIRIES)} inquiries drafted and confirmed as tickets")
    seeded.inquiry_tickets = _inquiries(api, city, now)
    report("a late job nobody took")
    seeded.late_ticket_id = _late_job(api, city, now)
    morning = [i for i, o in seeded.tickets.items() if o.closes_at <= now + MORNING_MARGIN]
    report(f"the morning: {len(morning)} orders done")
    seeded.positions = {t: _pair(b["home_base"]) for t, b in seeded.technicians.items()}
    _morning(api, seeded, morning, now)
    _pings(api, seeded, now)
    report("customer value tiers")
    api.must("admin", "POST", "/v1/customers/value-tiers/recompute")  # the run uses them
    rest = [i for i in seeded.tickets if i not in set(morning)]
    report(f"dispatch {len(rest)} orders")
    _dispatch(api, seeded, rest, settings, time_limit_s)
    return seeded


def ensure_rate_card(api: DemoApi) -> None:
    """Upload ``data/rate_card.toml`` unless a rate card is in force today."""
    found = api.call("admin", "GET", "/v1/rate-cards/in-force", expect=frozenset({404}))
    if found is not None and found.status_code == 200:
        return
    api.must("admin", "POST", "/v1/rate-cards", content=RATE_CARD.read_bytes(),
             headers={"Content-Type": "application/toml"})  # fmt: skip


def ensure_price_list(api: DemoApi) -> None:
    """Upload ``data/price_list.toml``, the customer prices every done ticket is billed by.

    Uploading the same version again is a no-op (200), so a reused day keeps its bills.
    """
    api.must("admin", "POST", "/v1/price-lists", content=PRICE_LIST.read_bytes(),
             headers={"Content-Type": "application/toml"})  # fmt: skip


PROFILE = ("name", "phone", "home_base", "skills", "territory", "max_orders", "capacity")


def _put_technician(api: DemoApi, body: dict[str, Any]) -> None:
    """Create the technician, or (a demo of another day) update them and add today's shift."""
    made = api.call("dispatcher", "POST", "/v1/technicians", json=body, expect=frozenset({409}))
    if made is not None and made.status_code == 409:
        path = f"/v1/technicians/{body['id']}"
        api.must("dispatcher", "PATCH", path, json={k: body[k] for k in PROFILE})
        api.must("dispatcher", "PUT", f"{path}/shifts", json={"shifts": body["shifts"]})
    elif made is None or made.status_code >= 400:
        raise DemoStepFailed(f"cannot create technician {body['id']}")


def _orders(api: DemoApi, city: CityDay, seeded: DemoDay) -> None:
    """Leads (junk ones rejected, new ones converted), then the rest as one ticket batch."""
    as_leads = [o for o in city.orders if o.lead is not None]
    leads = [o.lead for o in as_leads] + city.junk_leads
    not_converted: list[DemoOrder] = []
    if leads:
        result = api.must("integrator", "POST", "/v1/leads/batch", json={"leads": leads})
        seeded.leads_created = int(result["created"]) + int(result["merged"])
        seeded.leads_rejected = int(result["rejected"])
        for item, order in zip(result["results"], as_leads, strict=False):
            if item["outcome"] == "created":
                seeded.tickets[_convert(api, int(item["lead_id"]), order)] = order
            else:  # merged into a lead of the same person, or refused: the shop books it
                not_converted.append(order)
    tickets = [o for o in city.orders if o.lead is None] + not_converted
    if tickets:
        batch = api.must("integrator", "POST", "/v1/tickets/batch",
                         json={"tickets": [o.body for o in tickets]})  # fmt: skip
        for created, order in zip(batch["tickets"], tickets, strict=True):
            seeded.tickets[int(created["id"])] = order


ALARM_STORM = 6  # alarms of one fault code within a minute: the model's rule needs three


def _device_alarm(api: DemoApi, seeded: DemoDay, now: datetime) -> DeviceAlarm | None:
    """Install an air conditioner at a customer's and let it raise a storm of one alarm.

    The storm opens one maintenance ticket (the rest count on its incident). None when no
    order of the day names a customer to install it for.
    """
    for ticket_id in seeded.tickets:
        ticket = api.must("integrator", "GET", f"/v1/tickets/{ticket_id}")
        if ticket["customer"] is not None:
            break
    else:
        return None
    device = api.must("integrator", "POST", "/v1/devices", json={
        "external_id": f"demo-ac-{seeded.day.isoformat()}", "customer_id": ticket["customer"]["id"],
        "model": "AC-3000", "location": ticket["location"], "address": ticket["address"],
        "warranty_until": (seeded.day + timedelta(days=365)).isoformat(),
    })  # fmt: skip
    alarms = [{"kind": "alarm", "fault_code": "E4",
               "occurred_at": (now - timedelta(seconds=60 - 10 * i)).isoformat()}
              for i in range(ALARM_STORM)]  # fmt: skip
    posted = api.must("integrator", "POST", f"/v1/devices/{device['id']}/events",
                      json={"events": alarms})  # fmt: skip
    incident = api.must("integrator", "GET", f"/v1/devices/{device['id']}")["open_incidents"][0]
    return DeviceAlarm(device["id"], ALARM_STORM, posted["opened_incidents"][0],
                       incident["ticket_id"], incident["event_count"])  # fmt: skip


# What customers wrote (Chinese, English, both), who, and what the dispatcher changed of the
# draft before confirming it (None: confirmed as drafted).
DEMO_INQUIRIES: tuple[tuple[str, dict[str, str], dict[str, object] | None], ...] = (
    ("客厅空调不制冷，外机一直有异响，麻烦尽快派师傅上门看看。",  # noqa: RUF001 (as written)
     {"name": "陈女士", "phone": "+86 139 1000 0001"}, None),
    ("The water heater has been leaking under the tank since this morning, please send someone.",
     {"name": "Mr. Brown", "phone": "+86 139 1000 0002"}, None),
    ("想装一台新的热水器 and move the kitchen socket, 周末上午有空。",
     {"name": "刘先生", "phone": "+86 139 1000 0003"}, {"duration_min": 150}),
)  # fmt: skip


def _inquiries(api: DemoApi, city: CityDay, now: datetime) -> list[InquiryTicket]:
    """Send the demo's inquiries where three of the day's orders are; confirm each as a ticket.

    Keyed by the day, so a second seed of the day replays them; an inquiry confirmed before
    keeps its ticket.
    """
    confirmed = []
    window = [(now + timedelta(hours=2)).isoformat(), (now + timedelta(hours=5)).isoformat()]
    for n, ((text, contact, correction), order) in enumerate(
        zip(DEMO_INQUIRIES, city.orders, strict=False)
    ):
        key = {"Idempotency-Key": f"demo-inquiry-{city.day.isoformat()}-{n}"}
        body = {"text": text, "location": order.body["location"],
                "address": order.body["address"], "contact": contact}  # fmt: skip
        inquiry = api.must("integrator", "POST", "/v1/inquiries", json=body, headers=key)
        ticket_id = inquiry["ticket_id"]
        if ticket_id is None:
            changes = {"external_id": f"demo-inquiry-{city.day.isoformat()}-{n}",
                       "time_windows": [window], **(correction or {})}  # fmt: skip
            path = f"/v1/inquiries/{inquiry['id']}/confirm"
            ticket_id = api.must("dispatcher", "POST", path, json=changes)["ticket_id"]
        ticket = api.must("dispatcher", "GET", f"/v1/tickets/{ticket_id}")
        drafted = inquiry["draft"]["type"]["value"]
        confirmed.append(InquiryTicket(inquiry["id"], ticket_id, drafted, ticket["type"]))
    return confirmed


LATE_BY = timedelta(minutes=45)  # past the 30 minutes of data/escalation_rules.toml's overdue-30


def _late_job(api: DemoApi, city: CityDay, now: datetime) -> int | None:
    """Book a job promised for 45 minutes ago that nobody took; return its ticket id.

    The rules escalate it at their next pass (the region's supervisor is notified, the job goes
    urgent). The day's own orders mostly carry no deadline (only emergencies do), so without it
    a demo started early in the day would have nothing overdue. Keyed by the day, as the orders
    are; None when the day has no order to take a place and a customer from.
    """
    if not city.orders:
        return None
    order = city.orders[-1]
    body = {**{k: order.body[k] for k in ("type", "location", "address", "skills", "customer")},
            "external_id": f"demo-late-{city.day.isoformat()}", "duration_min": 60,
            "time_windows": [[(now - 2 * LATE_BY).isoformat(), (now + 2 * LATE_BY).isoformat()]],
            "sla_due_at": (now - LATE_BY).isoformat()}  # fmt: skip
    return int(api.must("integrator", "POST", "/v1/tickets", json=body)["id"])


CONVERT_FIELDS = ("type", "duration_min", "skills", "time_windows", "priority", "sla_due_at",
                  "external_id")  # fmt: skip


def _convert(api: DemoApi, lead_id: int, order: DemoOrder) -> int:
    body = {k: order.body[k] for k in CONVERT_FIELDS if k in order.body}
    converted = api.must("integrator", "POST", f"/v1/leads/{lead_id}/convert", json=body)
    return int(converted["ticket_id"])


def _morning(api: DemoApi, seeded: DemoDay, ticket_ids: list[int], now: datetime) -> None:
    """Assign each morning order to the nearest able technician and take it to confirmed."""
    load: Counter[str] = Counter()
    ordered = sorted(ticket_ids, key=lambda i: seeded.tickets[i].body["time_windows"][0][0])  # type: ignore[index]
    for n, ticket_id in enumerate(ordered):
        order = seeded.tickets[ticket_id]
        tech_id = _nearest_able(seeded, order, load)
        if tech_id is None:
            continue
        load[tech_id] += 1
        api.must("dispatcher", "POST", "/v1/dispatch/assignments", json={
            "ticket_id": ticket_id, "action": "assign", "technician_id": tech_id,
            "date": seeded.day.isoformat(), "force": True})  # fmt: skip
        path = f"/v1/tickets/{ticket_id}/transitions"
        for status in ("dispatched", "en_route", "on_site"):
            api.must("dispatcher", "POST", path, json={"to": status})
        api.work_checklist("dispatcher", ticket_id)
        api.must("dispatcher", "POST", path, json={"to": "completed"})
        customer = order.body["customer"]
        assert isinstance(customer, dict)
        api.must("dispatcher", "POST", path, json={
            "to": "confirmed", "rating": 5 if n % 4 else 4,
            "signature": {"signer_name": customer["name"],
                          "signed_at": (now - timedelta(minutes=1)).isoformat()}})  # fmt: skip
        lon, lat = _lonlat(order)
        here = seeded.positions[tech_id]
        seeded.morning_km += float(haversine_m(here[0], here[1], lon, lat)) / 1000
        seeded.positions[tech_id] = (lon, lat)
        seeded.morning_done.append(ticket_id)


def _nearest_able(seeded: DemoDay, order: DemoOrder, load: Counter[str]) -> str | None:
    needs = order.body["skills"]
    assert isinstance(needs, dict)
    lon, lat = _lonlat(order)
    able = [
        t for t, body in seeded.technicians.items()
        if all(body["skills"].get(s, 0) >= lvl for s, lvl in needs.items())
        and load[t] < max(1, int(body["max_orders"]) // 2)
    ]  # fmt: skip
    if not able:
        return None
    return min(able, key=lambda t: float(haversine_m(*seeded.positions[t], lon, lat)))


def _lonlat(order: DemoOrder) -> tuple[float, float]:
    return _pair(order.body["location"])


def _pair(value: Any) -> tuple[float, float]:
    """``[lon, lat]`` of a body as floats."""
    return float(value[0]), float(value[1])


def _pings(api: DemoApi, seeded: DemoDay, now: datetime) -> None:
    """One GPS fix per technician: where the morning left them (else their base)."""
    at = (now - timedelta(seconds=1)).isoformat()
    for tech_id, (lon, lat) in seeded.positions.items():
        api.must("dispatcher", "POST", f"/v1/technicians/{tech_id}/locations",
                 json={"pings": [{"location": [lon, lat], "recorded_at": at}]})  # fmt: skip


def _dispatch(
    api: DemoApi, seeded: DemoDay, ticket_ids: list[int], settings: Settings, time_limit_s: float
) -> None:
    """Submit runs over the open orders, at most ``dispatch_max_orders`` each, in turn."""
    limit = min(time_limit_s, settings.dispatch_max_time_limit_s)
    cap = settings.dispatch_max_orders
    if len(seeded.technicians) > settings.dispatch_max_technicians:
        raise DemoStepFailed(
            f"{len(seeded.technicians)} technicians exceed the service's cap of "
            f"{settings.dispatch_max_technicians} per run"
        )
    for first in range(0, len(ticket_ids), cap):
        chunk = ticket_ids[first : first + cap]
        run = api.must("dispatcher", "POST", "/v1/dispatch/runs", json={
            "scope": {"ticket_ids": chunk, "date": seeded.day.isoformat()},
            "time_limit_s": limit})  # fmt: skip
        done = _wait(api, int(run["id"]), limit)
        seeded.run_ids.append(int(run["id"]))
        applied = api.must("dispatcher", "POST", f"/v1/dispatch/runs/{run['id']}/apply")
        seeded.planned.extend(int(i) for i in applied["scheduled"])
        seeded.unassigned.update(u["reason"] for u in done["plan"]["unassigned"])


def _wait(api: DemoApi, run_id: int, limit_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + limit_s + 120
    while True:
        run: dict[str, Any] = api.must("dispatcher", "GET", f"/v1/dispatch/runs/{run_id}")
        if run["status"] == "succeeded":
            return run
        if run["status"] == "failed":
            raise DemoStepFailed(f"dispatch run {run_id} failed: {run['error']}")
        if time.monotonic() > deadline:
            raise DemoStepFailed(f"dispatch run {run_id} did not finish")
        time.sleep(0.2)
