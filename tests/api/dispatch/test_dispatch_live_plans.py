"""Applied plans kept per process: reused while current, reloaded after any change by anyone."""

import json
import threading
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.config import Settings
from api.db.tables import AssignmentRow, DispatchPlanRow, TicketRow
from api.dispatch import live_plans
from api.dispatch.live_plans import LiveDay, LivePlanCache
from api.dispatch.repository import PlanHead
from dispatch.plan_io import plan_to_dict
from tests.api.dispatch.support import add_ticket, app_client, applied_day, at

Headers = dict[str, dict[str, str]]


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The run id of every applied plan any app loads from the database, in order."""
    seen: list[int] = []
    real = live_plans.load_live_day

    def counting(session: Session, **kwargs: Any) -> LiveDay:
        seen.append(kwargs["head"].run_id)
        return real(session, **kwargs)

    monkeypatch.setattr(live_plans, "load_live_day", counting)
    return seen


def ask(api: TestClient, auth: dict[str, str], **overrides: Any) -> dict[str, Any]:
    params = {
        "lon": 121.476, "lat": 31.228, "duration_min": 30,
        "window_start": at(10).isoformat(), "window_end": at(16).isoformat(),
    } | overrides  # fmt: skip
    answer = api.get("/v1/dispatch/availability", params=params, headers=auth)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def insert(api: TestClient, auth: dict[str, str], ticket_id: int) -> dict[str, Any]:
    answer = api.post("/v1/dispatch/insert", json={"ticket_id": ticket_id}, headers=auth)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def urgent(session: Session, lon: float) -> int:
    return add_ticket(session, (lon, 31.228), priority="urgent", duration_min=20)


def test_the_plan_is_loaded_once_while_nothing_changes(
    api: TestClient, headers: Headers, world: dict[str, Any], session: Session, loads: list[int]
) -> None:
    auth = headers["dispatcher"]
    run = applied_day(api, headers)
    assert ask(api, auth)["run_id"] == run["id"] and loads == [run["id"]]
    ask(api, auth, lon=121.47)
    insert(api, auth, urgent(session, 121.474))
    ask(api, auth)  # the insertion updated the copy: still current
    insert(api, auth, urgent(session, 121.478))
    assert loads == [run["id"]]


def test_any_change_to_what_the_plan_is_built_from_reloads_it(
    api: TestClient, headers: Headers, world: dict[str, Any], session: Session, loads: list[int]
) -> None:
    auth, admin = headers["dispatcher"], headers["admin"]
    applied_day(api, headers)
    ask(api, auth)
    planned = world["aircon"][0]

    ticket = session.get(TicketRow, planned)  # as another process would change it
    assert ticket is not None
    ticket.duration_min, ticket.updated_at = 90, datetime.now(UTC)
    session.flush()
    ask(api, auth)
    assert len(loads) == 2

    body = {"ticket_id": planned, "action": "pin", "technician_id": ticket.technician_id}
    assert api.post("/v1/dispatch/assignments", json=body, headers=admin).status_code == 200
    ask(api, auth)
    assert len(loads) == 3

    shift = {"day": "2031-03-04", "start_at": at(8).isoformat(), "end_at": at(17).isoformat()}
    path = "/v1/technicians/T-B/shifts"
    assert api.put(path, json={"shifts": [shift]}, headers=admin).status_code == 200
    ask(api, auth)
    assert len(loads) == 4

    patch = api.patch("/v1/technicians/T-A", json={"skills": {"aircon": 3}}, headers=admin)
    assert patch.status_code == 200
    ask(api, auth)
    ask(api, auth)
    assert len(loads) == 5


def test_a_plan_another_process_changed_is_reloaded_not_overwritten(
    api: TestClient,
    headers: Headers,
    world: dict[str, Any],
    session: Session,
    dispatch_settings: Settings,
    lock: threading.Lock,
) -> None:
    auth = headers["dispatcher"]
    run = applied_day(api, headers)
    first, second, third = (urgent(session, lon) for lon in (121.474, 121.478, 121.472))
    insert(api, auth, first)
    with app_client(dispatch_settings, session, lock) as other:
        insert(other, auth, second)
    insert(api, auth, third)

    plan = session.get(DispatchPlanRow, run["id"])
    assert plan is not None and plan.revision == 4  # applied, then three insertions
    planned = {int(s["order_id"]) for r in plan.plan["routes"] for s in r["stops"]}
    assert {first, second, third} <= planned
    assert plan.plan["kpis"]["assigned"] == run["kpis"]["assigned"] + 3
    query = select(AssignmentRow.ticket_id).where(AssignmentRow.run_id == run["id"])
    assert {first, second, third} <= set(session.scalars(query))


def test_an_insertion_updates_the_copy_exactly_as_a_reload_would(
    api: TestClient, headers: Headers, world: dict[str, Any], session: Session
) -> None:
    auth = headers["dispatcher"]
    applied_day(api, headers)
    ask(api, auth)
    insert(api, auth, urgent(session, 121.474))
    cache: LivePlanCache = api.app.state.live_plans  # type: ignore[attr-defined]
    (kept,) = cache.kept()

    head = PlanHead(kept.run_id, kept.day, kept.revision)
    fresh = live_plans.load_live_day(
        session, head=head, zone=kept.zone, index=kept.index,
        tier_policy=kept.terms.policy if kept.terms else None,
    )  # fmt: skip
    assert fresh.state == kept.state
    assert plan_to_dict(fresh.plan) == plan_to_dict(kept.plan)
    assert fresh.plan_doc == kept.plan_doc == plan_to_dict(kept.plan)  # as stored, as kept
    assert json.loads(kept.plan_json(kept.plan_doc)) == kept.plan_doc  # the texts kept
    assert sorted(fresh.orders, key=by_id) == sorted(kept.orders, key=by_id)
    assert [t.id for t in fresh.fleet.technicians] == [t.id for t in kept.fleet.technicians]


def by_id(order: Any) -> str:
    return str(order.id)


def test_offers_from_the_kept_copy_match_a_fresh_process(
    api: TestClient,
    headers: Headers,
    world: dict[str, Any],
    session: Session,
    dispatch_settings: Settings,
    lock: threading.Lock,
) -> None:
    auth = headers["dispatcher"]
    applied_day(api, headers)
    insert(api, auth, urgent(session, 121.474))
    kept = ask(api, auth, n_offers=4)
    with app_client(dispatch_settings, session, lock) as fresh:
        assert ask(fresh, auth, n_offers=4) == kept
    assert kept["offers"]


def test_only_the_most_recently_used_plans_are_kept(
    api: TestClient, headers: Headers, world: dict[str, Any]
) -> None:
    applied_day(api, headers)
    ask(api, headers["dispatcher"])
    cache: LivePlanCache = api.app.state.live_plans  # type: ignore[attr-defined]
    (day,) = cache.kept()
    small = LivePlanCache(size=2)
    for run_id in (1, 2, 3, 2):
        small.put(replace(day, run_id=run_id))
    assert [d.run_id for d in small.kept()] == [3, 2]
