"""The in-memory ``RegionIndex`` of the stored regions, rebuilt only when they change."""

from threading import Lock

from sqlalchemy.orm import Session

from api.repositories import regions as region_repo
from geo.regions import RegionIndex


class RegionCache:
    """Hands out a ``RegionIndex`` that matches the database; one per app."""

    def __init__(self) -> None:
        self._lock = Lock()
        self._signature: tuple[int, float, int, str] | None = None
        self._index: RegionIndex | None = None

    def index(self, session: Session) -> RegionIndex:
        """Return the index of the stored regions (rebuilt on first use and after a change)."""
        current = region_repo.signature(session)
        with self._lock:
            if self._index is None or current != self._signature:
                self._index = RegionIndex(region_repo.list_regions(session))
                self._signature = current
            return self._index
