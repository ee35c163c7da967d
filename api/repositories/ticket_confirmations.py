"""The customer's confirmation of a ticket: signature, time, optional image and rating."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.tables import TicketSignatureRow


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What the customer signed, as submitted with ``to: confirmed``."""

    signer_name: str
    signed_at: datetime
    image: bytes | None = None
    image_media_type: str | None = None
    rating: int | None = None  # 1..5; None when the customer gave none


def record_confirmation(
    session: Session,
    *,
    ticket_id: int,
    confirmation: Confirmation,
    actor_key_id: str | None,
    at: datetime,
) -> None:
    """Store the customer's confirmation of ``ticket_id`` (one per ticket)."""
    session.add(
        TicketSignatureRow(
            ticket_id=ticket_id,
            signer_name=confirmation.signer_name,
            signed_at=confirmation.signed_at,
            image=confirmation.image,
            image_media_type=confirmation.image_media_type,
            rating=confirmation.rating,
            recorded_at=at,
            actor_key_id=actor_key_id,
        )
    )
    session.flush()


def rating_of(session: Session, *, ticket_id: int) -> int | None:
    """Return the customer's rating of ``ticket_id``, or None (no rating, or not confirmed)."""
    return session.scalar(
        select(TicketSignatureRow.rating).where(TicketSignatureRow.ticket_id == ticket_id)
    )
