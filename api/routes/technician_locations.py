"""A technician's GPS pings: batched, late and out of order, the latest one is where they are."""

from datetime import timedelta

import numpy as np
from fastapi import APIRouter

from api.auth import utc_now
from api.db.spatial import from_wkb
from api.db.tables import TechnicianLocationRow
from api.deps import SessionDep
from api.repositories import technicians as repo
from api.repositories.tickets import begin_write
from api.routes.technician_access import STAFF_OR_TECHNICIAN, VisibleTechnician, invalid
from api.schemas.technicians import PingBatch, PingBatchRead, PingRead
from geo.coords import to_wgs84

router = APIRouter()  # included by ``api.routes.technicians`` (prefix and tag)
# A device clock may run a little fast; anything further ahead is a broken clock.
MAX_PING_CLOCK_SKEW = timedelta(minutes=5)


def ping_read(row: TechnicianLocationRow | None) -> PingRead | None:
    """Shape a stored ping."""
    if row is None:
        return None
    p = from_wkb(row.location)
    return PingRead(
        location=(p.x, p.y),  # type: ignore[attr-defined]
        recorded_at=row.recorded_at,
        received_at=row.received_at,
        accuracy_m=row.accuracy_m,
    )


@router.post(
    "/{technician_id}/locations",
    response_model=PingBatchRead,
    summary="Send GPS pings",
    description="A technician sends its own pings (staff may send any technician's), up to "
    "1,000 per request, in any order and late: the current position is the ping with the "
    "latest `recorded_at`, and a `recorded_at` already stored is skipped. A `recorded_at` "
    "more than 5 minutes in the future is refused.",
    dependencies=[STAFF_OR_TECHNICIAN],
)
def post_locations(
    batch_in: PingBatch, technician: VisibleTechnician, session: SessionDep
) -> PingBatchRead:
    now = utc_now()
    for i, ping in enumerate(batch_in.pings):
        if ping.recorded_at > now + MAX_PING_CLOCK_SKEW:
            raise invalid(f"pings[{i}].recorded_at", "is in the future (device clock?)")
    lons = np.array([p.location[0] for p in batch_in.pings])
    lats = np.array([p.location[1] for p in batch_in.pings])
    lons, lats = to_wgs84(lons, lats, batch_in.crs)
    pings = [
        repo.NewPing(float(lon), float(lat), p.recorded_at, p.accuracy_m)
        for p, lon, lat in zip(batch_in.pings, lons, lats, strict=True)
    ]
    begin_write(session)
    stored = repo.add_pings(session, technician_id=technician.id, pings=pings, received_at=now)
    session.commit()
    current = repo.current_location(session, technician_id=technician.id)
    return PingBatchRead(
        received=len(pings),
        stored=stored,
        duplicates=len(pings) - stored,
        current=ping_read(current),
    )
