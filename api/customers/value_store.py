"""What value tiers read and write: customers' completed services, and their stored scores."""

from collections.abc import Collection, Sequence
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from api.customers.value_tiers import TierPolicy, ValueScore
from api.db.tables import CustomerRow, CustomerValueRow, TicketRow, TicketStatusChangeRow

#: A ticket whose work is done, whatever became of it afterwards.
DONE = ("completed", "confirmed", "settled")
#: Ids per ``IN (...)`` list, far below every database's limit on bound parameters.
CHUNK = 1000


def completed_services(session: Session) -> list[tuple[int, int, datetime]]:
    """Return ``(customer id, ticket id, completed at)`` of every done ticket with a customer.

    One grouped query: a ticket completed twice (failed, re-opened, completed) counts once, at
    its last completion.
    """
    done_at = func.max(TicketStatusChangeRow.at)
    rows = session.execute(
        select(TicketRow.customer_id, TicketRow.id, done_at)
        .join(TicketStatusChangeRow, TicketStatusChangeRow.ticket_id == TicketRow.id)
        .where(
            TicketRow.customer_id.is_not(None),
            TicketRow.status.in_(DONE),
            TicketStatusChangeRow.to_status == "completed",
        )
        .group_by(TicketRow.customer_id, TicketRow.id)
    )
    return [(int(c), int(t), at) for c, t, at in rows if c is not None]


def customer_ids(session: Session) -> list[int]:
    """Return every customer's id."""
    return list(session.scalars(select(CustomerRow.id).order_by(CustomerRow.id)))


def replace_scores(
    session: Session,
    scores: Sequence[tuple[int, ValueScore, int, int, datetime | None]],
    *,
    policy: TierPolicy,
    at: datetime,
) -> None:
    """Replace every stored score: ``(customer id, score, services, billed fen, last service)``."""
    session.execute(delete(CustomerValueRow))
    rows = [
        {"customer_id": customer_id, **asdict(score), "services": services,
         "billed_fen": billed_fen, "last_service_at": last, "policy_id": policy.id,
         "computed_at": at}
        for customer_id, score, services, billed_fen, last in scores
    ]  # fmt: skip
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(CustomerValueRow), rows[start : start + CHUNK])


def value_tiers(session: Session, *, customer_ids: Collection[int]) -> dict[int, str]:
    """Return the stored tier of each customer among ``customer_ids`` that has been scored."""
    ordered = sorted(set(customer_ids))
    tiers: dict[int, str] = {}
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        rows = session.execute(
            select(CustomerValueRow.customer_id, CustomerValueRow.tier).where(
                CustomerValueRow.customer_id.in_(chunk)
            )
        )
        tiers.update({int(c): str(t) for c, t in rows})
    return tiers


def stored_score(session: Session, *, customer_id: int) -> CustomerValueRow | None:
    """Return the customer's stored score, if they have been scored."""
    return session.get(CustomerValueRow, customer_id)
