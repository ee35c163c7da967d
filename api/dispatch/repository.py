"""Dispatch in the database: a run's scope and problem, runs and plans, assignments and stops.

Functions take a session and keyword arguments, may flush, and never commit.
"""

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Text,
    and_,
    bindparam,
    cast,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import array as pg_array
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from api.customers.value_store import value_tiers
from api.customers.value_tiers import TierPolicy, TierTerms
from api.db.spatial import lonlat
from api.db.tables import (
    AssignmentRow,
    CustomerValueRow,
    DispatchPlanRow,
    DispatchRunRow,
    TechnicianLocationRow,
    TechnicianRow,
    TechnicianShiftRow,
    TicketRow,
)
from api.dispatch.problem_builder import (
    DayProblem,
    EmptyScope,
    Fleet,
    build_problem,
    day_bounds,
)
from api.tickets import repository as ticket_repo
from api.tickets.rules import Actor, TicketStatus, check_transition
from dispatch import DispatchError, Plan, Route
from geo.regions import RegionIndex

if TYPE_CHECKING:
    from sqlalchemy.sql.elements import BindParameter

# What a dispatch run covers: a region's tickets of a day, technicians on shift, pins, stamps.
PLANNABLE = (TicketStatus.NEW.value, TicketStatus.SCHEDULED.value)
# A day's run also re-times dispatched tickets (kept on their technician).
DISPATCHED = TicketStatus.DISPATCHED.value


def region_tickets(
    session: Session, *, region_ids: Collection[str], day: date, start: datetime, end: datetime
) -> list[TicketRow]:
    """Tickets to plan in ``region_ids`` on ``day`` (local ``[start, end)``).

    New, scheduled or dispatched tickets whose windows meet the day, or that have no window;
    a ticket assigned to another day stays there.
    """
    other_day = select(AssignmentRow.ticket_id).where(AssignmentRow.day != day)
    query = (
        select(TicketRow)
        .where(
            TicketRow.region_id.in_(list(region_ids)),
            TicketRow.status.in_([*PLANNABLE, DISPATCHED]),
            or_(
                TicketRow.window_start_at.is_(None),
                and_(TicketRow.window_start_at < end, TicketRow.window_end_at > start),
            ),
            TicketRow.id.not_in(other_day),
        )
        .order_by(TicketRow.id)
    )
    return list(session.scalars(query))


def tickets_by_id(session: Session, *, ticket_ids: Sequence[int]) -> list[TicketRow]:
    """Return the tickets with these ids, in id order (missing ids are simply absent)."""
    query = select(TicketRow).where(TicketRow.id.in_(list(ticket_ids))).order_by(TicketRow.id)
    return list(session.scalars(query))


def fleet(
    session: Session,
    *,
    day: date,
    index: RegionIndex,
    region_ids: Collection[str] | None,
    technician_ids: Collection[str] | None = None,
) -> Fleet:
    """Active technicians with a shift on ``day`` who may work in ``region_ids``.

    A technician qualifies by a territory that meets ``region_ids`` or, without a territory,
    by a home base inside them; ``region_ids=None`` takes everyone on shift.
    """
    shifts: dict[str, list[TechnicianShiftRow]] = {}
    for shift in session.scalars(select(TechnicianShiftRow).where(TechnicianShiftRow.day == day)):
        shifts.setdefault(shift.technician_id, []).append(shift)
    query = select(TechnicianRow).where(
        TechnicianRow.is_active.is_(True), TechnicianRow.id.in_(list(shifts))
    )
    if technician_ids is not None:
        query = query.where(TechnicianRow.id.in_(list(technician_ids)))
    rows = list(session.scalars(query.order_by(TechnicianRow.id)))
    if region_ids is not None:
        wanted = set(region_ids)
        rows = [r for r in rows if _works_in(r, wanted, index)]
    return Fleet(rows, shifts)


def _works_in(row: TechnicianRow, region_ids: set[str], index: RegionIndex) -> bool:
    if row.territory is not None:
        return any(region_ids & index.descendants(t) for t in row.territory)
    lon, lat = lonlat(row.home_base)
    return any(r.id in region_ids for r in index.containing(lon, lat))


