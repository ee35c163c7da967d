"""Service procedures: the checklist items a ticket's technician has ticked, with their photos."""

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base
from api.db.tables.tickets import BigId, UtcDateTime


class ChecklistTickRow(Base):
    """One ticked item of a ticket's procedure; un-ticking deletes the row.

    ``procedure_key`` (``id@version``) pins the version the ticket is worked against: a
    procedure revised while a job is in progress does not change that job's checklist.
    """

    __tablename__ = "checklist_tick"
    __table_args__ = (
        UniqueConstraint("ticket_id", "item_id", name="uq_checklist_tick_ticket_id_item_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("ticket.id"), index=True)
    procedure_key: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[str] = mapped_column(String(53))
    photo: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    photo_media_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ticked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
