"""Pages of tickets and the opaque cursors between them."""

import base64
import binascii

from fastapi import HTTPException
from pydantic import BaseModel, Field

from api.schemas.tickets import TicketRead


class TicketPage(BaseModel):
    """One page of tickets; pass ``next_cursor`` as ``cursor`` for the next one."""

    items: list[TicketRead]
    next_cursor: str | None = Field(description="null on the last page")


def encode_cursor(after_id: int) -> str:
    """Return the opaque cursor of the page after ticket ``after_id``."""
    return base64.urlsafe_b64encode(f"t1:{after_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """Return the ticket id a cursor continues after (422 naming ``cursor`` if it is not ours)."""
    if cursor is None:
        return None
    try:
        prefix, _, after = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).partition(
            b":"
        )
        if prefix != b"t1" or not after.isdigit():
            raise ValueError(cursor)
        return int(after)
    except (ValueError, binascii.Error) as err:
        detail = {
            "code": "validation_error",
            "message": "cursor: not a cursor this API returned",
            "details": {"errors": [{"field": "cursor", "message": "invalid cursor"}]},
        }
        raise HTTPException(422, detail) from err
