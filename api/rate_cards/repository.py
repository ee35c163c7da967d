"""Rate-card versions in the database: documents in, parsed ``settlement.RateCard`` values out.

A version is stored as the document the admin uploaded (TOML or JSON text) with the content hash
the settlement package computes. It may be replaced until it first prices an order; from then on
no code path updates it (and a trigger refuses it). Each process parses a version once
(:func:`card_of`); the queries that load versions to use their cards leave the document unread.
"""

from collections.abc import Callable
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, defer

from api.db.tables import RateCardVersionRow
from api.documents import DocumentFormat, parse_table
from api.rate_cards.cache import ParsedCards
from settlement import (
    InvalidRateCard,
    RateCard,
    RateCardVersionUsed,
    check_open_ended_tiers,
    check_regions,
    check_unchanged,
    parse_rate_card,
)
from settlement.localtime import zone

#: The most rules a card may have, and the most entries any one table or list in it may have
#: (fees, coefficients, flags, materials, windows, tiers...): they bound what parsing a card and
#: pricing with it cost. A nation-wide region table has about 3,000 entries.
MAX_RULES = 100
MAX_ENTRIES = 5_000

_PARSED = ParsedCards(capacity=64)
_UNREAD_DOCUMENT = defer(RateCardVersionRow.document)


class SaveOutcome(StrEnum):
    """What storing a version did."""

    CREATED = "created"
    UNCHANGED = "unchanged"  # the same (id, version) with the same content: nothing to do
    REPLACED = "replaced"  # an unused version got new content


class RateCardChanged(InvalidRateCard):
    """The version was replaced while an order was being priced under it; retry the request."""

    code = "rate_card_changed"


def parse_document(document: str, document_format: DocumentFormat) -> dict[str, Any]:
    """Decode a TOML or JSON rate-card document into its plain table (``InvalidRateCard``)."""
    return parse_table(
        document, document_format, where="card",
        refuse=lambda message: InvalidRateCard(message, field="body"),
    )  # fmt: skip


def check_size(table: dict[str, Any]) -> None:
    """Refuse a card over the size limits (``InvalidRateCard`` naming the field).

    At most ``MAX_RULES`` rules, and at most ``MAX_ENTRIES`` entries in any table or list.
    """
    rules = table.get("rules")
    if isinstance(rules, list) and len(rules) > MAX_RULES:
        raise InvalidRateCard(
            f"card: at most {MAX_RULES} rules, not {len(rules)}", field="rules", limit=MAX_RULES
        )
    pending: list[tuple[str, object]] = [("card", table)]
    while pending:  # a loop, not recursion: a document may nest as deeply as its parser allowed
        path, value = pending.pop()
        if not isinstance(value, dict | list) or not value:
            continue
        if len(value) > MAX_ENTRIES:
            raise InvalidRateCard(
                f"{path}: at most {MAX_ENTRIES} entries, not {len(value)}",
                field=path,
                limit=MAX_ENTRIES,
            )
        if isinstance(value, dict):
            pending += [(_field(path, str(key)), item) for key, item in value.items()]
        else:
            pending += [(f"{path}[{i}]", item) for i, item in enumerate(value)]


def _field(table_path: str, key: str) -> str:
    """Name a table's entry as the card's errors do: ``rules[1].coefficients``, ``rules``."""
    return key if table_path == "card" else f"{table_path}.{key}"


def card_of(row: RateCardVersionRow) -> RateCard:
    """Return the parsed card of a stored version, parsed once per process.

    Only the first call for a version reads its document (a lazy load when the query left it
    unread), so the hot paths cost the same whatever the card's size.
    """
    key = (row.id, row.content_sha256)
    card = _PARSED.get(key)
    if card is None:
        document_format: DocumentFormat = "toml" if row.document_format == "toml" else "json"
        card = parse_rate_card(parse_document(row.document, document_format))
        _PARSED.put(key, card)
    return card


def cards_not_expired(session: Session, *, today: date) -> list[RateCard]:
    """Return the cards of every version open-ended or ending after ``today``."""
    rows = session.scalars(
        select(RateCardVersionRow)
        .where(
            or_(
                RateCardVersionRow.effective_until.is_(None),
                RateCardVersionRow.effective_until > today,
            )
        )
        .options(_UNREAD_DOCUMENT)
    )
    return [card_of(row) for row in rows]


def save_version(
    session: Session,
    *,
    document: str,
    document_format: DocumentFormat,
    region_ids: set[str],
    now: datetime,
    actor_key_id: str | None,
) -> tuple[RateCardVersionRow, SaveOutcome]:
    """Validate a card document and store it as (id, version).

    Raises
    ------
    InvalidRateCard
        (or a subclass) naming the rule and field, for a bad card, one over the size limits
        (:func:`check_size`) or one naming an unknown region id.
    RateCardVersionUsed
        If that (id, version) has priced orders and the content differs.
    """
    table = parse_document(document, document_format)
    check_size(table)
    card = parse_rate_card(table)
    check_regions(card, region_ids)
    check_open_ended_tiers(card)  # new cards only: stored ones still settle, labelled
    row = get_version(session, card_id=card.id, version=card.version)
    if row is None:
        row = RateCardVersionRow(
            card_id=card.id,
            version=card.version,
            document_format=document_format,
            document=document,
            created_at=now,
            created_by_key_id=actor_key_id,
            **_columns(card),
        )
        session.add(row)
        session.flush()
        outcome = SaveOutcome.CREATED
    elif row.content_sha256 == card.content_hash:
        outcome = SaveOutcome.UNCHANGED
    else:
        _replace(session, row=row, card=card, document=document, document_format=document_format)
        outcome = SaveOutcome.REPLACED
    _PARSED.put((row.id, card.content_hash), card)  # parsed here already: not again on use
    return row, outcome


