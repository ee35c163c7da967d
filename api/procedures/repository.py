"""The procedure files and the checklist ticks stored per ticket."""

from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.db.tables import ChecklistTickRow
from api.procedures.rules import InvalidProcedure, ProcedureLibrary, parse_procedure
from api.watched_files import RulesFileError, Watched, read_toml


class ProcedureFileError(RulesFileError):
    """A procedure file that does not parse or validate; the message names the file."""


def _read_library(directory: Path) -> ProcedureLibrary:
    procedures = [
        read_toml(path, parse_procedure, invalid=InvalidProcedure, error=ProcedureFileError)
        for path in sorted(directory.glob("*.toml"))
    ]
    try:
        return ProcedureLibrary(procedures)
    except InvalidProcedure as err:
        raise ProcedureFileError(f"{directory}: {err}", field=err.field) from err


#: The procedures of a folder's ``*.toml`` files, read again when one changes (a broken edit
#: keeps the last library that loaded).
library = Watched(_read_library, what="procedures")


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
