"""Find a demo day already in the database, through the API, so ``demo live`` adds nothing."""

from datetime import date
from typing import Any

from api.demo.client import DemoApi
from api.demo.seeder import DemoDay


def tokens_work(api: DemoApi) -> bool:
    """Whether the stored admin and dispatcher tokens are still accepted."""
    for who in ("admin", "dispatcher"):
        got = api.call(who, "GET", "/v1/technicians?limit=1", expect=frozenset({401, 403}))
        if got is None or got.status_code != 200:
            return False
    return True


def busiest_technicians(api: DemoApi, day: date, n: int = 2) -> list[str]:
    """Return the ``n`` technicians with the most orders on ``day`` (the map's count)."""
    layer = api.must("dispatcher", "GET", f"/v1/map/technicians?day={day.isoformat()}")
    counted = [(-int(f["properties"].get("orders") or 0), str(f["id"])) for f in layer["features"]]
    return [tech_id for _, tech_id in sorted(counted)[:n]]


def existing_day(api: DemoApi, day: date) -> DemoDay | None:
    """Return the demo day stored for ``day`` (technicians with a shift on it), if any."""
    technicians: dict[str, dict[str, Any]] = {}
    positions: dict[str, tuple[float, float]] = {}
    cursor: str | None = None
    while True:
        page = api.must("dispatcher", "GET", "/v1/technicians?limit=200"
                        + (f"&cursor={cursor}" if cursor else ""))  # fmt: skip
        for tech in page["items"]:
            if not str(tech["id"]).startswith("T0"):
                continue
            shifts = api.must("dispatcher", "GET", f"/v1/technicians/{tech['id']}/shifts"
                              f"?first={day.isoformat()}&last={day.isoformat()}")  # fmt: skip
            if shifts:
                technicians[tech["id"]] = {**tech, "shifts": shifts}
                where = (tech["current"] or {}).get("location") or tech["home_base"]
                positions[tech["id"]] = (float(where[0]), float(where[1]))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    if not technicians:
        return None
    return DemoDay(day, technicians, positions=positions)
