"""The clock the service's background workers read, passed in so that tests can hold it.

Production passes :func:`api.auth.utc_now` (the default everywhere); tests pass a
:class:`ManualClock` and move it on with :meth:`ManualClock.advance` instead of sleeping.
"""

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

Clock = Callable[[], datetime]  # returns the current time, timezone-aware


class ManualClock:
    """A clock that stands still until it is told to move on; safe to read from any thread.

    >>> from datetime import UTC
    >>> clock = ManualClock(datetime(2026, 12, 3, 6, tzinfo=UTC))
    >>> clock.advance(1.5)
    >>> clock().isoformat()
    '2026-12-03T06:00:01.500000+00:00'
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a clock reads timezone-aware times")
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` on (never back)."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        with self._lock:
            self._now += timedelta(seconds=seconds)
