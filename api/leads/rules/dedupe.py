"""De-duplication: the same person (phone or e-mail) within a window is one lead."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from api.leads.rules.contact import Contact


@dataclass(frozen=True, slots=True)
class DedupeParams:
    """How long after its last touch a lead still absorbs a new capture of the same person."""

    window: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        if self.window <= timedelta(0):
            raise ValueError(f"the de-duplication window must be positive, got {self.window}")

    def oldest_touch(self, now: datetime) -> datetime:
        """Return the earliest last-touch time of a lead that still merges at ``now``."""
        return now - self.window


def dedupe_keys(contact: Contact) -> tuple[str, ...]:
    """Return the keys under which the same person is recognised (case-insensitive e-mail).

    >>> dedupe_keys(Contact("+8613912345678", "Li@Example.com"))
    ('phone:+8613912345678', 'email:li@example.com')
    """
    keys = []
    if contact.phone_e164:
        keys.append(f"phone:{contact.phone_e164}")
    if contact.email:
        keys.append(f"email:{contact.email.casefold()}")
    return tuple(keys)


def merge_missing(
    existing: Mapping[str, object | None], incoming: Mapping[str, object | None]
) -> dict[str, object]:
    """Return the fields ``incoming`` adds to ``existing``: blanks are filled, never overwritten.

    A repeat capture may bring the e-mail the first form lacked; it must not replace a phone
    number a salesperson already called.

    >>> merge_missing({"name": "Li", "email": None}, {"name": "Wang", "email": "li@qq.com"})
    {'email': 'li@qq.com'}
    """
    return {
        key: value
        for key, value in incoming.items()
        if value is not None and existing.get(key) is None
    }
