"""Who may serve whom: skills at their levels, territory and pin, each refusal with a code.

This is the one statement of the rule. The warnings of a dispatcher's manual assignment (the
service) call ``refusals``; the solver's ``allowed`` matrix (``dispatch.routing_arrays``) comes
from ``eligibility_matrix``, which runs its two halves (``skill_refusals``, ``place_refusals``)
once per distinct profile. Time, shifts and load are checked where the day is known.
"""

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from dispatch.model import Technician, WorkOrder


class RefusalCode(StrEnum):
    """Why a technician may not serve an order; the values are the API's warning codes."""

    SKILL_MISSING = "skill_missing"
    SKILL_LEVEL_TOO_LOW = "skill_level_too_low"
    OUTSIDE_TERRITORY = "outside_territory"
    PINNED_ELSEWHERE = "pinned_elsewhere"


@dataclass(frozen=True, slots=True)
class Refusal:
    """One reason ``technician`` may not serve ``order``.

    ``skill``, ``needed_level`` and ``held_level`` are set for the skill codes (``held_level``
    is ``None`` when the skill is missing).
    """

    code: RefusalCode
    skill: str | None = None
    needed_level: int | None = None
    held_level: int | None = None


def refusals(technician: Technician, order: WorkOrder) -> tuple[Refusal, ...]:
    """Return why ``technician`` may not serve ``order``; empty when they may.

    Skills come first, by name, then territory, then pin. A territory holds region ids as
    given (the caller expands a region into the regions below it); an order without a
    region is outside every territory.

    Examples
    --------
    >>> from dispatch.model import TechnicianId, WorkOrderId
    >>> tech = Technician(TechnicianId("t1"), (121.5, 31.2), (), skills={"ac": 1},
    ...                   territory=frozenset({"310101"}))
    >>> order = WorkOrder(WorkOrderId("o1"), (121.5, 31.2), 1800,
    ...                   required_skills={"ac": 2, "gas": 1}, region_id="310104")
    >>> [r.code.value for r in refusals(tech, order)]
    ['skill_level_too_low', 'skill_missing', 'outside_territory']
    """
    return skill_refusals(technician, order) + place_refusals(technician, order)


def skill_refusals(technician: Technician, order: WorkOrder) -> tuple[Refusal, ...]:
    """Return the skills, by name, that ``technician`` lacks or holds below the level needed."""
    found = (
        _skill_refusal(skill, needed, technician.skills.get(skill))
        for skill, needed in sorted(order.required_skills.items())
    )
    return tuple(r for r in found if r is not None)


def place_refusals(technician: Technician, order: WorkOrder) -> tuple[Refusal, ...]:
    """Return whether the territory, then the pin, keep ``technician`` from ``order``."""
    found = []
    if technician.territory is not None and order.region_id not in technician.territory:
        found.append(Refusal(RefusalCode.OUTSIDE_TERRITORY))
    if order.pinned_to is not None and order.pinned_to != technician.id:
        found.append(Refusal(RefusalCode.PINNED_ELSEWHERE))
    return tuple(found)


def _skill_refusal(skill: str, needed: int, held: int | None) -> Refusal | None:
    if held is None:
        return Refusal(RefusalCode.SKILL_MISSING, skill, needed)
    if held < needed:
        return Refusal(RefusalCode.SKILL_LEVEL_TOO_LOW, skill, needed, held)
    return None


@dataclass(frozen=True, slots=True)
class EligibilityMatrix:
    """``refusals`` over every (order, technician) pair, split as the solver reads it."""

    has_skills: NDArray[np.bool_]  # (orders, technicians): no skill refusal
    in_territory: NDArray[np.bool_]  # (orders, technicians): neither territory nor pin refuses

    @property
    def eligible(self) -> NDArray[np.bool_]:
        """(orders, technicians): no refusal at all."""
        both: NDArray[np.bool_] = self.has_skills & self.in_territory
        return both


def eligibility_matrix(
    technicians: Sequence[Technician], orders: Sequence[WorkOrder]
) -> EligibilityMatrix:
    """Evaluate ``refusals`` on every pair, each half once per distinct pair of profiles.

    ``skill_refusals`` reads only skills, and ``place_refusals`` only the territory, region
    and pin (a technician's id matters only if an order is pinned to them); so each runs once
    per distinct pair of what it reads, not once per (order, technician).
    """
    pinned = {o.pinned_to for o in orders if o.pinned_to is not None}
    has_skills = _evaluate(
        skill_refusals, technicians, orders,
        lambda t: tuple(sorted(t.skills.items())),
        lambda o: tuple(sorted(o.required_skills.items())),
    )  # fmt: skip
    in_territory = _evaluate(
        place_refusals, technicians, orders,
        lambda t: (t.territory, t.id if t.id in pinned else None),
        lambda o: (o.region_id, o.pinned_to),
    )  # fmt: skip
    return EligibilityMatrix(has_skills=has_skills, in_territory=in_territory)


def _evaluate(
    rule: Callable[[Technician, WorkOrder], tuple[Refusal, ...]],
    technicians: Sequence[Technician],
    orders: Sequence[WorkOrder],
    tech_key: Callable[[Technician], Hashable],
    order_key: Callable[[WorkOrder], Hashable],
) -> NDArray[np.bool_]:
    """(orders, technicians): ``rule`` refuses nothing; run once per distinct pair of keys."""
    tech_reps, tech_groups = _groups([tech_key(t) for t in technicians])
    order_reps, order_groups = _groups([order_key(o) for o in orders])
    ok = np.asarray(
        [[not rule(technicians[k], orders[i]) for k in tech_reps] for i in order_reps], dtype=bool
    ).reshape(len(order_reps), len(tech_reps))
    rows = np.asarray(order_groups, dtype=np.int64).reshape(len(orders))
    cols = np.asarray(tech_groups, dtype=np.int64).reshape(len(technicians))
    result: NDArray[np.bool_] = ok[np.ix_(rows, cols)]
    return result


def _groups(keys: Sequence[Hashable]) -> tuple[list[int], list[int]]:
    """Return the index of the first item of each distinct key, and each item's group."""
    first: dict[Hashable, int] = {}
    group = [first.setdefault(key, len(first)) for key in keys]
    reps = [0] * len(first)
    for i, g in reversed(list(enumerate(group))):
        reps[g] = i
    return reps, group
