"""Availability offers: feasible, best first, one per technician and slot, emergencies kept.

Instances sit on a street: location ``x`` is ``x`` hundredths of a degree east of the base and
one step takes 10 minutes.
"""

import dataclasses
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from dispatch import Kpis, Plan, Problem, Shift, TimeWindow
from dispatch.availability import AvailabilityParams, booking_slots, offers
from dispatch.errors import InvalidField
from dispatch.insertion import Insertion, LivePlan, insert_order
from dispatch.model import Technician, TechnicianId, WorkOrder, WorkOrderId, node_lonlats

H = 3600


def tech(tech_id: str, x: float = 0, **overrides: Any) -> Technician:
    fields: dict[str, Any] = {"start": (121.4 + x / 100, 31.2), "shifts": (Shift(8 * H, 18 * H),),
                              "skills": {"ac": 1}}  # fmt: skip
    fields.update(overrides)
    return Technician(TechnicianId(tech_id), **fields)


def order(order_id: str, x: float, **overrides: Any) -> WorkOrder:
    fields: dict[str, Any] = {"duration_s": 3600, "required_skills": {"ac": 1}}
    fields.update(overrides)
    return WorkOrder(WorkOrderId(order_id), (121.4 + x / 100, 31.2), **fields)


def street(techs: list[Technician], orders: list[WorkOrder]) -> Problem:
    lons, _ = node_lonlats(tuple(techs), tuple(orders))
    steps = np.rint((lons - 121.4) * 100)
    travel = (np.abs(steps[:, None] - steps[None, :]) * 600).astype(np.int32)
    return Problem(datetime(2026, 3, 2, tzinfo=UTC), tuple(techs), tuple(orders), travel)


def live_with(problem: Problem, ids: list[str]) -> LivePlan:
    n = len(problem.orders)
    live = LivePlan(problem, Plan(problem.origin, (), (), Kpis(0, n, 1.0, None, 0.0, {}, 0, 0, 0)))
    for order_id in ids:
        assert isinstance(live.insert(WorkOrderId(order_id)), Insertion)
    return live


def test_slots_cut_the_windows_on_the_grid() -> None:
    problem = street([tech("t1")], [order("o", 1, windows=(TimeWindow(9 * H, 13 * H),))])
    live = live_with(problem, [])
    assert booking_slots(live.arrays, 0, 2 * H) == [(9 * H, 10 * H), (10 * H, 12 * H),
                                                     (12 * H, 13 * H)]  # fmt: skip


def test_offers_are_feasible_ranked_and_distinct() -> None:
    techs = [tech("near", 1), tech("far", 6), tech("busy", 2)]
    orders = [order("a", 2), order("b", 3), order("new", 1, windows=(TimeWindow(8 * H, 16 * H),))]
    problem = street(techs, orders)
    live = live_with(problem, ["a", "b"])
    found = offers(live, WorkOrderId("new"), AvailabilityParams(n_offers=4))
    assert 1 <= len(found) <= 4
    assert [o.score for o in found] == sorted(o.score for o in found)
    assert len({(o.technician_id, o.slot_start_s) for o in found}) == len(found)
    for offer in found:
        assert offer.slot_start_s <= offer.start_s <= offer.slot_end_s
        # Independently: pinning the order to the technician with the slot as window fits.
        booked = dataclasses.replace(
            problem.orders[2], windows=(TimeWindow(offer.slot_start_s, offer.slot_end_s),),
            pinned_to=offer.technician_id,
        )  # fmt: skip
        pinned = dataclasses.replace(problem, orders=(*problem.orders[:2], booked))
        _, result = insert_order(pinned, live.plan, WorkOrderId("new"))
        assert isinstance(result, Insertion)
    assert found[0].technician_id == "near" and found[0].slot_start_s == 8 * H


def test_later_slots_cost_more() -> None:
    problem = street([tech("t1")], [order("new", 0, windows=(TimeWindow(8 * H, 14 * H),))])
    live = live_with(problem, [])
    found = offers(live, WorkOrderId("new"), AvailabilityParams(n_offers=3, later_per_s=0.5))
    assert [o.slot_start_s for o in found] == [8 * H, 10 * H, 12 * H]
    assert found[1].score - found[0].score == pytest.approx(0.5 * 2 * H)


def test_held_back_capacity_is_for_urgent_orders_only() -> None:
    problem = street(
        [tech("t1", max_orders=4)],
        [order(f"o{i}", 1) for i in range(3)]
        + [order("normal", 2), order("urgent", 2, priority=2)],
    )
    live = live_with(problem, ["o0", "o1", "o2"])
    reserve = AvailabilityParams(held_back_share=0.25)  # 1 of 4 orders kept for emergencies
    assert offers(live, WorkOrderId("normal"), reserve) == ()
    assert offers(live, WorkOrderId("urgent"), reserve)
    assert offers(live, WorkOrderId("normal"), AvailabilityParams())


def test_bad_params() -> None:
    with pytest.raises(InvalidField):
        AvailabilityParams(held_back_share=1.0)
    with pytest.raises(InvalidField):
        AvailabilityParams(n_offers=0)
