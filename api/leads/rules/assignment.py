"""Who works a lead, and by when they must first respond.

Rules, in order: the territory's team (the ``team`` attribute of the lead's region), then owners
who handle the product line, then the least-loaded owner (ties by id).  Hot leads are assigned
first, so when a batch arrives the best owners' spare capacity goes to the best leads.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

SLA_BY_BAND = MappingProxyType(
    {"hot": timedelta(minutes=15), "warm": timedelta(hours=2), "cold": timedelta(hours=24)}
)


@dataclass(frozen=True, slots=True)
class Owner:
    """Someone who works leads: a team (territory), product lines, and current open leads."""

    id: str
    team: str | None
    product_lines: frozenset[str]
    open_leads: int = 0
    max_open_leads: int | None = None

    def has_room(self) -> bool:
        """Whether the owner may take one more lead."""
        return self.max_open_leads is None or self.open_leads < self.max_open_leads


@dataclass(frozen=True, slots=True)
class LeadToAssign:
    """What assignment reads from a lead."""

    lead_id: str
    team: str | None
    product_line: str | None
    score: int


@dataclass(frozen=True, slots=True)
class Assignment:
    """An owner (or none) for a lead, with the rules that chose them."""

    lead_id: str
    owner_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class AssignParams:
    """First-response time per score band; ``at_risk_share`` of it left raises the at-risk flag."""

    sla_by_band: Mapping[str, timedelta] = field(default_factory=lambda: SLA_BY_BAND)
    at_risk_share: float = 0.25

    def __post_init__(self) -> None:
        if set(self.sla_by_band) != {"hot", "warm", "cold"}:
            raise ValueError("sla_by_band needs exactly the bands hot, warm and cold")
        if not 0 < self.at_risk_share < 1:
            raise ValueError("at_risk_share must lie strictly between 0 and 1")


DEFAULT_ASSIGN = AssignParams()


def assign_many(leads: Sequence[LeadToAssign], owners: Sequence[Owner]) -> list[Assignment]:
    """Assign ``leads`` hottest first, each to the least-loaded fitting owner; loads accumulate.

    The result is in the order of ``leads``.
    """
    load = {owner.id: owner.open_leads for owner in owners}
    chosen: dict[str, Assignment] = {}
    for lead in sorted(leads, key=lambda lead: (-lead.score, lead.lead_id)):
        current = [_with_load(owner, load[owner.id]) for owner in owners]
        assignment = assign_one(lead, current)
        if assignment.owner_id is not None:
            load[assignment.owner_id] += 1
        chosen[lead.lead_id] = assignment
    return [chosen[lead.lead_id] for lead in leads]


def assign_one(lead: LeadToAssign, owners: Sequence[Owner]) -> Assignment:
    """Pick the owner for one lead: territory, then product line, then least loaded."""
    pool = [owner for owner in owners if owner.has_room()]
    if not pool:
        return Assignment(lead.lead_id, None, "no owner has room for another lead")
    reasons: list[str] = []
    in_team = [owner for owner in pool if lead.team is not None and owner.team == lead.team]
    if in_team:
        pool = in_team
        reasons.append(f"territory team {lead.team}")
    else:
        reasons.append(f"no owner in team {lead.team}" if lead.team else "no territory")
    skilled = [owner for owner in pool if lead.product_line in owner.product_lines]
    if skilled:
        pool = skilled
        reasons.append(f"handles {lead.product_line}")
    best = min(pool, key=lambda owner: (owner.open_leads, owner.id))
    reasons.append(f"least loaded ({best.open_leads} open)")
    return Assignment(lead.lead_id, best.id, "; ".join(reasons))


def _with_load(owner: Owner, open_leads: int) -> Owner:
    return Owner(owner.id, owner.team, owner.product_lines, open_leads, owner.max_open_leads)


def first_response_due(
    band: str, *, received_at: datetime, params: AssignParams = DEFAULT_ASSIGN
) -> datetime:
    """Return when the first response to a lead of ``band`` received at ``received_at`` is due."""
    return received_at + params.sla_by_band[band]


@dataclass(frozen=True, slots=True)
class SlaState:
    """Where a lead stands against its first-response SLA."""

    is_at_risk: bool
    is_overdue: bool


def sla_state(
    *,
    due_at: datetime | None,
    window: timedelta,
    responded_at: datetime | None,
    now: datetime,
    params: AssignParams = DEFAULT_ASSIGN,
) -> SlaState:
    """Flag an unanswered lead at risk in the last ``at_risk_share`` of its window, overdue after.

    A lead answered in time is neither; one answered late stays overdue (the SLA was missed).
    """
    if due_at is None:
        return SlaState(False, False)
    if responded_at is not None:
        return SlaState(False, responded_at > due_at)
    if now > due_at:
        return SlaState(False, True)
    return SlaState(now >= due_at - window * params.at_risk_share, False)
