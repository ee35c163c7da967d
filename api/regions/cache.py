"""The in-memory ``RegionIndex`` of the stored regions, rebuilt only when they change."""

import time
from collections.abc import Callable
from threading import Lock

from sqlalchemy.orm import Session

from api.regions import repository as repo
from geo.regions import RegionIndex

#: How often a process asks the database whether the regions changed. Regions change rarely
#: (``geodispatch demo load``, from another process), so a new set is used within this long.
CHECK_EVERY_S = 5.0


class RegionCache:
    """Hands out a ``RegionIndex`` that matches the database; one per app.

    The regions' signature is read at most every ``check_every_s`` seconds rather than on
    every request: locating a ticket then costs no query at all.
    """

    def __init__(
        self,
        *,
        check_every_s: float = CHECK_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check_every_s = check_every_s
        self._clock = clock
        self._lock = Lock()
        self._signature: tuple[int, float, int, str] | None = None
        self._index: RegionIndex | None = None
        self._checked_at = float("-inf")

    def index(self, session: Session) -> RegionIndex:
        """Return the index of the stored regions (rebuilt on first use and after a change)."""
        index = self._index
        if index is not None and self._clock() - self._checked_at < self._check_every_s:
            return index
        current = repo.signature(session)
        with self._lock:
            if self._index is None or current != self._signature:
                self._index = RegionIndex(repo.list_regions(session))
                self._signature = current
            self._checked_at = self._clock()
            return self._index