def pins(session: Session, *, ticket_ids: Iterable[int]) -> dict[int, str]:
    """Return ``{ticket id: technician id}`` for the pinned tickets among ``ticket_ids``."""
    query = select(AssignmentRow.ticket_id, AssignmentRow.technician_id).where(
        AssignmentRow.ticket_id.in_(list(ticket_ids)), AssignmentRow.is_pinned.is_(True)
    )
    return {ticket: tech for ticket, tech in session.execute(query)}


def ticket_versions(tickets: Iterable[TicketRow]) -> dict[str, list[Any]]:
    """Snapshot what a plan depends on: status, technician and last change of each ticket."""
    return {str(t.id): [t.status, t.technician_id, t.updated_at.isoformat()] for t in tickets}


def stale_ticket_ids(session: Session, *, run: DispatchRunRow) -> list[int]:
    """Return the run's tickets that changed since it was submitted (in id order)."""
    ids = [int(i) for i in run.ticket_versions]
    now = ticket_versions(tickets_by_id(session, ticket_ids=ids))
    return sorted(i for i in ids if now.get(str(i)) != run.ticket_versions[str(i)])


@dataclass(frozen=True, slots=True)
class Stamps:
    """How many rows one part of a scope has, and the sum of a hash of each row's stamp."""

    count: int
    digest: int


@dataclass(frozen=True, slots=True)
class StampChange:
    """How an insertion changed a ticket's stamp: the hash of its new stamp and of the old."""

    now: int
    was: int


@dataclass(frozen=True, slots=True)
class ScopeState:
    """Stamps of everything a plan's live problem is built from; equal states, equal problems.

    Each ticket and technician by its ``updated_at`` (bumped by every change), pins as pairs,
    shifts by their content (a replaced shift may reuse its id on SQLite). Each part is kept as
    its row count and the sum of a hash of each row, computed where the rows are: a check
    then reads eight numbers whatever the size of the day (reading a 250-order day's rows
    back cost more than the rest of an insertion's reads). PostgreSQL hashes with
    ``hash_record_extended``; on SQLite the process hashes the rows it reads, with Python's
    ``hash`` (stable within a process, which is as far as a state travels).
    """

    tickets: Stamps
    pins: Stamps
    technicians: Stamps
    shifts: Stamps

    def with_ticket(self, change: StampChange, *, was_in_scope: bool) -> "ScopeState":
        """Return the state once a ticket's stamp changed as ``change`` says.

        ``was_in_scope``: the scope held the ticket already; else it joins the scope.
        """
        count, digest = self.tickets.count, self.tickets.digest + change.now
        if was_in_scope:
            digest -= change.was
        else:
            count += 1
        return replace(self, tickets=Stamps(count, digest))


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us(at: datetime) -> int:
    """Return an aware ``at`` as whole microseconds since the epoch (exact)."""
    return (at - EPOCH) // timedelta(microseconds=1)


def scope_state(
    session: Session, *, ticket_ids: Collection[int], technician_ids: Collection[str], day: date
) -> ScopeState:
    """Read the stamps of these tickets, their pins, these technicians and their shifts.

    Every urgent insertion and availability question reads this first, for a plan's few hundred
    tickets: on PostgreSQL it is one statement with array parameters that hashes on the server
    (four statements with hundreds of bound values each took about ten times as long); SQLite
    has no round trip to save.
    """
    if session.get_bind().dialect.name == "postgresql":
        params = {"ticket_ids": list(ticket_ids), "technician_ids": list(technician_ids)}
        parts = session.execute(SCOPE_STATE_AT_ONCE, {**params, "day": day}).one()
        return ScopeState(*(Stamps(int(count), int(digest)) for count, digest in parts))
    tickets = select(TicketRow.id, TicketRow.updated_at).where(TicketRow.id.in_(list(ticket_ids)))
    pinned = select(AssignmentRow.ticket_id, AssignmentRow.technician_id).where(
        AssignmentRow.ticket_id.in_(list(ticket_ids)), AssignmentRow.is_pinned.is_(True)
    )
    techs = select(TechnicianRow.id, TechnicianRow.updated_at).where(
        TechnicianRow.id.in_(list(technician_ids))
    )
    shift = TechnicianShiftRow
    shifts = select(shift.technician_id, shift.start_at, shift.end_at, shift.breaks).where(
        shift.technician_id.in_(list(technician_ids)), shift.day == day
    )
    return ScopeState(
        tickets=_stamps(_ticket_hash(i, at) for i, at in session.execute(tickets)),
        pins=_stamps(hash((i, tech)) for i, tech in session.execute(pinned)),
        technicians=_stamps(hash((i, epoch_us(at))) for i, at in session.execute(techs)),
        shifts=_stamps(
            hash((tech, epoch_us(start), epoch_us(end), _canonical(breaks)))
            for tech, start, end, breaks in session.execute(shifts)
        ),
    )


