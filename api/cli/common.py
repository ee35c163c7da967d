"""What every command shares: turning known errors into a message and a non-zero exit."""

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from sqlalchemy.exc import OperationalError

from api.datafiles import DataFileError
from dispatch.errors import DispatchError
from geo.errors import GeoError
from settlement.errors import SettlementError

P = ParamSpec("P")
R = TypeVar("R")
KNOWN_ERRORS = (DataFileError, DispatchError, GeoError, SettlementError)
stderr = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` on stderr and return the exit to raise."""
    stderr.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Let a command's known errors end it with a one-line message and exit status 1."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except KNOWN_ERRORS as err:
            raise fail(str(err)) from err
        except OperationalError as err:  # the server is down, unreachable or refused us
            first_line = str(err.orig).strip().splitlines()[0]
            raise fail(f"cannot use the database: {first_line}") from err

    return wrapper
