"""The escalation schedule: a thread of each service process evaluating the rules every so often.

Several processes (``serve --workers N``) each run one; a firing is recorded under a unique
constraint before it acts, so two passes at once still act on each firing once.
"""

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
from fastapi import FastAPI
from sqlalchemy.orm import Session

from api.auth import utc_now
from api.clock import Clock
from api.config import Settings
from api.escalations import service
from api.escalations.service import Fired

log = logging.getLogger(__name__)


@dataclass
class EscalationWorker:
    """Runs :func:`service.evaluate_due` every ``interval_s`` until stopped."""

    sessions: Callable[[], Session]
    settings: Settings
    interval_s: float
    clock: Clock = utc_now
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def run_once(self) -> list[Fired]:
        """Evaluate the rules in force now; return what fired."""
        with self.sessions() as session:
            return service.evaluate_due(
                session, self.clock(), rules=service.rules_in_force(self.settings),
                at_risk_margin=service.at_risk_margin(self.settings),
            )  # fmt: skip

    def run_forever(self) -> None:
        """Pass, then wait ``interval_s``, until :meth:`stop`."""
        while not self._stop.wait(self.interval_s):
            try:
                if fired := self.run_once():
                    log.info("escalations: %d rule firing(s)", len(fired))
            except Exception:  # a database hiccup must not kill the schedule; the next pass retries
                log.exception("escalation pass failed")

    def start(self) -> None:
        """Run in a daemon thread; the first pass comes one interval after the start."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, name="escalations", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Ask the loop to stop and wait for the current pass to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None


@asynccontextmanager
async def escalation_worker_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the escalation schedule for the app's lifetime unless ``escalation_interval_s`` is 0."""
    settings: Settings = app.state.settings
    if settings.escalation_interval_s <= 0:
        yield
        return
    engine = app.state.engine
    worker = EscalationWorker(
        sessions=lambda: Session(engine), settings=settings,
        interval_s=settings.escalation_interval_s,
    )  # fmt: skip
    worker.start()
    try:
        yield
    finally:
        await anyio.to_thread.run_sync(worker.stop)
