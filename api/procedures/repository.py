"""The procedure files and the checklist ticks stored per ticket."""

import logging
import tomllib
from functools import lru_cache
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.db.tables import ChecklistTickRow
from api.procedures.rules import InvalidProcedure, ProcedureLibrary, parse_procedure

log = logging.getLogger(__name__)
_last_good: dict[Path, ProcedureLibrary] = {}


class ProcedureFileError(InvalidProcedure):
    """A procedure file that does not parse or validate; the message names the file."""


def library(directory: Path) -> ProcedureLibrary:
    """Return the procedures of ``directory``'s ``*.toml`` files, reloaded when a file changes.

    A file broken while the service runs does not take checklists away: the last library that
    loaded keeps serving and the error is logged. Without one (at start-up) the error is raised.
    """
    files = sorted(directory.glob("*.toml"))
    signature = tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    try:
        loaded = _load(directory, signature)
    except ProcedureFileError:
        if directory not in _last_good:
            raise
        log.exception("keeping the procedures loaded before: a file in %s is invalid", directory)
        return _last_good[directory]
    _last_good[directory] = loaded
    return loaded


@lru_cache(maxsize=4)
def _load(directory: Path, signature: tuple[tuple[str, int, int], ...]) -> ProcedureLibrary:
    procedures = []
    for name, _mtime, _size in signature:
        path = directory / name
        try:
            with path.open("rb") as handle:
                procedures.append(parse_procedure(tomllib.load(handle)))
        except tomllib.TOMLDecodeError as err:
            raise ProcedureFileError(f"{path}: {err}", field="file") from err
        except InvalidProcedure as err:
            raise ProcedureFileError(f"{path}: {err}", field=err.field) from err
    try:
        return ProcedureLibrary(procedures)
    except InvalidProcedure as err:
        raise ProcedureFileError(f"{directory}: {err}", field=err.field) from err


def ticks(session: Session, *, ticket_id: int) -> dict[str, ChecklistTickRow]:
    """Return the ticket's ticked items by item id."""
    rows = session.scalars(select(ChecklistTickRow).where(ChecklistTickRow.ticket_id == ticket_id))
    return {row.item_id: row for row in rows}


def tick(session: Session, row: ChecklistTickRow) -> None:
    """Record a tick, replacing an earlier one of the same item (a new photo, say)."""
    untick(session, ticket_id=row.ticket_id, item_id=row.item_id)
    session.add(row)
    session.flush()


def untick(session: Session, *, ticket_id: int, item_id: str) -> None:
    """Remove the item's tick, if any."""
    session.execute(
        delete(ChecklistTickRow).where(
            ChecklistTickRow.ticket_id == ticket_id, ChecklistTickRow.item_id == item_id
        )
    )