def _ticket_hash(ticket_id: int, updated_at: datetime) -> int:
    """Return a ticket's stamp hashed in the process (SQLite): see ``ScopeState``."""
    return hash((ticket_id, epoch_us(updated_at)))


def _stamps(hashes: Iterable[int]) -> Stamps:
    listed = list(hashes)
    return Stamps(len(listed), sum(listed))


def _row_hash(*columns: Any) -> Any:
    """Return the row's hash on PostgreSQL: by each column's type, with no text conversion."""
    return func.hash_record_extended(func.row(*columns), 0)


def _counted(*columns: Any) -> Any:
    """Return the rows' count and the sum of their hashes, as a two-element array."""
    return pg_array([func.count(), func.coalesce(func.sum(_row_hash(*columns)), 0)])


def _scope_state_statement() -> Any:
    """``scope_state`` as one PostgreSQL statement: each part's count and sum of hashes.

    Built once: constructing it took as long as running it. The id arrays are untyped, so
    psycopg sends the narrowest integer array, which PostgreSQL reads about twice as fast as
    the same ids cast to BIGINT[]. JSON has no hash, so shifts hash their breaks as text.
    """
    ids: BindParameter[list[int]] = bindparam("ticket_ids")
    techs: BindParameter[list[str]] = bindparam("technician_ids")
    shift = TechnicianShiftRow
    parts = [
        select(_counted(TicketRow.id, TicketRow.updated_at)).where(TicketRow.id == func.any(ids)),
        select(_counted(AssignmentRow.ticket_id, AssignmentRow.technician_id)).where(
            AssignmentRow.ticket_id == func.any(ids), AssignmentRow.is_pinned.is_(True)
        ),
        select(_counted(TechnicianRow.id, TechnicianRow.updated_at)).where(
            TechnicianRow.id == func.any(techs)
        ),
        select(
            _counted(shift.technician_id, shift.start_at, shift.end_at, cast(shift.breaks, Text))
        ).where(shift.technician_id == func.any(techs), shift.day == bindparam("day")),
    ]
    return select(*(part.scalar_subquery() for part in parts))


SCOPE_STATE_AT_ONCE = _scope_state_statement()


def _canonical(breaks: Any) -> str:
    return json.dumps(breaks, sort_keys=True)


# A run's problem: its scope's tickets and technicians as a ``DayProblem``, within the caps.
#
# Technicians start where they are now (a recent ping, or the job they are doing) and free when
# that job ends.
UNDER_WAY = (TicketStatus.EN_ROUTE.value, TicketStatus.ON_SITE.value)
POSITION_MAX_AGE = timedelta(minutes=30)  # an older ping says little about where someone is


@dataclass(frozen=True, slots=True)
class Limits:
    """Problem-size caps of one run."""

    max_orders: int
    max_technicians: int


def region_day_problem(
    session: Session,
    *,
    index: RegionIndex,
    region_id: str,
    day: date,
    limits: Limits,
    catalog: Collection[str],
    now: datetime,
    tier_policy: TierPolicy | None = None,
) -> tuple[DayProblem, list[TicketRow]]:
    """Load and build the problem of a region (and the regions inside it) on ``day``."""
    zone = ZoneInfo(index.get(region_id).time_zone)
    region_ids = index.descendants(region_id)
    start, end = day_bounds(day, zone)
    tickets = region_tickets(session, region_ids=region_ids, day=day, start=start, end=end)
    crew = fleet(session, day=day, index=index, region_ids=region_ids)
    built = _build(session, index, tickets, crew, day, zone, limits, catalog, now, tier_policy)
    return built, tickets


