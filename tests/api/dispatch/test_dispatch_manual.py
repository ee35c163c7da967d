"""Manual overrides with constraint warnings, pins honoured by runs, urgent insertion."""

from datetime import datetime
from typing import Any, get_args
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.tables import (
    AssignmentRow,
    DispatchPlanRow,
    TechnicianRow,
    TechnicianShiftRow,
    TicketRow,
    TicketStatusChangeRow,
)
from api.dispatch.assignment_checks import assignment_warnings
from api.dispatch.problem_builder import Fleet, build_problem, day_origin, ticket_order
from api.regions import repository as region_repo
from api.tickets.schemas import Priority as TicketPriority
from dispatch.model import PRIORITY_SCALE
from dispatch.routing_arrays import build_routing_arrays
from geo.regions import RegionIndex
from tests.api.dispatch.support import (
    DAY,
    add_technician,
    add_ticket,
    applied_day,
    at,
    submit,
    wait_for,
)

Headers = dict[str, dict[str, str]]


def assign(api: TestClient, auth: dict[str, str], **body: Any) -> Any:
    return api.post("/v1/dispatch/assignments", json=body, headers=auth)


def codes(answer: Any) -> list[str]:
    body = answer.json()
    warnings = body["warnings"] if "warnings" in body else body["error"]["details"]["warnings"]
    return sorted(w["code"] for w in warnings)


