"""Work a service process does beside its requests, each kind in a daemon thread of its own.

The webhook deliveries and the escalation schedule run this way; each loop waits on the stop
event between passes, so stopping one lets the pass in hand finish.
"""

import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import ClassVar

import anyio.to_thread


@dataclass
class BackgroundLoop(ABC):
    """Runs :meth:`run_forever` in a daemon thread from :meth:`start` until :meth:`stop`."""

    thread_name: ClassVar[str]
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    @abstractmethod
    def run_forever(self) -> None:
        """Work until the stop event is set, waiting on it between passes."""

    def start(self) -> None:
        """Run :meth:`run_forever` in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, name=self.thread_name,
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Ask the loop to stop and wait for the current pass to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None


@asynccontextmanager
async def running(loop: BackgroundLoop) -> AsyncIterator[None]:
    """Keep ``loop`` running for the app's lifetime; stopping it does not block the event loop."""
    loop.start()
    try:
        yield
    finally:
        await anyio.to_thread.run_sync(loop.stop)