def ticket_list_problem(
    session: Session,
    *,
    index: RegionIndex,
    ticket_ids: Sequence[int],
    day: date | None,
    limits: Limits,
    catalog: Collection[str],
    now: datetime,
    tier_policy: TierPolicy | None = None,
    default_zone: str,
) -> tuple[DayProblem, list[TicketRow]]:
    """Load and build the problem of explicit tickets on ``day`` (default: their first window)."""
    _check_size(len(set(ticket_ids)), 0, limits)
    tickets = tickets_by_id(session, ticket_ids=ticket_ids)
    missing = sorted(set(ticket_ids) - {t.id for t in tickets})
    if missing:
        raise UnknownTickets(f"no tickets {missing}", field="scope.ticket_ids", ticket_ids=missing)
    closed = [t.id for t in tickets if t.status not in PLANNABLE]
    if closed:
        raise NotPlannable(
            f"tickets {closed} are past scheduling (only new and scheduled tickets are planned)",
            field="scope.ticket_ids", ticket_ids=closed,
        )  # fmt: skip
    region = next((t.region_id for t in tickets if t.region_id), None)
    zone = ZoneInfo(index.get(region).time_zone if region else default_zone)
    starts = [t.window_start_at for t in tickets if t.window_start_at is not None]
    if day is None and not starts:
        raise EmptyScope(
            "none of the tickets has a time window: give scope.date", field="scope.date"
        )
    day = day or min(starts).astimezone(zone).date()
    covering = {a for t in tickets if t.region_id for a in index.ancestors(t.region_id)}
    crew = fleet(session, day=day, index=index, region_ids=covering)
    built = _build(session, index, tickets, crew, day, zone, limits, catalog, now, tier_policy)
    return built, tickets


def _check_size(n_orders: int, n_technicians: int, limits: Limits) -> None:
    if n_orders > limits.max_orders or n_technicians > limits.max_technicians:
        raise ProblemTooLarge(
            f"{n_orders} tickets and {n_technicians} technicians exceed this service's cap of "
            f"{limits.max_orders} tickets and {limits.max_technicians} technicians per run; "
            "split the day by region",
            field="scope", n_tickets=n_orders, n_technicians=n_technicians,
            max_tickets=limits.max_orders, max_technicians=limits.max_technicians,
        )  # fmt: skip


def _build(
    session: Session,
    index: RegionIndex,
    tickets: list[TicketRow],
    crew: Fleet,
    day: date,
    zone: ZoneInfo,
    limits: Limits,
    catalog: Collection[str],
    now: datetime,
    tier_policy: TierPolicy | None,
) -> DayProblem:
    _check_size(len(tickets), len(crew.technicians), limits)
    ids = [t.id for t in tickets]
    kept = {t.id: t.technician_id for t in tickets if t.status == DISPATCHED and t.technician_id}
    tech_ids = [t.id for t in crew.technicians]
    where = positions(session, technician_ids=tech_ids, now=now)
    jobs = jobs_under_way(session, technician_ids=tech_ids, day=day)
    where |= {tech: job[0] for tech, job in jobs.items()}
    return build_problem(
        index=index, tickets=tickets, fleet=crew, pins=pins(session, ticket_ids=ids) | kept,
        day=day, zone=zone, skill_catalog=catalog, now=now, positions=where,
        free_from={tech: job[1] for tech, job in jobs.items()},
        terms=tier_terms(session, tickets, tier_policy),
    )  # fmt: skip


def tier_terms(
    session: Session, tickets: Collection[TicketRow], policy: TierPolicy | None
) -> TierTerms | None:
    """Return the value-tier terms of the tickets' customers (None: tiers are not applied)."""
    if policy is None:
        return None
    customers = {t.customer_id for t in tickets if t.customer_id is not None}
    return TierTerms(policy, value_tiers(session, customer_ids=customers))


def positions(
    session: Session, *, technician_ids: Collection[str], now: datetime
) -> dict[str, tuple[float, float]]:
    """Return the latest recent GPS position of each technician who has one."""
    latest = (
        select(
            TechnicianLocationRow.technician_id,
            func.max(TechnicianLocationRow.recorded_at).label("at"),
        )
        .where(
            TechnicianLocationRow.technician_id.in_(list(technician_ids)),
            TechnicianLocationRow.recorded_at >= now - POSITION_MAX_AGE,
        )
        .group_by(TechnicianLocationRow.technician_id)
        .subquery()
    )
    query = select(TechnicianLocationRow).join(
        latest,
        and_(
            TechnicianLocationRow.technician_id == latest.c.technician_id,
            TechnicianLocationRow.recorded_at == latest.c.at,
        ),
    )
    return {row.technician_id: lonlat(row.location) for row in session.scalars(query)}