def test_assign_with_warnings_needs_force_and_writes_nothing_without_it(
    api: TestClient, headers: Headers, world: dict[str, Any], session: Session
) -> None:
    ticket = add_ticket(session, (121.48, 31.22), skills={"aircon": 3, "plumbing": 1})
    refused = assign(
        api, headers["dispatcher"], ticket_id=ticket, action="assign", technician_id="T-A"
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "constraint_warnings"
    assert codes(refused) == ["skill_level_too_low", "skill_missing"]
    assert session.get(TicketRow, ticket).status == "new"  # type: ignore[union-attr]

    forced = assign(
        api,
        headers["dispatcher"],
        ticket_id=ticket,
        action="assign",
        technician_id="T-A",
        force=True,
    )
    assert forced.status_code == 200, forced.text
    assert forced.json()["status"] == "scheduled" and forced.json()["technician_id"] == "T-A"
    assert codes(forced) == ["skill_level_too_low", "skill_missing"]
    assert forced.json()["day"] == DAY.isoformat() and forced.json()["is_pinned"] is False


def test_each_constraint_has_its_warning(
    api: TestClient, headers: Headers, world: dict[str, Any], session: Session
) -> None:
    add_technician(session, "T-C", (121.44, 31.20), territory=["310104"], max_orders=1)
    booked = add_ticket(session, (121.44, 31.20), region_id="310104", duration_min=480)
    first = assign(api, headers["admin"], ticket_id=booked, action="assign", technician_id="T-C")
    assert first.status_code == 200 and first.json()["warnings"] == []

    late = add_ticket(session, (121.48, 31.22), windows=[(at(19), at(20))], duration_min=90)
    answer = assign(api, headers["admin"], ticket_id=late, action="pin", technician_id="T-C")
    assert codes(answer) == [
        "outside_shift",
        "outside_territory",
        "over_capacity",
        "over_max_orders",
    ]

    off_day = assign(
        api, headers["admin"], ticket_id=world["aircon"][0], action="assign",
        technician_id="T-A", date="2031-03-05",
    )  # fmt: skip
    assert codes(off_day) == ["no_shift"]


def test_pinned_ticket_stays_with_its_technician_in_later_runs(
    api: TestClient, headers: Headers, world: dict[str, Any]
) -> None:
    near_a = world["aircon"][2]  # next to T-A's base
    pinned = assign(api, headers["dispatcher"], ticket_id=near_a, action="pin", technician_id="T-B")
    assert pinned.status_code == 200 and pinned.json()["is_pinned"] is True

    run = wait_for(api, submit(api, headers["dispatcher"]).json()["id"], headers["dispatcher"])
    owner = {
        int(s["order_id"]): r["technician_id"] for r in run["plan"]["routes"] for s in r["stops"]
    }
    assert owner[near_a] == "T-B"

    unpinned = assign(api, headers["dispatcher"], ticket_id=near_a, action="unpin")
    assert unpinned.json()["is_pinned"] is False and unpinned.json()["technician_id"] == "T-B"


def test_unassign_puts_the_ticket_back(
    api: TestClient, headers: Headers, world: dict[str, Any], session: Session
) -> None:
    ticket = world["aircon"][0]
    assert (
        assign(api, headers["dispatcher"], ticket_id=ticket, action="unassign").status_code == 409
    )
    assign(api, headers["dispatcher"], ticket_id=ticket, action="assign", technician_id="T-A")
    answer = assign(api, headers["dispatcher"], ticket_id=ticket, action="unassign")
    assert answer.status_code == 200
    assert answer.json()["status"] == "new" and answer.json()["technician_id"] is None
    assert session.scalars(select(AssignmentRow)).first() is None


@pytest.mark.parametrize(
    "body",
    [
        {"ticket_id": 1, "action": "assign"},
        {"ticket_id": 1, "action": "unassign", "technician_id": "T-A"},
        {"ticket_id": 1, "action": "move", "technician_id": "T-A"},
        {"ticket_id": 1, "action": "pin", "technician_id": "T-A", "status": "scheduled"},
    ],
)
def test_bad_overrides_are_422(api: TestClient, headers: Headers, body: dict[str, Any]) -> None:
    assert assign(api, headers["dispatcher"], **body).status_code == 422


def test_urgent_ticket_is_inserted_into_the_applied_plan(
    api: TestClient, headers: Headers, world: dict[str, Any], session: Session
) -> None:
    run = applied_day(api, headers)
    urgent = add_ticket(session, (121.474, 31.228), priority="urgent", windows=[(at(11), at(13))])

    answer = api.post("/v1/dispatch/insert", json={"ticket_id": urgent}, headers=headers["admin"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["run_id"] == run["id"] and body["technician_id"] in {"T-A", "T-B"}
    assert at(11).isoformat() <= body["start_at"] <= at(13).isoformat()
    assert isinstance(body["added_travel_s"], int) and body["elapsed_ms"] > 0
    ticket = session.get(TicketRow, urgent)
    assert ticket is not None and ticket.status == "scheduled"
    row = session.scalar(select(AssignmentRow).where(AssignmentRow.ticket_id == urgent))
    assert row is not None and row.sequence == body["position"]
    plan = session.get(DispatchPlanRow, run["id"])
    assert plan is not None
    route = next(r for r in plan.plan["routes"] if r["technician_id"] == body["technician_id"])
    assert route["stops"][body["position"] - 1]["order_id"] == str(urgent)
    assert plan.plan["kpis"]["objective"] == run["kpis"]["objective"] + body["cost_delta"]
    assert plan.plan["kpis"]["assigned"] == run["kpis"]["assigned"] + 1

    again = api.post("/v1/dispatch/insert", json={"ticket_id": urgent}, headers=headers["admin"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_insertable"


def test_an_insertion_writes_its_route_as_the_plan_has_it_and_stamps_only_what_changed(
    api: TestClient, headers: Headers, world: dict[str, Any], session: Session
) -> None:
    run = applied_day(api, headers)
    before = {a.ticket_id: _stored(a) for a in session.scalars(select(AssignmentRow))}
    # Late in the day, so that it goes after the route's stops and leaves them as they were.
    urgent = add_ticket(session, (121.474, 31.228), priority="urgent", windows=[(at(16), at(18))])

    answer = api.post("/v1/dispatch/insert", json={"ticket_id": urgent}, headers=headers["admin"])
    assert answer.status_code == 200, answer.text
    session.expire_all()
    plan_row = session.get(DispatchPlanRow, run["id"])
    assert plan_row is not None
    tech = answer.json()["technician_id"]
    (route,) = (r for r in plan_row.plan["routes"] if r["technician_id"] == tech)
    untouched = 0
    after = {a.ticket_id: _stored(a) for a in session.scalars(select(AssignmentRow))}
    for sequence, stop in enumerate(route["stops"], start=1):
        stored = after[int(stop["order_id"])]
        assert stored[:4] == (tech, sequence, run["id"], "run")
        assert stored[4] == datetime.fromisoformat(stop["arrival"])
        assert stored[5] is False  # a new assignment is not pinned
        old = before.get(int(stop["order_id"]))
        changed = old is None or old[:5] != stored[:5]
        assert stored[6] == (after[urgent][6] if changed else old[6])  # stamped when written
        untouched += not changed
    assert 0 < untouched < len(route["stops"])
    on_route = {int(stop["order_id"]) for stop in route["stops"]}
    assert {i: a for i, a in after.items() if i not in on_route} == {
        i: a for i, a in before.items() if i not in on_route
    }
    ticket = session.get(TicketRow, urgent)
    assert ticket is not None and (ticket.status, ticket.technician_id) == ("scheduled", tech)
    query = select(TicketStatusChangeRow).where(TicketStatusChangeRow.ticket_id == urgent)
    changes = [(c.from_status, c.to_status, c.note, c.at) for c in session.scalars(query)]
    assert changes[-1] == (
        "new", "scheduled", f"inserted into the plan of run {run['id']}", ticket.updated_at
    )  # fmt: skip


def _stored(row: AssignmentRow) -> tuple[Any, ...]:
    return (
        row.technician_id, row.sequence, row.run_id, row.source, row.eta_at, row.is_pinned,
        row.assigned_at,
    )  # fmt: skip


def test_insert_refusals_give_the_reason(
    api: TestClient, headers: Headers, world: dict[str, Any], session: Session
) -> None:
    no_plan = api.post(
        "/v1/dispatch/insert", json={"ticket_id": world["aircon"][0]}, headers=headers["admin"]
    )
    assert no_plan.status_code == 409 and no_plan.json()["error"]["code"] == "no_applied_plan"

    applied_day(api, headers)
    solar = add_ticket(session, (121.474, 31.228), skills={"solar": 1})
    unskilled = api.post("/v1/dispatch/insert", json={"ticket_id": solar}, headers=headers["admin"])
    assert unskilled.status_code == 422
    assert unskilled.json()["error"]["details"]["reason"] == "no_skill"

    squeezed = add_ticket(session, (121.474, 31.228), windows=[(at(17, 50), at(17, 55))])
    late = api.post("/v1/dispatch/insert", json={"ticket_id": squeezed}, headers=headers["admin"])
    assert late.status_code == 409 and late.json()["error"]["code"] == "cannot_insert"
    assert session.get(TicketRow, squeezed).status == "new"  # type: ignore[union-attr]


@pytest.mark.parametrize("caller", ["tech_a", "shop_a", None])
def test_only_staff_override_and_insert(
    api: TestClient, headers: Headers, world: dict[str, Any], caller: str | None
) -> None:
    auth = headers[caller] if caller else {}
    expected = 403 if caller else 401
    body = {"ticket_id": world["aircon"][0], "action": "assign", "technician_id": "T-A"}
    assert assign(api, auth, **body).status_code == expected
    insert = {"ticket_id": world["aircon"][0]}
    assert api.post("/v1/dispatch/insert", json=insert, headers=auth).status_code == expected


def test_a_forced_pin_returns_the_warnings_it_accepted(
    api: TestClient, headers: Headers, world: dict[str, Any], session: Session
) -> None:
    technician = session.get(TechnicianRow, "T-B")
    assert technician is not None
    technician.is_active = False
    session.flush()
    body = {"ticket_id": world["solar"], "action": "pin", "technician_id": "T-B"}
    refused = assign(api, headers["dispatcher"], **body)
    assert refused.status_code == 409
    assert codes(refused) == ["skill_missing", "technician_inactive"]

    forced = assign(api, headers["dispatcher"], **body, force=True)
    assert forced.status_code == 200, forced.text
    assert codes(forced) == ["skill_missing", "technician_inactive"]
    assert forced.json()["is_pinned"] is True and forced.json()["status"] == "scheduled"
    row = session.scalar(select(AssignmentRow).where(AssignmentRow.ticket_id == world["solar"]))
    assert row is not None and row.is_pinned and row.source == "manual"


def test_pinning_a_planned_ticket_to_its_technician_keeps_its_place(
    api: TestClient, headers: Headers, world: dict[str, Any], session: Session
) -> None:
    run = applied_day(api, headers)
    route = run["plan"]["routes"][0]
    ticket, technician = int(route["stops"][0]["order_id"]), route["technician_id"]
    body = {"ticket_id": ticket, "action": "pin", "technician_id": technician}
    answer = assign(api, headers["dispatcher"], **body)
    assert answer.status_code == 200 and answer.json()["warnings"] == []
    row = session.scalar(select(AssignmentRow).where(AssignmentRow.ticket_id == ticket))
    assert row is not None and row.is_pinned and row.sequence == 1 and row.run_id == run["id"]

    other = "T-A" if technician == "T-B" else "T-B"
    moved = assign(
        api, headers["dispatcher"], ticket_id=ticket, action="assign", technician_id=other
    )
    assert moved.status_code == 200 and moved.json()["technician_id"] == other
    session.refresh(row)
    assert row.sequence is None and row.source == "manual" and not row.is_pinned


def test_overrides_that_cannot_apply_are_refused_and_unassign_warns_of_nothing(
    api: TestClient, headers: Headers, world: dict[str, Any], session: Session
) -> None:
    auth, ticket = headers["dispatcher"], world["aircon"][0]
    nobody = assign(api, auth, ticket_id=ticket, action="assign", technician_id="T-NONE")
    assert nobody.status_code == 422 and nobody.json()["error"]["code"] == "unknown_technician"
    unpinned = assign(api, auth, ticket_id=ticket, action="unpin")
    assert unpinned.status_code == 409 and unpinned.json()["error"]["code"] == "not_assigned"
    missing = assign(api, auth, ticket_id=987_654, action="unassign")
    assert missing.status_code == 404

    assign(api, auth, ticket_id=ticket, action="assign", technician_id="T-A")
    unassigned = assign(api, auth, ticket_id=ticket, action="unassign")
    assert unassigned.status_code == 200 and unassigned.json()["warnings"] == []
    assert unassigned.json()["is_pinned"] is False and unassigned.json()["day"] is None

    done = add_ticket(session, (121.48, 31.22), status="completed", technician_id="T-A")
    closed = assign(api, auth, ticket_id=done, action="assign", technician_id="T-B")
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "not_assignable"


ELIGIBILITY_CODES = {"skill_missing", "skill_level_too_low", "outside_territory"}


def test_solver_allowed_matrix_and_warnings_agree_on_who_may_serve_whom(
    session: Session,
) -> None:
    """Each pair the solver may not route is one the manual assignment warns about, and back.

    Skills at several levels and territories by district and by city (the regions below it);
    every ticket sits near the bases with a wide window, so only eligibility decides.
    """
    fleet_spec: dict[str, dict[str, Any]] = {
        "T-JUNIOR": {"skills": {"aircon": 1}},
        "T-SENIOR": {"skills": {"aircon": 3, "plumbing": 2}},
        "T-HUANGPU": {"skills": {"aircon": 2, "plumbing": 1}, "territory": ["310101"]},
        "T-SHANGHAI": {"skills": {"aircon": 2}, "territory": ["310000"]},
        "T-SUZHOU": {"skills": {"aircon": 3, "plumbing": 3}, "territory": ["320500"]},
    }
    for tech_id, extra in fleet_spec.items():
        add_technician(session, tech_id, (121.4737, 31.2304), **extra)
    ticket_ids = [
        add_ticket(session, (121.48, 31.22), skills=skills, region_id=region)
        for skills in ({"aircon": 1}, {"aircon": 2}, {"aircon": 3, "plumbing": 1}, {})
        for region in ("310101", "310104")
    ]
    index = RegionIndex(region_repo.list_regions(session))
    technicians = [session.get_one(TechnicianRow, t) for t in fleet_spec]
    tickets = [session.get_one(TicketRow, t) for t in ticket_ids]
    shifts = {
        s.technician_id: [s]
        for s in session.scalars(
            select(TechnicianShiftRow).where(TechnicianShiftRow.technician_id.in_(fleet_spec))
        )
    }
    day = build_problem(
        index=index, tickets=tickets, fleet=Fleet(technicians, shifts), pins={}, day=DAY,
        zone=ZoneInfo("Asia/Shanghai"), skill_catalog=["aircon", "plumbing"], now=None,
    )  # fmt: skip
    assert day.excluded == ()
    arrays = build_routing_arrays(day.problem)
    tech_ids = [str(day.problem.technicians[v.technician_index].id) for v in arrays.vehicles]

    agreed = set()
    for o, ticket in enumerate(tickets):
        for tech in technicians:
            found = assignment_warnings(
                ticket=ticket, technician=tech, shift=shifts[tech.id][0], booked=[], index=index
            )
            is_warned = bool({w.code for w in found} & ELIGIBILITY_CODES)
            is_allowed = bool(arrays.allowed[o, tech_ids.index(tech.id)])
            assert is_allowed is not is_warned, (ticket.skills, ticket.region_id, tech.id)
            agreed.add(is_warned)
    assert agreed == {True, False}


@pytest.mark.parametrize(("name", "value"), [("normal", 0), ("urgent", 1), ("emergency", 2)])
def test_ticket_priorities_are_the_dispatch_scale(session: Session, name: str, value: int) -> None:
    assert tuple(PRIORITY_SCALE) == get_args(TicketPriority)
    ticket = session.get_one(TicketRow, add_ticket(session, (121.48, 31.22), priority=name))
    order, _ = ticket_order(
        ticket, day_origin(DAY, ZoneInfo("Asia/Shanghai")), now_s=0, pinned_to=None
    )
    assert order.priority == PRIORITY_SCALE[name] == value
