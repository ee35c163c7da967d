"""Pure rules of the map: a technician's state, lateness, surge, simplification, display datum.

Nothing here reads the database, the clock or the request; the service passes all of it in.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import numpy as np

import shapely
from shapely.geometry.base import BaseGeometry

from geo import wgs84_to_gcj02

DisplayCrs = Literal["wgs84", "gcj02"]
OPEN_STATUSES = frozenset({"new", "scheduled", "dispatched", "en_route", "on_site"})
DONE_STATUSES = frozenset({"completed", "confirmed", "settled"})


class TechnicianState(StrEnum):
    """What a technician is doing, as the map colours it."""

    OFF_SHIFT = "off_shift"
    IDLE = "idle"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"


def technician_state(
    *,
    now: datetime,
    shift_start_at: datetime | None,
    shift_end_at: datetime | None,
    ticket_statuses: Iterable[str],
) -> TechnicianState:
    """Return the state: on site or en route by their tickets, else idle within the shift.

    >>> from datetime import UTC
    >>> t = lambda h: datetime(2026, 12, 3, h, tzinfo=UTC)
    >>> technician_state(now=t(9), shift_start_at=t(8), shift_end_at=t(17), ticket_statuses=[])
    <TechnicianState.IDLE: 'idle'>
    >>> technician_state(now=t(9), shift_start_at=None, shift_end_at=None,
    ...                  ticket_statuses=["en_route"])
    <TechnicianState.EN_ROUTE: 'en_route'>
    """
    statuses = set(ticket_statuses)
    if "on_site" in statuses:
        return TechnicianState.ON_SITE
    if "en_route" in statuses:
        return TechnicianState.EN_ROUTE
    on_shift = (
        shift_start_at is not None and shift_end_at is not None
        and shift_start_at <= now < shift_end_at
    )  # fmt: skip
    return TechnicianState.IDLE if on_shift else TechnicianState.OFF_SHIFT


def lateness(
    *,
    now: datetime,
    status: str,
    window_end_at: datetime | None,
    start_at: datetime | None,
    is_at_risk: bool,
    is_overdue: bool,
) -> str | None:
    """Return ``late``, ``at_risk`` or None for an open ticket.

    Late: the SLA is overdue, the window closed before anyone started, or the plan itself
    starts the visit after the window closes. At risk: the SLA falls due soon.
    """
    if status not in OPEN_STATUSES:
        return None
    started = status == "on_site"
    window_missed = window_end_at is not None and not started and now > window_end_at
    planned_late = start_at is not None and window_end_at is not None and start_at > window_end_at
    if is_overdue or window_missed or planned_late:
        return "late"
    return "at_risk" if is_at_risk else None


def surge_ratio(open_demand: int, available: int) -> float | None:
    """Return open demand per available technician; None where nobody is available.

    >>> surge_ratio(6, 4), surge_ratio(3, 0)
    (1.5, None)
    """
    return None if available == 0 else round(open_demand / available, 2)


def simplify_tolerance_deg(zoom: int) -> float:
    """Return the simplification tolerance that loses at most half a pixel at ``zoom``.

    A 256-pixel tile spans ``360 / 2**zoom`` degrees of longitude.

    >>> round(simplify_tolerance_deg(10) * 1e6)
    687
    """
    return 0.5 * 360.0 / (256 * (1 << zoom))


def to_display(lons: Sequence[float], lats: Sequence[float], crs: DisplayCrs) -> np.ndarray:
    """Return ``[[lon, lat], ...]`` in the display datum (GCJ-02 for China's basemaps)."""
    xs, ys = np.asarray(lons, dtype=float), np.asarray(lats, dtype=float)
    if crs == "gcj02" and xs.size:
        xs, ys = wgs84_to_gcj02(xs, ys)
    return np.column_stack([xs, ys]) if xs.size else np.empty((0, 2))


def geometry_to_display(geometry: BaseGeometry, crs: DisplayCrs) -> BaseGeometry:
    """Return ``geometry`` shifted to the display datum (unchanged for WGS84)."""
    if crs == "wgs84":
        return geometry

    def shift(coords: np.ndarray) -> np.ndarray:
        xs, ys = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
        return np.column_stack([xs, ys])

    return shapely.transform(geometry, shift)


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Return the min, max and max - min of per-technician working minutes.

    >>> spread([300, 420, 360])
    {'min': 300, 'max': 420, 'range': 120}
    """
    if not values:
        return {"min": None, "max": None, "range": None}
    low, high = round(min(values)), round(max(values))
    return {"min": low, "max": high, "range": high - low}