def jobs_under_way(
    session: Session, *, technician_ids: Collection[str], day: date
) -> dict[str, tuple[tuple[float, float], datetime]]:
    """Return, per technician en route or on site that day, where the job is and when it ends.

    The end is the assignment's planned end, or the job's duration from the status change.
    """
    query = (
        select(TicketRow, AssignmentRow.end_at)
        .join(AssignmentRow, AssignmentRow.ticket_id == TicketRow.id)
        .where(
            AssignmentRow.technician_id.in_(list(technician_ids)),
            AssignmentRow.day == day,
            TicketRow.status.in_(UNDER_WAY),
        )
        .order_by(AssignmentRow.sequence)
    )
    jobs: dict[str, tuple[tuple[float, float], datetime]] = {}
    for ticket, end_at in session.execute(query):
        until = end_at or ticket.updated_at + timedelta(minutes=ticket.duration_min)
        jobs[str(ticket.technician_id)] = (lonlat(ticket.location), until)
    return jobs


class ProblemTooLarge(DispatchError):
    """A run would exceed the service's problem-size cap."""

    code: ClassVar[str] = "problem_too_large"


class UnknownTickets(DispatchError):
    """A run names tickets that do not exist."""

    code: ClassVar[str] = "unknown_tickets"


class NotPlannable(DispatchError):
    """A run names tickets that are already dispatched, done or cancelled."""

    code: ClassVar[str] = "not_plannable"


# Runs and their plans, applying a plan.
UNFINISHED = ("queued", "running")


def add_run(
    session: Session,
    *,
    scope: dict[str, Any],
    region_id: str | None,
    day: date,
    time_limit_s: float,
    tickets: Sequence[TicketRow],
    n_technicians: int,
    created_by: str,
    at: datetime,
) -> DispatchRunRow:
    """Store a ``queued`` run of ``tickets`` (with their versions, to tell a stale plan later)."""
    run = DispatchRunRow(
        scope=scope, region_id=region_id, day=day, params={"time_limit_s": time_limit_s},
        status="queued", phase="queued", progress=0.0, n_orders=len(tickets),
        n_technicians=n_technicians, ticket_versions=ticket_versions(tickets),
        created_by=created_by, created_at=at, heartbeat_at=at,
    )  # fmt: skip
    session.add(run)
    session.flush()
    return run


def get_technician(session: Session, *, technician_id: str) -> TechnicianRow | None:
    """Return the technician, or ``None``."""
    return session.get(TechnicianRow, technician_id)


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
    rows = {t.id: t for t in tickets_by_id(session, ticket_ids=ids)}
    placed: list[int] = []
    for route in plan.routes:
        for stop in route.stops:
            ticket = rows[int(stop.order_id)]
            tech = route.technician_id
            _schedule(session, ticket=ticket, technician_id=tech, key=actor_key_id, at=at)
            placed.append(ticket.id)
        store_route(
            session, run_id=run.id, day=run.day, plan=plan, route=route,
            actor_key_id=actor_key_id, at=at,
        )  # fmt: skip
    for item in plan.unassigned:
        ticket = rows[int(item.order_id)]
        if ticket.status == TicketStatus.SCHEDULED:
            unassign(session, ticket=ticket, actor_key_id=actor_key_id, at=at, note=item.message)
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


def _plan_head_statement(*, for_update: bool) -> Any:
    """``applied_plan_head``'s query, built once: building it took as long as running it."""
    query = (
        select(DispatchRunRow.id, DispatchRunRow.day, DispatchPlanRow.revision)
        .join(DispatchPlanRow, DispatchPlanRow.run_id == DispatchRunRow.id)
        .where(
            DispatchRunRow.day == bindparam("day"),
            DispatchPlanRow.applied_at.is_not(None),
            or_(
                DispatchRunRow.region_id.in_(bindparam("region_ids", expanding=True)),
                DispatchRunRow.region_id.is_(None),
            ),
        )
        .order_by(  # a region's own plan before one for a list of tickets
            DispatchRunRow.region_id.is_(None),
            DispatchPlanRow.applied_at.desc(),
            DispatchRunRow.id.desc(),
        )
        .limit(1)
    )
    return query.with_for_update(of=DispatchPlanRow) if for_update else query


