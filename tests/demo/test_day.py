"""The seeder and a short simulation, through the API of a live service on SpatiaLite."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from api.demo.city import FAST, city_day
from api.demo.client import DemoApi
from api.demo.reuse import busiest_technicians
from api.demo.seeder import seed_day
from api.demo.simulator import SimParams, Simulator
from tests.demo.conftest import Live


def _count(api: DemoApi, status: str) -> int:
    page = api.must("dispatcher", "GET", f"/v1/tickets?status={status}&limit=500")
    return len(page["items"])


def test_a_seeded_day_plays_into_settled_orders_pings_and_insertions(
    live: Live, api: DemoApi
) -> None:
    now = datetime.now(ZoneInfo(live.settings.timezone))
    city = city_day(now, FAST, seed=5)
    seeded = seed_day(api, city, now=now, settings=live.settings, time_limit_s=1.0)

    assert len(seeded.technicians) == FAST.technicians
    assert len(seeded.tickets) == FAST.orders  # every lead of an order converted
    assert seeded.leads_rejected == FAST.junk_leads
    assert seeded.run_ids and seeded.planned
    # The device's storm of one alarm opened one maintenance ticket and counted the rest on it.
    alarm = seeded.device_alarm
    assert alarm is not None and alarm.event_count == alarm.alarms - 2  # the third one fires
    incidents = api.must("integrator", "GET", f"/v1/devices/{alarm.device_id}/incidents")
    assert [i["ticket_id"] for i in incidents["items"]] == [alarm.ticket_id]
    maintenance = api.must("dispatcher", "GET", f"/v1/tickets/{alarm.ticket_id}")
    assert maintenance["type"] == "maintenance" and maintenance["skills"] == {"aircon": 1}
    # Three inquiries drafted by the model and confirmed as tickets, one with a correction.
    assert len(seeded.inquiry_tickets) == 3
    for confirmed in seeded.inquiry_tickets:
        inquiry = api.must("dispatcher", "GET", f"/v1/inquiries/{confirmed.inquiry_id}")
        assert inquiry["status"] == "confirmed" and inquiry["ticket_id"] == confirmed.ticket_id
        assert confirmed.ticket_type == confirmed.drafted_type
    corrected = api.must("dispatcher", "GET", f"/v1/tickets/{seeded.inquiry_tickets[2].ticket_id}")
    assert corrected["duration_min"] == 150
    in_force = api.must("admin", "GET", "/v1/rate-cards/in-force")
    assert in_force["card_id"] == "sh-sz-field-service"
    busiest = busiest_technicians(api, seeded.day)
    assert len(busiest) == 2 and set(busiest) <= set(seeded.technicians)
    settled_by_seed = _count(api, "settled")
    assert settled_by_seed == len(seeded.morning_done)

    params = SimParams(speed=None, step_s=120, seed=5, urgent_every_s=10 * 60, ping_every_s=600)
    sim = Simulator(api, seeded, start=now, end=now + timedelta(hours=4), params=params)
    stats = sim.run()

    assert api.error_count == 0, api.errors
    assert stats.transitions["confirmed"] > 0
    assert _count(api, "settled") == settled_by_seed + stats.transitions["confirmed"]
    assert stats.pings >= len(seeded.technicians)
    tech = api.must("dispatcher", "GET", "/v1/technicians/T0001")
    assert tech["current"] is not None
    assert stats.urgent_created > 0 and stats.urgent_inserted > 0
    inserted = [api.must("dispatcher", "GET", f"/v1/tickets/{i}") for i in stats.urgent_ids]
    assert any(t["technician_id"] for t in inserted)


def test_a_second_seed_of_the_same_day_is_refused_not_doubled(live: Live, api: DemoApi) -> None:
    """The orders' external ids carry the day: sending the same day twice adds nothing."""
    now = datetime.now(ZoneInfo(live.settings.timezone))
    before = len(api.must("dispatcher", "GET", "/v1/tickets?limit=500")["items"])
    city = city_day(now, FAST, seed=5)
    batch = {"tickets": [o.body for o in city.orders if o.lead is None]}
    response = api.call(
        "integrator", "POST", "/v1/tickets/batch", expect=frozenset({422}), json=batch
    )
    assert response is not None and response.status_code == 422
    assert "already exists" in response.text
    assert len(api.must("dispatcher", "GET", "/v1/tickets?limit=500")["items"]) == before


def test_another_day_reuses_the_technicians_and_adds_its_own_orders(
    live: Live, api: DemoApi
) -> None:
    """What ``make run`` does on a new day: same fleet (updated, new shifts), new orders."""
    now = datetime.now(ZoneInfo(live.settings.timezone))
    tomorrow = city_day(now + timedelta(days=1), FAST, seed=6)
    seeded = seed_day(api, tomorrow, now=now, settings=live.settings, time_limit_s=1.0)

    assert api.error_count == 0, api.errors
    assert len(seeded.tickets) == FAST.orders and not seeded.morning_done
    assert seeded.planned
    day = tomorrow.day.isoformat()
    shifts = api.must("dispatcher", "GET", f"/v1/technicians/T0001/shifts?first={day}&last={day}")
    assert len(shifts) == 1
    tech = api.must("dispatcher", "GET", "/v1/technicians/T0001")
    assert tech["skills"] == tomorrow.technicians[0]["skills"]
