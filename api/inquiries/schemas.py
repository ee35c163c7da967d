"""Inquiry bodies: what an integrator or staff member sends, and the ticket draft answered.

Models import no repository: what a response needs from the database arrives as rows.
"""

import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator
from pydantic.config import JsonDict

from api.db.spatial import lonlat
from api.db.tables import InquiryRow
from api.fields import JSON_NUMBER, Timestamp
from api.schemas import CrsName, Latitude, Longitude, Strict
from api.tickets.schemas import MAX_WINDOWS, Priority, SkillLevel, SkillName, TicketType, Window

if TYPE_CHECKING:  # the model's module imports scikit-learn: only when drafting
    from api.inquiries.rules.model import Draft, Guess

MAX_TEXT_CHARS = 10_000
_SAYS_SOMETHING = re.compile(r"[^\W\d_]")  # a letter or a Chinese character

_EXAMPLE: JsonDict = {
    "text": "师傅你好，家里空调不制冷了，吹出来都是热风，老人在家，今天能来吗？电话 139 1234 5678",  # noqa: RUF001
    "location": [121.5447, 31.2216],
    "crs": "gcj02",
    "address": "上海市浦东新区锦绣路 1001 弄 8 号 602 室",
    "contact": {"name": "陈先生", "phone": "+86 139 1234 5678"},
}


class ContactIn(Strict):
    """Who asked; at least one of the three."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, min_length=1, max_length=32)
    email: EmailStr | None = None

    @model_validator(mode="after")
    def _someone(self) -> "ContactIn":
        if self.name is None and self.phone is None and self.email is None:
            raise ValueError("give a name, a phone or an e-mail address")
        return self


class InquiryCreate(Strict):
    """A customer's inquiry as they wrote it, with where the work would be."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    text: str = Field(
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        description="the customer's words, Chinese or English, 1-10,000 characters",
    )
    location: tuple[Longitude, Latitude] = Field(description="[lon, lat] in the datum of `crs`")
    crs: CrsName = Field(default="wgs84", description="datum of `location`; stored as WGS84")
    address: str | None = Field(default=None, min_length=1, max_length=500)
    contact: ContactIn | None = None

    @field_validator("text")
    @classmethod
    def _says_something(cls, text: str) -> str:
        if not _SAYS_SOMETHING.search(text):
            raise ValueError("has no words: only spaces, digits or punctuation")
        return text


class TypeGuess(BaseModel):
    """The drafted ticket type."""

    value: TicketType
    confidence: float = Field(description="the model's probability for this value, 0-1")
    words: list[str] = Field(description="the words of the text that decided it, strongest first")


class PriorityGuess(BaseModel):
    """The drafted priority."""

    value: Priority
    confidence: float = Field(description="the model's probability for this value, 0-1")
    words: list[str] = Field(description="the words of the text that decided it, strongest first")


class DurationGuess(BaseModel):
    """The drafted time on site: the median of past jobs of the drafted type and level."""

    value: int = Field(description="minutes")
    confidence: float = Field(description="the probability of the type and level it is taken for")
    words: list[str] = Field(description="the words that decided the type and level")


class SkillGuessRead(BaseModel):
    """A skill the job needs, at a minimum level."""

    name: str
    level: int
    confidence: float = Field(description="the model's probability that the job needs the skill")
    level_confidence: float = Field(description="the model's probability for the level")
    words: list[str] = Field(description="the words of the text that decided it, strongest first")


class ModelRead(BaseModel):
    """The model that drafted: when it was trained and on how many examples."""

    trained_at: datetime
    corpus_examples: int
    confirmed_labels: int = Field(description="inquiries confirmed by staff it also learnt from")


class DraftRead(BaseModel):
    """A ticket draft for an inquiry, each part with its confidence and deciding words."""

    type: TypeGuess
    skills: list[SkillGuessRead]
    priority: PriorityGuess
    duration_min: DurationGuess
    model: ModelRead


def _guess(guess: "Guess") -> dict[str, object]:
    return {"value": guess.value, "confidence": guess.confidence, "words": list(guess.words)}


def draft_read(draft: "Draft", model: ModelRead) -> DraftRead:
    """Shape the model's draft for the API."""
    return DraftRead.model_validate(
        {
            "type": _guess(draft.type),
            "skills": [
                {
                    "name": s.name,
                    "level": s.level,
                    "confidence": s.confidence,
                    "level_confidence": s.level_confidence,
                    "words": list(s.words),
                }
                for s in draft.skills
            ],
            "priority": _guess(draft.priority),
            "duration_min": _guess(draft.duration_min),
            "model": model,
        }
    )


class ContactRead(BaseModel):
    """Who asked."""

    name: str | None
    phone: str | None
    email: str | None


class InquiryRead(BaseModel):
    """An inquiry as the API returns it."""

    id: int
    source: str
    text: str
    language: str = Field(description="zh, en or mixed (Chinese with English words)")
    location: tuple[float, float] = Field(description="[lon, lat], WGS84")
    region_id: str | None
    address: str | None
    contact: ContactRead | None
    status: str = Field(description="open, or confirmed once staff made it a ticket")
    draft: DraftRead
    ticket_id: int | None
    created_at: datetime
    confirmed_at: datetime | None


def inquiry_read(row: InquiryRow) -> InquiryRead:
    """Shape a stored inquiry for the API."""
    has_contact = any((row.contact_name, row.contact_phone, row.contact_email))
    return InquiryRead(
        id=row.id,
        source=row.source,
        text=row.text,
        language=row.language,
        location=lonlat(row.location),
        region_id=row.region_id,
        address=row.address,
        contact=ContactRead(name=row.contact_name, phone=row.contact_phone, email=row.contact_email)
        if has_contact
        else None,
        status=row.status,
        draft=DraftRead.model_validate(row.draft),
        ticket_id=row.ticket_id,
        created_at=row.created_at,
        confirmed_at=row.confirmed_at,
    )


class InquiryPage(BaseModel):
    """One page of inquiries, newest first; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[InquiryRead]
    next_cursor: str | None = Field(description="null on the last page")


class InquiryConfirm(Strict):
    """The ticket to make of an inquiry: the draft as it is, or corrected.

    Every field left out takes the draft's value (the inquiry's address for ``address``).
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {},
                {"type": "install", "skills": {"aircon": 2, "electrical": 1}, "duration_min": 120},
            ]
        }
    )

    type: TicketType | None = None
    skills: dict[SkillName, SkillLevel] | None = Field(default=None, max_length=20)
    priority: Priority | None = None
    duration_min: Annotated[int, Field(ge=1, le=24 * 60), JSON_NUMBER] | None = None
    address: str | None = Field(default=None, min_length=1, max_length=500)
    external_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="the ticket's external_id; default: inquiry-<id>",
    )
    time_windows: list[Window] = Field(default_factory=list, max_length=MAX_WINDOWS)
    sla_due_at: Timestamp | None = None
    notes: str | None = Field(default=None, max_length=2000)


class InquiryConfirmed(BaseModel):
    """The ticket an inquiry became, and what staff corrected of the draft."""

    ticket_id: int
    corrected: list[str] = Field(description="parts of the draft staff changed (training data)")
    inquiry: InquiryRead