def _replace(
    session: Session,
    *,
    row: RateCardVersionRow,
    card: RateCard,
    document: str,
    document_format: DocumentFormat,
) -> None:
    """Give an unused version new content; refuse if it has priced orders."""
    if row.first_used_at is not None:
        check_unchanged(card, {(row.card_id, row.version): row.content_sha256})
    replaced = session.execute(
        update(RateCardVersionRow)
        .where(RateCardVersionRow.id == row.id, RateCardVersionRow.first_used_at.is_(None))
        .values(document_format=document_format, document=document, **_columns(card))
        .execution_options(synchronize_session=False)
    )
    if getattr(replaced, "rowcount", 0) != 1:  # priced an order since we read it
        raise RateCardVersionUsed(
            f"rate card {card.version_label} has already priced orders and cannot be edited; "
            "publish it as a new version",
            card_id=card.id,
            version=card.version,
        )
    session.refresh(row)


def _columns(card: RateCard) -> dict[str, Any]:
    return {
        "currency": card.currency,
        "time_zone": card.time_zone,
        "effective_from": card.effective_from,
        "effective_until": card.effective_until,
        "content_sha256": card.content_hash,
    }


def get_version(session: Session, *, card_id: str, version: int) -> RateCardVersionRow | None:
    """Return one stored version, or None."""
    return session.scalar(
        select(RateCardVersionRow).where(
            RateCardVersionRow.card_id == card_id, RateCardVersionRow.version == version
        )
    )


def list_versions(session: Session, *, card_id: str | None = None) -> list[RateCardVersionRow]:
    """List stored versions, newest effective date first (optionally of one card id)."""
    query = (
        select(RateCardVersionRow)
        .order_by(
            RateCardVersionRow.effective_from.desc(),
            RateCardVersionRow.version.desc(),
            RateCardVersionRow.card_id,
        )
        .options(_UNREAD_DOCUMENT)
    )
    if card_id is not None:
        query = query.where(RateCardVersionRow.card_id == card_id)
    return list(session.scalars(query))


def in_force_on(session: Session, *, local_date: date) -> RateCardVersionRow | None:
    """Return the version in force on a calendar date (each card's own time zone).

    When several versions cover the date, the one that took effect last wins, then the highest
    version number: publishing a new version with a later ``effective_from`` supersedes the
    old one from that day without editing it.
    """
    return _first_in_force(session, lambda row: local_date, latest_from=local_date)


def in_force_at(session: Session, *, at: datetime) -> RateCardVersionRow | None:
    """Return the version in force at an instant (the date in each card's time zone)."""
    return _first_in_force(
        session,
        lambda row: at.astimezone(zone(row.time_zone)).date(),
        latest_from=at.date() + timedelta(days=1),  # no zone is more than a day ahead of UTC
    )


def _first_in_force(
    session: Session,
    local_date_of: Callable[[RateCardVersionRow], date],
    *,
    latest_from: date,
) -> RateCardVersionRow | None:
    candidates = session.scalars(
        select(RateCardVersionRow)
        .where(RateCardVersionRow.effective_from <= latest_from)
        .order_by(
            RateCardVersionRow.effective_from.desc(),
            RateCardVersionRow.version.desc(),
            RateCardVersionRow.card_id,
        )
        .options(_UNREAD_DOCUMENT)
    )
    for row in candidates:
        day = local_date_of(row)
        if row.effective_from <= day and (row.effective_until is None or day < row.effective_until):
            return row
    return None


def mark_used(
    session: Session, *, row: RateCardVersionRow, content_sha256: str, now: datetime
) -> None:
    """Freeze a version because an order was priced under content ``content_sha256``.

    Raises
    ------
    RateCardChanged
        If the version was replaced after the caller read it (the price would not match it).
    """
    if row.first_used_at is not None and row.content_sha256 == content_sha256:
        return
    frozen = session.execute(
        update(RateCardVersionRow)
        .where(
            RateCardVersionRow.id == row.id,
            RateCardVersionRow.content_sha256 == content_sha256,
            RateCardVersionRow.first_used_at.is_(None),
        )
        .values(first_used_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(row)
    if getattr(frozen, "rowcount", 0) != 1 and row.content_sha256 != content_sha256:
        raise RateCardChanged(
            f"rate card {row.card_id}@v{row.version} changed while it was being applied; retry",
            card_id=row.card_id,
            version=row.version,
        )
