"""Dispatch in the database: runs and their plans, applying a plan, assignments, routes.

Functions take a session and keyword arguments, may flush, and never commit.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from api.db.tables import (
    DispatchPlanRow,
    DispatchRunRow,
    TicketRow,
)
from api.lifecycle import Actor, TicketStatus
from api.repositories import assignments as assignment_repo
from api.repositories import dispatch_scope as scope_repo
from api.repositories import tickets as ticket_repo
from dispatch import Plan

UNFINISHED = ("queued", "running")


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
    if run is None or run.status not in UNFINISHED:  # failed meanwhile (lease lost): stays so
        return
    run.status, run.phase, run.progress, run.finished_at = "succeeded", "done", 1.0, at
    run.started_at = run.started_at or at
    run.kpis = plan_doc["kpis"]
    session.add(DispatchPlanRow(run_id=run_id, plan=plan_doc))
    session.flush()


def mark_failed(session: Session, *, run_id: int, error: dict[str, Any], at: datetime) -> None:
    """Close the run as failed with an error body ``{code, message, details}``."""
    run = session.get(DispatchRunRow, run_id)
    if run is not None and run.status in UNFINISHED:
        run.status, run.phase, run.finished_at, run.error = "failed", "done", at, error
        session.flush()


def refresh_heartbeats(session: Session, *, run_ids: Collection[int], at: datetime) -> None:
    """Renew the lease of the owner's runs that are still queued or running."""
    session.execute(
        update(DispatchRunRow)
        .where(DispatchRunRow.id.in_(list(run_ids)), DispatchRunRow.status.in_(UNFINISHED))
        .values(heartbeat_at=at)
    )


def fail_lost_runs(
    session: Session, *, now: datetime, lease_s: float, run_id: int | None = None
) -> list[int]:
    """Fail the queued or running runs whose owner stopped renewing their lease; return them.

    ``run_id`` limits the check to one run. A run without a heartbeat counts from its creation.
    """
    cutoff = now - timedelta(seconds=lease_s)
    last_sign = func.coalesce(DispatchRunRow.heartbeat_at, DispatchRunRow.created_at)
    query = select(DispatchRunRow).where(DispatchRunRow.status.in_(UNFINISHED), last_sign < cutoff)
    if run_id is not None:
        query = query.where(DispatchRunRow.id == run_id)
    lost = list(session.scalars(query.with_for_update()))
    for run in lost:
        seen = run.heartbeat_at or run.created_at
        error = {
            "code": "worker_lost",
            "message": f"the service process running it stopped (last heartbeat "
            f"{seen.isoformat()}, lease {lease_s:g} s); submit the run again",
            "details": {"last_heartbeat_at": seen.isoformat(), "lease_s": lease_s},
        }
        mark_failed(session, run_id=run.id, error=error, at=now)
    return [run.id for run in lost]


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
    ids = [int(i) for i in run.ticket_versions]
    rows = {t.id: t for t in scope_repo.tickets_by_id(session, ticket_ids=ids)}
    placed: list[int] = []
    for route in plan.routes:
        for stop in route.stops:
            ticket = rows[int(stop.order_id)]
            tech = route.technician_id
            _schedule(session, ticket=ticket, technician_id=tech, key=actor_key_id, at=at)
            placed.append(ticket.id)
        assignment_repo.store_route(
            session, run=run, plan=plan, route=route, actor_key_id=actor_key_id, at=at
        )
    for item in plan.unassigned:
        ticket = rows[int(item.order_id)]
        if ticket.status == TicketStatus.SCHEDULED:
            assignment_repo.unassign(
                session, ticket=ticket, actor_key_id=actor_key_id, at=at, note=item.message
            )
    plan_row.applied_at, plan_row.applied_by = at, actor_key_id
    plan_row.revision += 1
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


@dataclass(frozen=True, slots=True)
class PlanHead:
    """Which plan is in force for a day and region, and which revision of it."""

    run_id: int
    day: date
    revision: int


def applied_plan_head(
    session: Session, *, day: date, region_ids: Collection[str], for_update: bool = False
) -> PlanHead | None:
    """Return the plan applied last for ``day`` whose run covers one of ``region_ids``.

    ``for_update`` locks the plan's row (PostgreSQL) so that changes to it queue up.
    """
    query = (
        select(DispatchRunRow.id, DispatchRunRow.day, DispatchPlanRow.revision)
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
    if for_update:
        query = query.with_for_update(of=DispatchPlanRow)
    found = session.execute(query).first()
    return None if found is None else PlanHead(found[0], found[1], found[2])


def store_plan(session: Session, *, run_id: int, plan_doc: dict[str, Any]) -> None:
    """Replace a run's plan document and bump its revision."""
    session.execute(
        update(DispatchPlanRow)
        .where(DispatchPlanRow.run_id == run_id)
        .values(plan=plan_doc, revision=DispatchPlanRow.revision + 1)
        .execution_options(synchronize_session=False)
    )
