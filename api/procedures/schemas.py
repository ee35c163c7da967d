"""Procedure and checklist bodies: what a technician sees for a ticket and what a tick sends."""

import base64
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.db.tables import ChecklistTickRow
from api.fields import base64_within
from api.procedures.rules import PART_PREFIX, MissingItem, Procedure
from api.schemas import Strict

MAX_PHOTO_BYTES = 1024 * 1024
# The first bytes of every file of each accepted type: a photo is what it says it is.
IMAGE_SIGNATURES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}


class SafetyNoteRead(BaseModel):
    zh: str
    en: str


class ChecklistItemRead(BaseModel):
    """A step or a part of the procedure, and whether the ticket's technician ticked it."""

    item_id: str = Field(description="a step id, or `part:` and the part code")
    kind: Literal["step", "part"]
    zh: str
    en: str
    required: bool
    photo_required: bool
    ticked_at: datetime | None
    has_photo: bool


class MissingItemRead(BaseModel):
    item_id: str
    zh: str
    en: str
    photo_required: bool

    @classmethod
    def of(cls, item: MissingItem) -> Self:
        return cls(item_id=item.item_id, zh=item.zh, en=item.en, photo_required=item.needs_photo)


class ProcedureRead(BaseModel):
    """A procedure as the library holds it (no ticket's ticks)."""

    id: str
    version: int
    title_zh: str
    title_en: str
    ticket_types: list[str]
    product_lines: list[str]
    models: list[str]
    required_for_completion: bool
    safety: list[SafetyNoteRead]
    items: list[ChecklistItemRead]

    @classmethod
    def of(cls, procedure: Procedure, ticks: dict[str, ChecklistTickRow] | None = None) -> Self:
        ticks = ticks or {}
        items = []
        for item_id, zh, en, required, photo in procedure.items():
            tick = ticks.get(item_id)
            items.append(ChecklistItemRead(
                item_id=item_id, kind="part" if item_id.startswith(PART_PREFIX) else "step",
                zh=zh, en=en, required=required, photo_required=photo,
                ticked_at=None if tick is None else tick.ticked_at,
                has_photo=tick is not None and tick.photo is not None,
            ))  # fmt: skip
        return cls(
            id=procedure.id, version=procedure.version, title_zh=procedure.title_zh,
            title_en=procedure.title_en, ticket_types=list(procedure.ticket_types),
            product_lines=list(procedure.product_lines), models=list(procedure.models),
            required_for_completion=procedure.required_for_completion,
            safety=[SafetyNoteRead(zh=n.zh, en=n.en) for n in procedure.safety], items=items,
        )  # fmt: skip


class ProcedureList(BaseModel):
    items: list[ProcedureRead]


class TicketProcedureRead(BaseModel):
    """The procedure a ticket is worked against, its ticks, and what completion still needs."""

    ticket_id: int
    procedure: ProcedureRead | None = Field(description="null: no procedure applies")
    missing: list[MissingItemRead] = Field(description="required items not yet ticked")
    may_complete: bool = Field(
        description="false while the procedure requires its checklist and items are missing"
    )


class TickCreate(Strict):
    """Tick a checklist item; a step that asks for a photo needs one."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {},
                {
                    "photo_base64": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4"
                    "//8/AAX+Av4N70a4AAAAAElFTkSuQmCC",
                    "photo_media_type": "image/png",
                },
            ]
        }
    )

    photo_base64: Annotated[str, base64_within(MAX_PHOTO_BYTES)] | None = Field(
        default=None, description="PNG or JPEG, base64, at most 1 MiB decoded"
    )
    photo_media_type: Literal["image/png", "image/jpeg"] | None = None

    @model_validator(mode="after")
    def _media_type_with_photo(self) -> Self:
        if (self.photo_base64 is None) != (self.photo_media_type is None):
            raise ValueError("photo_base64 and photo_media_type go together")
        photo = self.photo()
        if photo is not None and not photo.startswith(IMAGE_SIGNATURES[str(self.photo_media_type)]):
            raise ValueError(f"photo_base64 is not a {self.photo_media_type} image")
        return self

    def photo(self) -> bytes | None:
        """Return the decoded photo, if any."""
        return None if self.photo_base64 is None else base64.b64decode(self.photo_base64)
