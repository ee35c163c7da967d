"""Moving a ticket: transition bodies, the customer's confirmation, the history they leave."""

import base64
import binascii
from datetime import datetime
from typing import Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from api.lifecycle import TicketStatus
from api.repositories.ticket_confirmations import Confirmation
from api.schemas.common import Strict

MAX_SIGNATURE_IMAGE_BYTES = 256 * 1024


class SignatureIn(Strict):
    """The customer's confirmation that the work is done."""

    signer_name: str = Field(min_length=1, max_length=200)
    signed_at: AwareDatetime
    image_base64: str | None = Field(
        default=None, description="PNG or JPEG of the signature, base64, at most 256 KiB decoded"
    )
    image_media_type: Literal["image/png", "image/jpeg"] | None = None

    @field_validator("image_base64")
    @classmethod
    def _image_fits(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) > MAX_SIGNATURE_IMAGE_BYTES * 4 // 3 + 4:
            raise ValueError(f"image exceeds {MAX_SIGNATURE_IMAGE_BYTES} bytes")
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error as err:
            raise ValueError(f"not base64: {err}") from err
        return value

    @model_validator(mode="after")
    def _media_type_with_image(self) -> "SignatureIn":
        if (self.image_base64 is None) != (self.image_media_type is None):
            raise ValueError("image_base64 and image_media_type go together")
        return self

    def image(self) -> bytes | None:
        """Return the decoded image, if any."""
        return None if self.image_base64 is None else base64.b64decode(self.image_base64)


class TransitionCreate(Strict):
    """Move a ticket to another status."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"to": "en_route", "note": "leaving the depot"},
                {"to": "scheduled", "technician_id": "T-017"},
                {
                    "to": "confirmed",
                    "signature": {
                        "signer_name": "王女士",
                        "signed_at": "2026-11-23T11:40:00+08:00",
                    },
                    "rating": 5,
                },
            ]
        }
    )

    to: TicketStatus
    note: str | None = Field(default=None, max_length=1000)
    technician_id: str | None = Field(
        default=None, max_length=64, description="staff only, with `to: scheduled`: assign"
    )
    signature: SignatureIn | None = Field(default=None, description="required with `confirmed`")
    rating: int | None = Field(
        default=None,
        ge=1,
        le=5,
        description="with `confirmed`: the customer's rating of the work, 1-5 (the rate "
        "card's review bonus pays by it); omit it when the customer gave none",
    )

    @field_validator("rating")
    @classmethod
    def _rating_confirms(cls, rating: int | None, info: ValidationInfo) -> int | None:
        if rating is not None and info.data.get("to") is not TicketStatus.CONFIRMED:
            raise ValueError("a rating is only accepted with to=confirmed")
        return rating

    @model_validator(mode="after")
    def _extras_fit_target(self) -> "TransitionCreate":
        if (self.to is TicketStatus.CONFIRMED) != (self.signature is not None):
            raise ValueError("a signature is required with, and only with, to=confirmed")
        if self.technician_id is not None and self.to is not TicketStatus.SCHEDULED:
            raise ValueError("technician_id is only accepted with to=scheduled")
        return self

    def confirmation(self) -> Confirmation | None:
        """Return what the customer confirmed, if this is the confirmation."""
        if (signature := self.signature) is None:
            return None
        return Confirmation(
            signer_name=signature.signer_name,
            signed_at=signature.signed_at,
            image=signature.image(),
            image_media_type=signature.image_media_type,
            rating=self.rating,
        )


class StatusChangeRead(BaseModel):
    """One entry of a ticket's history."""

    id: int
    from_status: TicketStatus | None
    to_status: TicketStatus
    at: datetime
    actor_key_id: str | None
    note: str | None
