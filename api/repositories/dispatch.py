"""Dispatch in the database: runs and their plans, applying a plan, assignments, routes.

Functions take a session and keyword arguments, may flush, and never commit.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from api.db.tables import (
    AssignmentRow,
    DispatchPlanRow,
    DispatchRunRow,
    TicketRow,
)
from api.lifecycle import Actor, TicketStatus
from api.problem_builder import lonlat
from api.repositories import dispatch_scope as scope_repo
from api.repositories import tickets as ticket_repo
from dispatch import Plan


def get_run(session: Session, *, run_id: int) -> DispatchRunRow | None:
    """Return the run, or ``None``."""
    return session.get(DispatchRunRow, run_id)


def get_plan(session: Session, *, run_id: int, for_update: bool = False) -> DispatchPlanRow | None:
    """Return the stored plan of a run, or ``None`` while it has none."""
    return session.get(DispatchPlanRow, run_id, with_for_update=for_update)


def mark_started(session: Session, *, run_id: int, at: datetime) -> None:
    """Record that a worker picked the run up (ignored once it has finished)."""
    run = session.get(DispatchRunRow, run_id)
    if run is not None and run.status == "queued":
        run.status, run.phase, run.progress, run.started_at = "running", "solving", 0.05, at
        session.flush()


def mark_succeeded(
    session: Session, *, run_id: int, plan_doc: dict[str, Any], at: datetime
) -> None:
    """Store the plan and its KPIs and close the run."""
    run = session.get(DispatchRunRow, run_id)
    if run is None:
        return
    run.status, run.phase, run.progress, run.finished_at = "succeeded", "done", 1.0, at
    run.started_at = run.started_at or at
    run.kpis = plan_doc["kpis"]
    session.add(DispatchPlanRow(run_id=run_id, plan=plan_doc))
    session.flush()


def mark_failed(session: Session, *, run_id: int, error: dict[str, Any], at: datetime) -> None:
    """Close the run as failed with an error body ``{code, message, details}``."""
    run = session.get(DispatchRunRow, run_id)
    if run is not None and run.status in {"queued", "running"}:
        run.status, run.phase, run.finished_at, run.error = "failed", "done", at, error
        session.flush()


def unfinished_run_ids(session: Session) -> list[int]:
    """Return the runs still queued or running."""
    query = select(DispatchRunRow.id).where(DispatchRunRow.status.in_(["queued", "running"]))
    return list(session.scalars(query))


def apply_plan(
    session: Session,
    *,
    run: DispatchRunRow,
    plan_row: DispatchPlanRow,
    plan: Plan,
    actor_key_id: str,
    at: datetime,
) -> list[int]:
    """Schedule the run's tickets as ``plan`` says; return the ids of the tickets it placed.

    Planned tickets become ``scheduled`` with their technician and an assignment with times;
    tickets of the run the plan leaves out and that were scheduled go back to ``new``.
    """
    rows = {
        t.id: t
        for t in scope_repo.tickets_by_id(session, ticket_ids=[int(i) for i in run.ticket_versions])
    }
    placed: list[int] = []
    for route in plan.routes:
        for sequence, stop in enumerate(route.stops, start=1):
            ticket = rows[int(stop.order_id)]
            _schedule(
                session, ticket=ticket, technician_id=route.technician_id, key=actor_key_id, at=at
            )
            upsert_assignment(
                session, ticket_id=ticket.id, technician_id=route.technician_id, day=run.day,
                sequence=sequence, times=(plan.at(stop.arrival_s), plan.at(stop.start_s),
                                          plan.at(stop.end_s)),
                run_id=run.id, actor_key_id=actor_key_id, at=at,
            )  # fmt: skip
            placed.append(ticket.id)
    for item in plan.unassigned:
        ticket = rows[int(item.order_id)]
        if ticket.status == TicketStatus.SCHEDULED:
            unassign(session, ticket=ticket, actor_key_id=actor_key_id, at=at, note=item.message)
    plan_row.applied_at, plan_row.applied_by = at, actor_key_id
    session.flush()
    return placed


def _schedule(
    session: Session, *, ticket: TicketRow, technician_id: str, key: str, at: datetime
) -> None:
    if ticket.status == TicketStatus.NEW:
        ticket_repo.transition(
            session, ticket=ticket, target=TicketStatus.SCHEDULED, actor=Actor.STAFF,
            actor_key_id=key, at=at, technician_id=technician_id, note="dispatch plan applied",
        )  # fmt: skip
    elif ticket.technician_id != technician_id:
        ticket.technician_id, ticket.updated_at = technician_id, at


def upsert_assignment(
    session: Session,
    *,
    ticket_id: int,
    technician_id: str,
    day: date,
    sequence: int | None,
    times: tuple[datetime, datetime, datetime] | None,
    run_id: int | None,
    actor_key_id: str,
    at: datetime,
    is_pinned: bool | None = None,
) -> AssignmentRow:
    """Create or replace the ticket's assignment; a pin survives unless ``is_pinned`` is given."""
    row = session.scalar(select(AssignmentRow).where(AssignmentRow.ticket_id == ticket_id))
    if row is None:
        row = AssignmentRow(ticket_id=ticket_id, is_pinned=False)
        session.add(row)
    row.technician_id, row.day, row.sequence = technician_id, day, sequence
    row.eta_at, row.start_at, row.end_at = times or (None, None, None)
    row.source, row.run_id = ("manual", None) if run_id is None else ("run", run_id)
    row.assigned_at, row.assigned_by = at, actor_key_id
    if is_pinned is not None:
        row.is_pinned = is_pinned
    session.flush()
    return row