PLAN_HEAD = _plan_head_statement(for_update=False)
PLAN_HEAD_LOCKED = _plan_head_statement(for_update=True)


def applied_plan_head(
    session: Session, *, day: date, region_ids: Collection[str], for_update: bool = False
) -> PlanHead | None:
    """Return the plan applied last for ``day`` whose run covers one of ``region_ids``.

    ``for_update`` locks the plan's row (PostgreSQL) so that changes to it queue up.
    """
    query = PLAN_HEAD_LOCKED if for_update else PLAN_HEAD
    found = session.execute(query, {"day": day, "region_ids": list(region_ids)}).first()
    return None if found is None else PlanHead(found[0], found[1], found[2])


def store_plan(session: Session, *, run_id: int, plan_doc: dict[str, Any]) -> None:
    """Replace a run's plan document and bump its revision."""
    session.execute(
        update(DispatchPlanRow)
        .where(DispatchPlanRow.run_id == run_id)
        .values(plan=plan_doc, revision=DispatchPlanRow.revision + 1)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True, slots=True)
class TicketPlace:
    """Where and when a ticket is, read without its row: enough to find its day's plan."""

    region_id: str | None
    window_start_at: datetime | None
    location: tuple[float, float]


TICKET_PLACE = select(TicketRow.region_id, TicketRow.window_start_at, TicketRow.location).where(
    TicketRow.id == bindparam("ticket_id")
)


def ticket_place(session: Session, *, ticket_id: int) -> TicketPlace | None:
    """Return the ticket's region, first window's start and location, or ``None``."""
    found = session.execute(TICKET_PLACE, {"ticket_id": ticket_id}).first()
    return None if found is None else TicketPlace(found[0], found[1], lonlat(found[2]))


@dataclass(frozen=True, slots=True)
class LockedTicket:
    """A ticket read under its lock, with the pin and the customer's value tier of that moment."""

    row: TicketRow
    pinned_to: str | None
    customer_tier: str | None

    def terms(self, policy: TierPolicy | None) -> TierTerms | None:
        """Return the value-tier terms of this ticket (``None``: tiers are not applied)."""
        if policy is None:
            return None
        customer_id, tier = self.row.customer_id, self.customer_tier
        known = {} if customer_id is None or tier is None else {customer_id: tier}
        return TierTerms(policy, known)


def _locked_ticket_statement() -> Any:
    """``locked_ticket``'s query, built once (building it took as long as running it)."""
    pin = (
        select(AssignmentRow.technician_id)
        .where(AssignmentRow.ticket_id == TicketRow.id, AssignmentRow.is_pinned.is_(True))
        .scalar_subquery()
    )
    tier = (
        select(CustomerValueRow.tier)
        .where(CustomerValueRow.customer_id == TicketRow.customer_id)
        .scalar_subquery()
    )
    return (
        select(TicketRow, pin, tier)
        .where(TicketRow.id == bindparam("ticket_id"))
        .with_for_update(of=TicketRow)
        .execution_options(populate_existing=True)
    )


LOCKED_TICKET = _locked_ticket_statement()


def locked_ticket(session: Session, *, ticket_id: int) -> LockedTicket | None:
    """Return the ticket locked (PostgreSQL) and re-read, with its pin and its customer's tier.

    One query: the pin and the tier are read under the same lock as the status they go with.
    """
    found = session.execute(LOCKED_TICKET, {"ticket_id": ticket_id}).first()
    return None if found is None else LockedTicket(found[0], found[1], found[2])


