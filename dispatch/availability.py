"""Availability: the best few (technician, time slot) offers a booking can promise.

For a prospective order, each booking slot (the order's windows cut on a grid of
``slot_s``, e.g. 08:00-10:00, 10:00-12:00) is tried as if it were the order's only window.
Positions are screened for all slots at once (``positions.rank_positions``), ranked by added
travel plus a charge for every second the slot starts after the earliest one, and checked
exactly in that order until the best ``n_offers`` distinct (technician, slot) pairs are
found. Each offer is one the plan can keep: inserting the order with that slot as its window
on that technician succeeds. A share of each technician's orders, parts and working time can
be held back for emergencies; only orders at or above ``urgent_priority`` may use it.
"""

import dataclasses
from dataclasses import dataclass

import numpy as np

from dispatch.errors import InvalidField
from dispatch.insertion import Insertion, LivePlan
from dispatch.model import TechnicianId, WorkOrderId
from dispatch.positions import Candidate, rank_positions
from dispatch.routing_arrays import NO_WINDOW_END, NO_WINDOW_START, RoutingArrays

MAX_EXACT_CHECKS = 400  # exact checks per request, over all slots


@dataclass(frozen=True, slots=True)
class AvailabilityParams:
    """How offers are cut and ranked.

    Parameters
    ----------
    n_offers
        How many offers to return at most.
    slot_s
        Length of a booking slot; slots sit on a grid of this step from the origin.
    later_per_s
        Ranking charge per second a slot starts after the earliest slot offered, in
        seconds of added travel (0.25: an hour later is worth 15 minutes of driving).
    held_back_share
        Share of each technician's max orders, capacity and working time kept for urgent
        orders (0: none).
    urgent_priority
        Orders of this priority or higher may use the held-back share.
    """

    n_offers: int = 5
    slot_s: int = 2 * 3600
    later_per_s: float = 0.25
    held_back_share: float = 0.0
    urgent_priority: int = 2

    def __post_init__(self) -> None:
        if self.n_offers < 1 or self.slot_s < 60:
            raise InvalidField("n_offers must be >= 1 and slot_s >= 60", field="n_offers")
        if not 0.0 <= self.held_back_share < 1.0 or self.later_per_s < 0:
            raise InvalidField(
                "held_back_share must be within [0, 1) and later_per_s >= 0",
                field="held_back_share",
            )


DEFAULT_AVAILABILITY = AvailabilityParams()


@dataclass(frozen=True, slots=True)
class Offer:
    """A slot a technician can keep: service starts in ``[slot_start_s, slot_end_s]``."""

    technician_id: TechnicianId
    shift_index: int
    slot_start_s: int
    slot_end_s: int
    start_s: int  # planned start of service if booked now
    added_travel_s: int
    cost_delta: int
    score: float


def offers(
    live: LivePlan, order_id: WorkOrderId, params: AvailabilityParams = DEFAULT_AVAILABILITY
) -> tuple[Offer, ...]:
    """Return up to ``params.n_offers`` offers for ``order_id``, best first (none: ``()``)."""
    order = live.order_index(order_id)
    limits = live.table.limits
    if live.problem.orders[order].priority < params.urgent_priority:
        limits = limits.held_back(params.held_back_share)
    slots = booking_slots(live.arrays, order, params.slot_s)
    if not slots:
        return ()
    first_start = slots[0][0]
    screened: list[tuple[float, int, Candidate]] = []
    narrowed: list[RoutingArrays] = []
    for k, slot in enumerate(slots):
        arrays = _with_window(live.arrays, order, slot)
        narrowed.append(arrays)
        later = params.later_per_s * (slot[0] - first_start)
        for candidate in rank_positions(
            live.table, arrays, order, live.weights, limits, top=MAX_EXACT_CHECKS
        ):
            screened.append((candidate.approx_cost + later, k, candidate))
    screened.sort(key=lambda item: (item[0], item[1], item[2].vehicle, item[2].position))
    found: dict[tuple[int, int], Offer] = {}
    for score, k, candidate in screened[:MAX_EXACT_CHECKS]:
        worst = max((o.score for o in found.values()), default=np.inf)
        if len(found) >= params.n_offers and score >= worst:
            break
        if (candidate.vehicle, k) in found:
            continue
        exact = live.exact_insertion(narrowed[k], order, candidate.vehicle, candidate.position)
        if exact is not None:
            later = params.later_per_s * (slots[k][0] - first_start)
            found[(candidate.vehicle, k)] = _offer(exact, slots[k], exact.cost_delta + later)
    ranked = sorted(found.values(), key=lambda o: (o.score, o.slot_start_s, o.technician_id))
    return tuple(ranked[: params.n_offers])


def booking_slots(arrays: RoutingArrays, order: int, slot_s: int) -> list[tuple[int, int]]:
    """Cut the order's windows on the slot grid: ``[(start_s, end_s), ...]`` in time order."""
    slots = []
    for start, end in zip(arrays.win_start[order], arrays.win_end[order], strict=True):
        if end < 0:  # padding
            continue
        grid = int(start) // slot_s * slot_s
        for slot_start in range(grid, int(end) + 1, slot_s):
            low, high = max(slot_start, int(start)), min(slot_start + slot_s, int(end))
            if low < high:
                slots.append((low, high))
    return slots


def _with_window(arrays: RoutingArrays, order: int, slot: tuple[int, int]) -> RoutingArrays:
    """Return the arrays with ``slot`` as the order's only window."""
    win_start, win_end = arrays.win_start.copy(), arrays.win_end.copy()
    win_start[order], win_end[order] = NO_WINDOW_START, NO_WINDOW_END
    win_start[order, 0], win_end[order, 0] = slot
    return dataclasses.replace(arrays, win_start=win_start, win_end=win_end)


def _offer(insertion: Insertion, slot: tuple[int, int], score: float) -> Offer:
    return Offer(
        technician_id=insertion.technician_id, shift_index=insertion.shift_index,
        slot_start_s=slot[0], slot_end_s=slot[1], start_s=insertion.start_s,
        added_travel_s=insertion.added_travel_s, cost_delta=insertion.cost_delta, score=score,
    )  # fmt: skip
