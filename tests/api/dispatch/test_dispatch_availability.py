"""Availability: slots a prospective ticket can be promised, with or without an applied plan."""

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.config import Settings
from tests.api.dispatch.support import (
    add_technician,
    add_ticket,
    applied_day,
    at,
    submit,
    wait_for,
)

Headers = dict[str, dict[str, str]]


def ask(api: TestClient, auth: dict[str, str], **overrides: Any) -> Any:
    params = {
        "lon": 121.476, "lat": 31.228, "duration_min": 60, "skills": "aircon:1",
        "window_start": at(10).isoformat(), "window_end": at(14).isoformat(),
    } | overrides  # fmt: skip
    return api.get("/v1/dispatch/availability", params=params, headers=auth)


def test_offers_fit_the_window_without_a_plan(
    api: TestClient, headers: Headers, world: dict[str, Any]
) -> None:
    answer = ask(api, headers["dispatcher"], n_offers=3)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["run_id"] is None and 1 <= len(body["offers"]) <= 3
    for offer in body["offers"]:
        assert offer["technician_id"] in {"T-A", "T-B"}
        start = datetime.fromisoformat(offer["planned_start_at"])
        assert at(10) <= datetime.fromisoformat(offer["slot_start_at"]) <= start
        assert start <= datetime.fromisoformat(offer["slot_end_at"]) <= at(14)


def test_offers_fit_the_applied_plan(
    api: TestClient, headers: Headers, world: dict[str, Any]
) -> None:
    run = wait_for(api, submit(api, headers["dispatcher"]).json()["id"], headers["dispatcher"])
    api.post(f"/v1/dispatch/runs/{run['id']}/apply", headers=headers["dispatcher"])
    body = ask(api, headers["admin"]).json()
    assert body["run_id"] == run["id"] and body["offers"]
    pairs = [(o["technician_id"], o["slot_start_at"]) for o in body["offers"]]
    assert len(set(pairs)) == len(pairs)  # each (technician, slot) offered once


def test_nobody_skilled_means_no_offer_and_a_reason(
    api: TestClient, headers: Headers, world: dict[str, Any]
) -> None:
    body = ask(api, headers["dispatcher"], skills="solar:1").json()
    assert body["offers"] == [] and "solar" in body["reason"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"skills": "teleport:1"}, "skills"),
        ({"skills": "aircon"}, "skills"),
        ({"window_end": at(9).isoformat()}, "window_end"),
        ({"window_start": "2031-03-04T10:00:00"}, "window_start"),
        ({"lon": 200}, "lon"),
        ({"duration_min": 0}, "duration_min"),
        ({"crs": "osgb"}, "crs"),
    ],
)
def test_bad_questions_are_422_naming_the_field(
    api: TestClient, headers: Headers, overrides: dict[str, Any], field: str
) -> None:
    answer = ask(api, headers["dispatcher"], **overrides)
    assert answer.status_code == 422
    assert field in answer.json()["error"]["message"]


@pytest.mark.parametrize(("caller", "status"), [("tech_b", 403), ("shop_b", 403), (None, 401)])
def test_only_staff_see_availability(
    api: TestClient, headers: Headers, caller: str | None, status: int
) -> None:
    assert ask(api, headers[caller] if caller else {}).status_code == status


def test_capacity_held_back_for_emergencies_is_offered_only_to_them(
    api: TestClient, headers: Headers, session: Session, dispatch_settings: Settings
) -> None:
    add_technician(session, "T-H", (121.4737, 31.2304), max_orders=2)
    add_ticket(session, (121.48, 31.22))
    run = applied_day(api, headers)
    assert run["kpis"]["assigned"] == 1  # one of T-H's two orders is taken
    share = dispatch_settings.dispatch_emergency_share
    assert int(2 * (1 - share)) == 1  # so the second is held back

    normal = ask(api, headers["dispatcher"]).json()
    assert normal["offers"] == [] and "held back for emergency" in normal["reason"]
    urgent = ask(api, headers["dispatcher"], priority="urgent").json()
    assert urgent["offers"] == []
    emergency = ask(api, headers["dispatcher"], priority="emergency").json()
    assert emergency["offers"] and {o["technician_id"] for o in emergency["offers"]} == {"T-H"}