def record_insertion(
    session: Session,
    *,
    ticket: TicketRow,
    head: PlanHead,
    plan: Plan,
    route: Route,
    plan_doc: dict[str, Any],
    plan_json: str,
    actor_key_id: str,
    at: datetime,
) -> StampChange:
    """Schedule a ``new`` ticket (locked) that an insertion put on ``route`` of ``head``'s plan.

    Writes what ``transition``, ``store_route`` and ``store_plan`` would: the ticket and its
    history row, the route's changed assignments, the plan document with its revision bumped.
    On PostgreSQL that is one statement, a single round trip (the insertion's answer waits on
    it); ``ticket`` is then updated in place as the statement left the row. Returns how the
    ticket's stamp changed, hashed as ``scope_state`` hashes it, for the kept copy's state.
    ``plan_json`` is ``plan_doc`` as JSON text, which PostgreSQL takes as it is.
    """
    note = f"inserted into the plan of run {head.run_id}"
    if session.get_bind().dialect.name != "postgresql":
        was = _ticket_hash(ticket.id, ticket.updated_at)
        ticket_repo.transition(
            session, ticket=ticket, target=TicketStatus.SCHEDULED, actor=Actor.STAFF,
            actor_key_id=actor_key_id, at=at, technician_id=route.technician_id, note=note,
        )  # fmt: skip
        store_route(
            session, run_id=head.run_id, day=head.day, plan=plan, route=route,
            actor_key_id=actor_key_id, at=at,
        )  # fmt: skip
        store_plan(session, run_id=head.run_id, plan_doc=plan_doc)
        return StampChange(now=_ticket_hash(ticket.id, at), was=was)
    check_transition(TicketStatus(ticket.status), TicketStatus.SCHEDULED, Actor.STAFF)
    params = {
        "ticket_id": ticket.id, "from_status": ticket.status,
        "to_status": TicketStatus.SCHEDULED.value, "technician_id": route.technician_id,
        "at": at, "actor_key_id": actor_key_id, "note": note,
        "day": head.day, "run_id": head.run_id, "plan": plan_json,
        "stop_ticket_ids": [int(stop.order_id) for stop in route.stops],
        "etas": [plan.at(stop.arrival_s) for stop in route.stops],
        "starts": [plan.at(stop.start_s) for stop in route.stops],
        "ends": [plan.at(stop.end_s) for stop in route.stops],
    }  # fmt: skip
    scheduled = session.execute(INSERTION_AT_ONCE, params).first()
    if scheduled is None:  # the caller holds the row's lock and saw it ``new``
        raise RuntimeError(f"ticket {ticket.id} changed under its lock")
    for name, value in (
        ("status", TicketStatus.SCHEDULED.value), ("technician_id", route.technician_id),
        ("updated_at", at),
    ):  # fmt: skip
        set_committed_value(ticket, name, value)
    stamp, stamp_was = scheduled
    return StampChange(now=int(stamp), was=int(stamp_was))


# The ticket's change and its history row (as ``tickets.repository.transition``), the route's
# assignments where they differ (as ``store_route``: stamped only when changed, a pin kept), and
# the plan document (as ``store_plan``).
INSERTION_AT_ONCE = text(
    """
    WITH scheduled AS (
        UPDATE ticket SET status = :to_status, technician_id = :technician_id, updated_at = :at
        FROM ticket AS was
        WHERE ticket.id = :ticket_id AND ticket.status = :from_status AND was.id = ticket.id
        RETURNING ticket.id,
            hash_record_extended(ROW(ticket.id, ticket.updated_at), 0) AS stamp,
            hash_record_extended(ROW(was.id, was.updated_at), 0) AS stamp_was
    ), history AS (
        INSERT INTO ticket_status_change (ticket_id, from_status, to_status, at, actor_key_id, note)
        SELECT id, :from_status, :to_status, :at, :actor_key_id, :note FROM scheduled
    ), stops AS (
        INSERT INTO assignment AS a (
            ticket_id, technician_id, day, sequence, eta_at, start_at, end_at, is_pinned, source,
            run_id, assigned_at, assigned_by
        )
        SELECT s.ticket_id, :technician_id, :day, s.sequence, s.eta_at, s.start_at, s.end_at,
            false, 'run', :run_id, :at, :actor_key_id
        FROM unnest(
            CAST(:stop_ticket_ids AS bigint[]), CAST(:etas AS timestamptz[]),
            CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[])
        ) WITH ORDINALITY AS s(ticket_id, eta_at, start_at, end_at, sequence)
        ON CONFLICT (ticket_id) DO UPDATE SET
            technician_id = excluded.technician_id, day = excluded.day,
            sequence = excluded.sequence, eta_at = excluded.eta_at,
            start_at = excluded.start_at, end_at = excluded.end_at, source = excluded.source,
            run_id = excluded.run_id, assigned_at = excluded.assigned_at,
            assigned_by = excluded.assigned_by
        WHERE (a.technician_id, a.day, a.sequence, a.eta_at, a.start_at, a.end_at, a.source,
            a.run_id) IS DISTINCT FROM (excluded.technician_id, excluded.day, excluded.sequence,
            excluded.eta_at, excluded.start_at, excluded.end_at, excluded.source, excluded.run_id)
    ), stored_plan AS (
        UPDATE dispatch_plan SET plan = CAST(:plan AS json), revision = revision + 1
        WHERE run_id = :run_id
    )
    SELECT stamp, stamp_was FROM scheduled
    """
)


