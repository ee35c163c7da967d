"""The lead as the rules see it: channel, contact, product line, place and touches."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Channel(StrEnum):
    """Where a lead came from; channel quality is one line of the score."""

    WEB_FORM = "web_form"
    API = "api"
    SOCIAL = "social"
    ADS = "ads"
    OFFLINE_EVENT = "offline_event"
    PARTNER = "partner"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """What scoring, assignment and nurture read from a cleaned lead.

    ``region_id`` is the most specific service region containing the lead's location (``None``
    without a location or outside every region); ``touches`` counts inbound captures, the first
    one included; ``last_touched_at`` is the latest of them.
    """

    channel: Channel
    has_phone: bool
    has_email: bool
    has_name: bool
    has_location: bool
    product_line: str | None
    region_id: str | None
    touches: int
    last_touched_at: datetime
