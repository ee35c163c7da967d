"""What waits in the database: dispatch runs not finished, webhook deliveries not delivered.

Two small aggregate queries for a metrics scrape, each on an indexed status column.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.db.tables import DispatchRunRow, WebhookDeliveryRow

#: Run statuses that are waiting or working (``api.dispatch.repository.UNFINISHED``).
UNFINISHED_RUN_STATUSES = ("queued", "running")


@dataclass(frozen=True, slots=True)
class Backlog:
    """The run queue and the webhook backlog at one moment."""

    runs_by_status: dict[str, int]
    pending_deliveries: int
    oldest_pending_age_s: float


def read_backlog(session: Session, *, now: datetime) -> Backlog:
    """Count unfinished runs by status and pending deliveries, and age the oldest delivery."""
    runs = dict.fromkeys(UNFINISHED_RUN_STATUSES, 0)
    counted = session.execute(
        select(DispatchRunRow.status, func.count())
        .where(DispatchRunRow.status.in_(UNFINISHED_RUN_STATUSES))
        .group_by(DispatchRunRow.status)
    )
    runs.update({status: count for status, count in counted})
    pending, oldest = session.execute(
        select(func.count(), func.min(WebhookDeliveryRow.created_at)).where(
            WebhookDeliveryRow.status == "pending"
        )
    ).one()
    age_s = 0.0 if oldest is None else max((now - oldest).total_seconds(), 0.0)
    return Backlog(runs_by_status=runs, pending_deliveries=pending, oldest_pending_age_s=age_s)