# Assignments of tickets to technicians: create, move, pin, drop, and each day's stops.
def assignment_of(session: Session, *, ticket_id: int) -> AssignmentRow | None:
    """Return the ticket's current assignment, or ``None``."""
    return session.scalar(select(AssignmentRow).where(AssignmentRow.ticket_id == ticket_id))


def shift_of(session: Session, *, technician_id: str, day: date) -> TechnicianShiftRow | None:
    """Return the technician's shift on ``day``, or ``None`` when off duty."""
    query = select(TechnicianShiftRow).where(
        TechnicianShiftRow.technician_id == technician_id, TechnicianShiftRow.day == day
    )
    return session.scalar(query)


def booked(
    session: Session, *, technician_id: str, day: date, except_ticket_id: int
) -> list[TicketRow]:
    """Return the other tickets assigned to the technician on ``day``."""
    query = (
        select(TicketRow)
        .join(AssignmentRow, AssignmentRow.ticket_id == TicketRow.id)
        .where(
            AssignmentRow.technician_id == technician_id,
            AssignmentRow.day == day,
            TicketRow.id != except_ticket_id,
        )
    )
    return list(session.scalars(query))


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
    _fill(row, technician_id, day, sequence, times, run_id)
    row.assigned_at, row.assigned_by = at, actor_key_id
    if is_pinned is not None:
        row.is_pinned = is_pinned
    session.flush()
    return row


def _fill(
    row: AssignmentRow,
    technician_id: str,
    day: date,
    sequence: int | None,
    times: tuple[datetime, datetime, datetime] | None,
    run_id: int | None,
) -> None:
    row.technician_id, row.day, row.sequence = technician_id, day, sequence
    row.eta_at, row.start_at, row.end_at = times or (None, None, None)
    row.source, row.run_id = ("manual", None) if run_id is None else ("run", run_id)


def _as_filled(row: AssignmentRow) -> tuple[object, ...]:
    return (
        row.technician_id, row.day, row.sequence, row.eta_at, row.start_at, row.end_at,
        row.source, row.run_id,
    )  # fmt: skip


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


def store_route(
    session: Session,
    *,
    run_id: int,
    day: date,
    plan: Plan,
    route: Route,
    actor_key_id: str,
    at: datetime,
) -> None:
    """Write a changed route's sequence and times to its tickets' assignments (run ``run_id``).

    Only the assignments that differ are written (and stamped ``at``): one query reads the
    route's rows, and a stop already stored with this technician, sequence, times and run
    stays as it is. A pin survives, as with ``upsert_assignment``.
    """
    ids = [int(stop.order_id) for stop in route.stops]
    query = select(AssignmentRow).where(AssignmentRow.ticket_id.in_(ids))
    rows = {row.ticket_id: row for row in session.scalars(query)}
    for sequence, (ticket_id, stop) in enumerate(zip(ids, route.stops, strict=True), start=1):
        row = rows.get(ticket_id)
        if row is None:
            row = AssignmentRow(ticket_id=ticket_id, is_pinned=False)
            session.add(row)
        before = None if row.id is None else _as_filled(row)
        times = (plan.at(stop.arrival_s), plan.at(stop.start_s), plan.at(stop.end_s))
        _fill(row, route.technician_id, day, sequence, times, run_id)
        if _as_filled(row) != before:
            row.assigned_at, row.assigned_by = at, actor_key_id
    session.flush()
