"""Rules that operators keep in TOML files and edit while the service runs.

Device alarm rules, escalation rules and the service procedures are each read when first asked
for and again whenever their file (or a file of their folder) changes. An edit that breaks them
does not take them away: the rules that loaded before keep serving and the error is logged.
Without rules loaded before (at start-up) the error is raised, naming the file and the field.
"""

import logging
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
Signature = tuple[tuple[str, int, int], ...]


class RulesFileError(ValueError):
    """A rules file that cannot be used; the message names the file, ``field`` the culprit."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def read_toml(
    path: Path,
    parse: Callable[[Mapping[str, Any]], T],
    *,
    invalid: type[ValueError],
    error: type[RulesFileError],
) -> T:
    """Parse the TOML file ``path`` with ``parse``; raise ``error`` for anything wrong with it.

    ``invalid`` is the parser's own error, whose ``field`` names the offending field.
    """
    try:
        with path.open("rb") as handle:
            return parse(tomllib.load(handle))
    except OSError as err:
        raise error(f"{path}: {err.strerror}", field="file") from err
    except tomllib.TOMLDecodeError as err:
        raise error(f"{path}: {err}", field="file") from err
    except invalid as err:
        raise error(f"{path}: {err}", field=getattr(err, "field", "file")) from err


class Watched(Generic[T]):
    """Rules loaded from a file or a folder by ``load``, loaded again when it changes.

    A load that fails with :class:`RulesFileError` keeps the last rules that loaded from the
    same path (logged), and is raised when there are none.
    """

    def __init__(self, load: Callable[[Path], T], *, what: str) -> None:
        self._load = load
        self._what = what
        self._last_good: dict[Path, tuple[Signature | None, T]] = {}

    def __call__(self, path: Path) -> T:
        signature = _signature(path)
        last = self._last_good.get(path)
        if last is not None and signature is not None and last[0] == signature:
            return last[1]
        try:
            loaded = self._load(path)
        except RulesFileError:
            if last is None:
                raise
            log.exception("keeping the %s loaded before: %s is invalid", self._what, path)
            return last[1]
        self._last_good[path] = (signature, loaded)
        return loaded


def _signature(path: Path) -> Signature | None:
    """Name, modification time and size of the file, or of each ``*.toml`` of the folder.

    None when it cannot be read: the load says why.
    """
    try:
        files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
        return tuple((f.name, (st := f.stat()).st_mtime_ns, st.st_size) for f in files)
    except OSError:
        return None