def unassign(
    session: Session, *, ticket: TicketRow, actor_key_id: str, at: datetime, note: str
) -> None:
    """Put a scheduled ticket back to ``new`` and drop its assignment."""
    ticket_repo.transition(
        session, ticket=ticket, target=TicketStatus.NEW, actor=Actor.STAFF,
        actor_key_id=actor_key_id, at=at, note=note,
    )  # fmt: skip
    row = session.scalar(select(AssignmentRow).where(AssignmentRow.ticket_id == ticket.id))
    if row is not None:
        session.delete(row)
    session.flush()


@dataclass(frozen=True, slots=True)
class PlannedStop:
    """One stop of a technician's planned day, for the route endpoint and the map."""

    sequence: int | None
    ticket_id: int
    status: str
    location: tuple[float, float]
    address: str
    eta_at: datetime | None
    start_at: datetime | None
    end_at: datetime | None
    is_pinned: bool
    source: str
    run_id: int | None


def planned_stops(session: Session, *, technician_id: str, day: date) -> list[PlannedStop]:
    """Return the technician's assigned tickets on ``day`` in visiting order, with ETAs.

    Stops without a sequence (manual assignments outside a plan) come last, by ticket id.
    """
    query = (
        select(AssignmentRow, TicketRow)
        .join(TicketRow, TicketRow.id == AssignmentRow.ticket_id)
        .where(AssignmentRow.technician_id == technician_id, AssignmentRow.day == day)
        .order_by(AssignmentRow.sequence.is_(None), AssignmentRow.sequence, AssignmentRow.ticket_id)
    )
    return [
        PlannedStop(
            sequence=a.sequence,
            ticket_id=t.id,
            status=t.status,
            location=lonlat(t.location),
            address=t.address,
            eta_at=a.eta_at,
            start_at=a.start_at,
            end_at=a.end_at,
            is_pinned=a.is_pinned,
            source=a.source,
            run_id=a.run_id,
        )
        for a, t in session.execute(query)
    ]


def applied_plan_for(
    session: Session, *, day: date, region_ids: Collection[str]
) -> tuple[DispatchRunRow, DispatchPlanRow] | None:
    """Return the plan applied last for ``day`` whose run covers one of ``region_ids``."""
    query = (
        select(DispatchRunRow, DispatchPlanRow)
        .join(DispatchPlanRow, DispatchPlanRow.run_id == DispatchRunRow.id)
        .where(
            DispatchRunRow.day == day,
            DispatchPlanRow.applied_at.is_not(None),
            or_(DispatchRunRow.region_id.in_(list(region_ids)), DispatchRunRow.region_id.is_(None)),
        )
        .order_by(  # a region's own plan before one for a list of tickets
            DispatchRunRow.region_id.is_(None),
            DispatchPlanRow.applied_at.desc(),
            DispatchRunRow.id.desc(),
        )
        .limit(1)
    )
    found = session.execute(query).first()
    return None if found is None else (found[0], found[1])
