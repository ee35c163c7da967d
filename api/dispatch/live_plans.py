"""Applied plans kept ready for urgent insertion and availability, checked on every use.

Rebuilding an applied plan's problem on every request (its tickets and technicians as they are
now) costs a dozen queries and hundreds of row conversions. So each process keeps the last few
applied plans it served as ``LiveDay`` copies: the plan, its tickets as work orders, its fleet.
More than one process serves the same plans, so a copy is never trusted: every use reads the
plan's revision and the stamps of everything the copy was built from (``ScopeState``: a count
and a sum of hashes per kind of row, one statement on PostgreSQL) and rebuilds it when anything
differs. An accepted insertion updates the
copy with what it wrote itself, never with what it reads back, so a change another process
makes meanwhile still shows up as a difference.

A ``dispatch.insertion.LivePlan`` cannot take an order outside its problem, and every insertion
or availability question brings a new one. So each copy also keeps its day's problem and
routing arrays built once (``live_problem.DayBase``, per skill catalogue), and a request
extends them by its one order (a travel row and column, that order's arrays) instead of
building them again; an accepted insertion extends the copy's the same way. An order the copy
already holds (a ticket the plan left out) still goes through a full build.
"""

import json
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from threading import Lock
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from api.customers.value_tiers import TierPolicy, TierTerms
from api.db.base import Base
from api.db.tables import TicketRow
from api.dispatch import repository as repo
from api.dispatch.live_problem import DayBase
from api.dispatch.problem_builder import EmptyScope, Fleet, build_problem, day_origin, ticket_order
from api.dispatch.repository import PlanHead, ScopeState, StampChange
from dispatch import Plan, Route, Unassigned, WorkOrder
from dispatch.insertion import LivePlan
from dispatch.plan_io import plan_from_dict
from dispatch.problem_io import Json
from geo.regions import RegionIndex

MAX_PLANS = 4  # a process serves one or a few regions' days; each copy holds a day's plan
RowT = TypeVar("RowT", bound=Base)


