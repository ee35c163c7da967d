"""What every command shares: turning known errors into one line and a non-zero exit.

Known errors are bad input (a data file, a problem, a rate card, a region), an unusable
database (unreachable, refused, a malformed URL), a bad ``GEODISPATCH_*`` setting and a file
the system cannot read or write. Their classes are looked up in ``sys.modules`` instead of
imported, so this module stays cheap to import (``geodispatch --help`` loads no command): an
error of a module nobody imported cannot have been raised.
"""

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

P = ParamSpec("P")
R = TypeVar("R")
#: Bad-input errors, as (module, class): their message already names the file and the place.
INPUT_ERRORS = (
    ("api.datafiles", "DataFileError"),
    ("dispatch.errors", "DispatchError"),
    ("geo.errors", "GeoError"),
    ("settlement.errors", "SettlementError"),
)
stderr = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` on stderr as one line and return the exit to raise."""
    stderr.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _loaded_class(module: str, name: str) -> type[BaseException] | None:
    loaded = sys.modules.get(module)
    found = getattr(loaded, name, None)
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


def _is_a(err: BaseException, *classes: tuple[str, str]) -> bool:
    return any(
        (cls := _loaded_class(module, name)) is not None and isinstance(err, cls)
        for module, name in classes
    )


def _first_line(text: object) -> str:
    lines = str(text).strip().splitlines()
    return lines[0].strip() if lines else ""


def _setting_message(err: Any) -> str:
    first = err.errors()[0]
    name = "_".join(str(part) for part in first.get("loc", ())).upper()
    return f"invalid setting GEODISPATCH_{name}: {first.get('msg', 'invalid value')}"


def error_message(err: BaseException) -> str | None:
    """Return the one-line message for a known error, or None for anything else (a bug)."""
    if _is_a(err, *INPUT_ERRORS):
        return _first_line(err)
    if _is_a(err, ("sqlalchemy.exc", "DBAPIError")):  # down, unreachable, refused, no such db
        return f"cannot use the database: {_first_line(getattr(err, 'orig', err))}"
    if _is_a(err, ("sqlalchemy.exc", "ArgumentError"), ("sqlalchemy.exc", "NoSuchModuleError")):
        return f"bad database URL (GEODISPATCH_DATABASE_URL): {_first_line(err)}"
    if _is_a(err, ("pydantic_core", "ValidationError")):
        return _setting_message(err)
    if isinstance(err, OSError) and err.strerror and not isinstance(err, BrokenPipeError):
        where = f"{err.filename}: " if err.filename else ""
        return f"{where}{err.strerror}"
    return None


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Let a command's known errors end it with a one-line message and exit status 1."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except Exception as err:
            if (message := error_message(err)) is None:
                raise
            raise fail(message) from err

    return wrapper
