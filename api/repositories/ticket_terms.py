"""The words a ticket may use for its work facts: the rate cards' difficulty flags and materials.

A flag or material no card knows would silently earn or deduct nothing, so tickets are checked
against the stored rate-card versions that still price orders (open-ended, or ending after
``today``): a flag of last year's card is refused, one of next month's card is fine.
"""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from api.db.tables import RateCardVersionRow
from api.repositories import rate_cards as card_repo
from settlement.rules.coefficients import KeyedCoefficientSlot
from settlement.rules.fees import MaterialSlot


@dataclass(frozen=True, slots=True)
class CardTerms:
    """Difficulty flags and material codes of the rate cards in force now or later."""

    flags: frozenset[str]
    materials: frozenset[str]


def card_terms(session: Session, *, today: date) -> CardTerms:
    """Collect the flags and material codes of every version not expired by ``today``."""
    rows = session.scalars(
        select(RateCardVersionRow).where(
            or_(
                RateCardVersionRow.effective_until.is_(None),
                RateCardVersionRow.effective_until > today,
            )
        )
    )
    slots = [slot for row in rows for slot in card_repo.card_of(row).slots]
    return CardTerms(
        flags=frozenset(
            s.flag for s in slots if isinstance(s, KeyedCoefficientSlot) and s.flag is not None
        ),
        materials=frozenset(s.material_code for s in slots if isinstance(s, MaterialSlot)),
    )