@dataclass(frozen=True, slots=True)
class LiveDay:
    """An applied plan and what its live problem is built from, as of ``revision`` and ``state``.

    ``plan_doc`` is ``plan`` as stored (``plan_to_dict``), kept to write the next one from;
    ``orders`` are the plan's tickets over the whole day (the plan's times stay reproducible);
    ``fleet`` holds copies of the rows, outside any session; ``terms`` the value tiers the
    orders were built with. ``bases`` holds the day's problem
    built once per skill catalogue (``None``: it cannot be extended), filled on first use.
    """

    run_id: int
    revision: int
    day: date
    zone: ZoneInfo
    index: RegionIndex
    plan: Plan
    plan_doc: Json = field(compare=False, repr=False)
    orders: tuple[WorkOrder, ...]
    fleet: Fleet
    state: ScopeState | None  # None: not known, so the next use reloads the copy
    terms: TierTerms | None = field(compare=False, repr=False)
    bases: dict[frozenset[str], DayBase | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    route_json: dict[tuple[str, int], tuple[Json, str]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def plan_json(self, document: Json) -> str:
        """Return ``document`` (this day's plan, or its next revision) as JSON text.

        Writing the 60 KB document took about half a millisecond of each accepted insertion,
        which changes one route: the text of each route entry is kept while the entry itself
        is (the next revision shares the unchanged ones), so only the changed route is
        written again. The copies grown from this day share the texts.
        """
        routes = []
        for route in document["routes"]:
            key = (route["technician_id"], route["shift_index"])
            kept = self.route_json.get(key)
            if kept is None or kept[0] is not route:
                kept = self.route_json[key] = (route, json.dumps(route))
            routes.append(kept[1])
        rest = json.dumps({k: v for k, v in document.items() if k != "routes"})
        return '{"routes": [' + ", ".join(routes) + "]" + (", " + rest[1:] if rest != "{}" else "}")

    def live_plan(self, order: WorkOrder, catalog: Collection[str]) -> LivePlan | Unassigned:
        """Return the plan ready to take ``order``, or why ``order`` cannot be served at all."""
        base = self.base(catalog)
        if base is not None and all(o.id != order.id for o in self.orders):
            left_out = base.left_out(order)
            if left_out is not None:
                return left_out
            grown = base.with_order(order)
            if grown is not None:
                return grown.live  # the request's own copy: its insertions change no other
        return self._rebuilt_live_plan(order, catalog)

    def base(self, catalog: Collection[str]) -> DayBase | None:
        """Return the day's problem over ``orders`` for ``catalog``, built on first use."""
        key = frozenset(catalog)
        if key not in self.bases:
            try:
                built = build_problem(
                    index=self.index, tickets=[], fleet=self.fleet, pins={}, day=self.day,
                    zone=self.zone, skill_catalog=catalog, now=None, extra=self.orders,
                )  # fmt: skip
            except EmptyScope:
                self.bases[key] = None
            else:
                self.bases[key] = DayBase.of(built, self.index, self.plan)
        return self.bases[key]

    def _rebuilt_live_plan(
        self, order: WorkOrder, catalog: Collection[str]
    ) -> LivePlan | Unassigned:
        orders = [o for o in self.orders if o.id != order.id]  # a ticket the plan left out
        built = build_problem(
            index=self.index, tickets=[], fleet=self.fleet, pins={}, day=self.day, zone=self.zone,
            skill_catalog=catalog, now=None, extra=[*orders, order],
        )  # fmt: skip
        left_out = next((u for u in built.excluded if u.order_id == order.id), None)
        return left_out if left_out is not None else LivePlan(built.problem, self.plan)

    def inserted(
        self, live: LivePlan, route: Route, ticket: TicketRow, pinned_to: str | None,
        terms: TierTerms | None, plan_doc: Json, change: StampChange,
    ) -> "LiveDay":  # fmt: skip
        """Return the copy once ``ticket`` is in ``live``'s plan on ``route``, as written.

        ``plan_doc`` is the plan as stored, ``change`` how the ticket's stamp changed. The day
        that took the order is kept as ``live`` left it when the order it took is the one the
        copy holds (its windows were not cut at the present); other days take the order
        afresh. A pinned ticket new to the scope brings a pin the state cannot count without
        reading it back, so the copy is then left to be checked and reloaded.
        """
        order, _ = ticket_order(
            ticket, day_origin(self.day, self.zone), now_s=0, pinned_to=pinned_to, terms=terms
        )
        was_in_scope = ticket.id in ticket_ids(self.plan)
        state = None
        if self.state is not None and (was_in_scope or pinned_to is None):
            state = self.state.with_ticket(change, was_in_scope=was_in_scope)
        is_new = all(o.id != order.id for o in self.orders)
        orders = (*(o for o in self.orders if o.id != order.id), order)
        bases = {k: _with(b, order, live, route) for k, b in self.bases.items()} if is_new else {}
        return replace(
            self, revision=self.revision + 1, plan=live.plan, plan_doc=plan_doc, orders=orders,
            state=state, bases={k: b for k, b in bases.items() if b is not None},
        )  # fmt: skip


def _with(base: DayBase | None, order: WorkOrder, live: LivePlan, route: Route) -> DayBase | None:
    """Return ``base`` with ``order`` appended and ``live``'s plan; ``None``: rebuild."""
    if base is None or base.left_out(order) is not None:
        return None
    if live.problem.orders[-1] == order:
        kept = base.after_insertion(live)
        if kept is not None:
            return kept
    grown = base.with_order(order)
    return None if grown is None else grown.rescheduled(live.plan, route)


class LivePlanCache:
    """The last ``size`` applied plans this process served, by run and time zone (LRU)."""

    def __init__(self, size: int = MAX_PLANS) -> None:
        self._size = size
        self._days: OrderedDict[tuple[int, str], LiveDay] = OrderedDict()
        self._lock = Lock()

    def kept(self) -> list[LiveDay]:
        """Return the copies kept, least recently used first."""
        with self._lock:
            return list(self._days.values())

    def get(
        self, session: Session, *, head: PlanHead, zone: ZoneInfo, index: RegionIndex,
        tier_policy: TierPolicy | None,
    ) -> LiveDay:  # fmt: skip
        """Return the plan of ``head`` as the database has it now: the copy if still current."""
        with self._lock:
            cached = self._days.get((head.run_id, zone.key))
        if cached is not None and cached.revision == head.revision and cached.index is index:
            state = repo.scope_state(
                session, ticket_ids=ticket_ids(cached.plan),
                technician_ids=technician_ids(cached.plan), day=cached.day,
            )  # fmt: skip
            if state == cached.state:
                self.put(cached)
                return cached
        fresh = load_live_day(session, head=head, zone=zone, index=index, tier_policy=tier_policy)
        self.put(fresh)
        return fresh

    def put(self, day: LiveDay) -> None:
        """Keep ``day`` as the most recently used copy, dropping the least recently used."""
        key = (day.run_id, day.zone.key)
        with self._lock:
            self._days[key] = day
            self._days.move_to_end(key)
            while len(self._days) > self._size:
                self._days.popitem(last=False)


def load_live_day(
    session: Session, *, head: PlanHead, zone: ZoneInfo, index: RegionIndex,
    tier_policy: TierPolicy | None,
) -> LiveDay:  # fmt: skip
    """Load the plan of ``head`` with its tickets and technicians as they are now.

    The stamps are read first: data read after them is at least as new, and if it is newer
    the next check finds a difference and loads again.
    """
    plan_row = repo.get_plan(session, run_id=head.run_id)
    assert plan_row is not None  # the head was read from it
    plan = plan_from_dict(plan_row.plan)
    ids, tech_ids = ticket_ids(plan), technician_ids(plan)
    state = repo.scope_state(session, ticket_ids=ids, technician_ids=tech_ids, day=head.day)
    tickets = repo.tickets_by_id(session, ticket_ids=ids)
    crew = repo.fleet(session, day=head.day, index=index, region_ids=None, technician_ids=tech_ids)
    pins = repo.pins(session, ticket_ids=ids)
    origin = day_origin(head.day, zone)
    terms = repo.tier_terms(session, tickets, tier_policy)
    candidates = [
        ticket_order(t, origin, now_s=0, pinned_to=pins.get(t.id), terms=terms) for t in tickets
    ]
    return LiveDay(
        run_id=head.run_id, revision=head.revision, day=head.day, zone=zone, index=index,
        plan=plan, plan_doc=plan_row.plan,
        orders=tuple(order for order, is_over in candidates if not is_over),
        fleet=_detached(crew), state=state, terms=terms,
    )  # fmt: skip


def ticket_ids(plan: Plan) -> list[int]:
    """Return the tickets of a stored plan: on its routes and left out."""
    ids = [int(s.order_id) for r in plan.routes for s in r.stops]
    return ids + [int(u.order_id) for u in plan.unassigned]


def technician_ids(plan: Plan) -> set[str]:
    """Return the technicians a stored plan was made for."""
    return set(plan.kpis.load_s_by_technician) | {r.technician_id for r in plan.routes}


def _detached(crew: Fleet) -> Fleet:
    """Copy the fleet's rows out of the session: its commit would expire them."""
    shifts = {r.id: _copies(crew.shifts.get(r.id, ())) for r in crew.technicians}
    return Fleet(_copies(crew.technicians), shifts)


def _copies(rows: Sequence[RowT]) -> list[RowT]:
    return [
        type(row)(**{a.key: getattr(row, a.key) for a in inspect(type(row)).column_attrs})
        for row in rows
    ]
