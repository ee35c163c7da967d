"""Plan-level figures recomputed from routes, for plans changed or merged after a solve.

The same figures as ``plan_builder`` gives a fresh solve: assigned and unassigned counts,
on-time rate, travel km and minutes, working time per technician and its spread.
"""

from collections.abc import Iterable, Sequence

from dispatch.model import TechnicianId
from dispatch.plan import Kpis, Route


def kpis_of(
    technician_ids: Iterable[TechnicianId],
    routes: Sequence[Route],
    n_orders: int,
    *,
    objective: int,
    solve_s: float,
    first_feasible_s: float | None = None,
    polish_gain: int | None = None,
) -> Kpis:
    """Return the KPIs of ``routes`` for a problem of ``n_orders`` orders."""
    stops = [s for r in routes for s in r.stops]
    load = dict.fromkeys(technician_ids, 0)
    for route in routes:
        load[route.technician_id] = load.get(route.technician_id, 0) + route.working_s
    distances = [r.distance_m for r in routes]
    loads = list(load.values()) or [0]
    return Kpis(
        assigned=len(stops),
        unassigned=n_orders - len(stops),
        on_time_rate=sum(s.lateness_s == 0 for s in stops) / len(stops) if stops else 1.0,
        travel_km=None if None in distances else sum(d or 0.0 for d in distances) / 1000,
        travel_min=sum(r.travel_s for r in routes) / 60,
        load_s_by_technician=load,
        load_spread_s=max(loads) - min(loads),
        solve_s=solve_s,
        objective=objective,
        first_feasible_s=first_feasible_s,
        polish_gain=polish_gain,
    )
