"""Builders for tiny dispatch instances on a straight street.

Locations sit on a line of longitudes at latitude 31.2 (Shanghai); the travel matrix is built
from the positions on that line at ``SECONDS_PER_STEP`` per 0.01 degree, so tests can reason
about times by hand. Builders take dull defaults and keyword overrides.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from dispatch import (
    Problem,
    Shift,
    Technician,
    TechnicianId,
    TimeWindow,
    WorkOrder,
    WorkOrderId,
)
from dispatch.model import node_lonlats

ORIGIN = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
BASE_LON = 121.40
LAT = 31.2
SECONDS_PER_STEP = 600  # ten minutes per 0.01 degree of longitude
DAY = Shift(8 * 3600, 18 * 3600)


def at(step: float) -> tuple[float, float]:
    """Location ``step`` hundredths of a degree east of the base."""
    return (BASE_LON + step / 100, LAT)


def make_technician(tech_id: str = "t1", **overrides: Any) -> Technician:
    fields: dict[str, Any] = {
        "id": TechnicianId(tech_id), "start": at(0), "shifts": (DAY,), "skills": {"ac": 1},
    }  # fmt: skip
    fields.update(overrides)
    return Technician(**fields)


def make_order(order_id: str = "o1", step: float = 1, **overrides: Any) -> WorkOrder:
    fields: dict[str, Any] = {
        "id": WorkOrderId(order_id), "location": at(step), "duration_s": 1800,
        "required_skills": {"ac": 1},
    }  # fmt: skip
    fields.update(overrides)
    return WorkOrder(**fields)


def line_matrix(technicians: Sequence[Technician], orders: Sequence[WorkOrder]) -> np.ndarray:
    lons, _ = node_lonlats(tuple(technicians), tuple(orders))
    steps = np.nan_to_num(np.rint((lons - BASE_LON) * 100), nan=0.0, posinf=0.0, neginf=0.0)
    return (np.abs(steps[:, None] - steps[None, :]) * SECONDS_PER_STEP).astype(np.int32)


def make_problem(
    technicians: Sequence[Technician], orders: Sequence[WorkOrder], **overrides: Any
) -> Problem:
    fields: dict[str, Any] = {
        "origin": ORIGIN, "technicians": tuple(technicians), "orders": tuple(orders),
        "travel_s": line_matrix(technicians, orders),
    }  # fmt: skip
    fields.update(overrides)
    return Problem(**fields)


def window(start_h: float, end_h: float) -> TimeWindow:
    return TimeWindow(int(start_h * 3600), int(end_h * 3600))


@pytest.fixture(scope="session")
def two_tech_problem() -> Problem:
    """Two technicians at the base (t1: ac level 1, t2: ac 2 + gas 1) and six orders."""
    techs = [
        make_technician("t1"),
        make_technician("t2", skills={"ac": 2, "gas": 1}),
    ]
    orders = [
        make_order("o1", 1), make_order("o2", 2, windows=(window(9, 11),)),
        make_order("o3", 3, required_skills={"gas": 1}), make_order("o4", -1),
        make_order("o5", -2, windows=(window(8, 9), window(14, 15))),
        make_order("o6", 4, required_skills={"ac": 2}),
    ]  # fmt: skip
    return make_problem(techs, orders)
