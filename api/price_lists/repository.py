"""Customer price-list versions in the database: documents in, ``settlement.PriceList`` out.

A version is stored as the document the admin uploaded with the content hash the settlement
package computes, and is never changed afterwards (the table's triggers refuse it): a bill is
computed from the version in force at the job's service time, so a correction is a new version.
Each process parses a version once (:func:`price_list_of`).
"""

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from api.db.tables import PriceListVersionRow
from api.documents import DocumentFormat, parse_table
from settlement.localtime import zone
from settlement.price_list import InvalidPriceList, PriceList, parse_price_list

#: Parsed lists by (row id, content hash). Versions never change, so an entry never goes
#: stale, and there is one entry per version a process has used.
_PARSED: dict[tuple[int, str], PriceList] = {}
_UNREAD_DOCUMENT = defer(PriceListVersionRow.document)
_NEWEST_FIRST = (
    PriceListVersionRow.effective_from.desc(),
    PriceListVersionRow.version.desc(),
    PriceListVersionRow.list_id,
)


class SaveOutcome(StrEnum):
    """What storing a version did."""

    CREATED = "created"
    UNCHANGED = "unchanged"  # the same (id, version) with the same content: nothing to do


class PriceListVersionExists(InvalidPriceList):
    """That (id, version) is stored with other content; versions never change."""

    code = "price_list_version_exists"


def parse_document(document: str, document_format: DocumentFormat) -> dict[str, Any]:
    """Decode a TOML or JSON price-list document into its plain table (``InvalidPriceList``)."""
    return parse_table(
        document, document_format, where="price_list",
        refuse=lambda message: InvalidPriceList(message, field="body"),
    )  # fmt: skip


def price_list_of(row: PriceListVersionRow) -> PriceList:
    """Return the parsed list of a stored version, parsed once per process."""
    key = (row.id, row.content_sha256)
    if (parsed := _PARSED.get(key)) is None:
        document_format: DocumentFormat = "toml" if row.document_format == "toml" else "json"
        parsed = _PARSED[key] = parse_price_list(parse_document(row.document, document_format))
    return parsed


def save_version(
    session: Session,
    *,
    document: str,
    document_format: DocumentFormat,
    now: datetime,
    actor_key_id: str | None,
) -> tuple[PriceListVersionRow, SaveOutcome]:
    """Validate a price-list document and store it as (id, version).

    Raises
    ------
    InvalidPriceList
        Naming the entry and field, for a bad list.
    PriceListVersionExists
        If that (id, version) is stored with different content.
    """
    price_list = parse_price_list(parse_document(document, document_format))
    row = get_version(session, list_id=price_list.id, version=price_list.version)
    if row is not None:
        if row.content_sha256 != price_list.content_hash:
            raise PriceListVersionExists(
                f"price list {price_list.version_label} is stored with other content and a "
                "version never changes; publish it as a new version",
                list_id=price_list.id,
                version=price_list.version,
            )
        return row, SaveOutcome.UNCHANGED
    row = PriceListVersionRow(
        list_id=price_list.id,
        version=price_list.version,
        currency=price_list.currency,
        time_zone=price_list.time_zone,
        effective_from=price_list.effective_from,
        effective_until=price_list.effective_until,
        document_format=document_format,
        document=document,
        content_sha256=price_list.content_hash,
        created_at=now,
        created_by_key_id=actor_key_id,
    )
    session.add(row)
    session.flush()
    _PARSED[row.id, row.content_sha256] = price_list
    return row, SaveOutcome.CREATED


def get_version(session: Session, *, list_id: str, version: int) -> PriceListVersionRow | None:
    """Return one stored version, or None."""
    return session.scalar(
        select(PriceListVersionRow).where(
            PriceListVersionRow.list_id == list_id, PriceListVersionRow.version == version
        )
    )


def list_versions(session: Session, *, list_id: str | None = None) -> list[PriceListVersionRow]:
    """List stored versions, newest effective date first (optionally of one list id)."""
    query = select(PriceListVersionRow).options(_UNREAD_DOCUMENT).order_by(*_NEWEST_FIRST)
    if list_id is not None:
        query = query.where(PriceListVersionRow.list_id == list_id)
    return list(session.scalars(query))


def candidates_before(session: Session, *, latest: datetime) -> list[PriceListVersionRow]:
    """Return every version taking effect no later than the day of ``latest``, newest first.

    Feed them to :func:`in_force_at`; loading them once serves any number of service times.
    """
    latest_from = latest.date() + timedelta(days=1)  # no zone is more than a day ahead of UTC
    query = (
        select(PriceListVersionRow)
        .where(PriceListVersionRow.effective_from <= latest_from)
        .options(_UNREAD_DOCUMENT)
        .order_by(*_NEWEST_FIRST)
    )
    return list(session.scalars(query))


def in_force_at(
    candidates: Sequence[PriceListVersionRow], at: datetime
) -> PriceListVersionRow | None:
    """Return the version in force at an instant (the date in each version's time zone).

    When several cover it, the one that took effect last wins, then the highest version: as
    for rate cards, publishing a version with a later ``effective_from`` supersedes the old one
    from that day on without changing it.
    """
    for row in candidates:
        day: date = at.astimezone(zone(row.time_zone)).date()
        if row.effective_from <= day and (row.effective_until is None or day < row.effective_until):
            return row
    return None
