"""The escalation schedule: a thread of each service process evaluating the rules every so often.

Several processes (``serve --workers N``) each run one; a firing is recorded under a unique
constraint before it acts, so two passes at once still act on each firing once.
"""

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import ClassVar

from fastapi import FastAPI
from sqlalchemy.orm import Session

from api.auth import utc_now
from api.background import BackgroundLoop, running
from api.clock import Clock
from api.config import Settings
from api.escalations import service
from api.escalations.service import Fired

log = logging.getLogger(__name__)


@dataclass
class EscalationWorker(BackgroundLoop):
    """Runs :func:`service.evaluate_due` every ``interval_s`` until stopped."""

    thread_name: ClassVar[str] = "escalations"
    sessions: Callable[[], Session]
    settings: Settings
    interval_s: float
    clock: Clock = utc_now

    def run_once(self) -> list[Fired]:
        """Evaluate the rules in force now; return what fired."""
        with self.sessions() as session:
            return service.evaluate_due(
                session, self.clock(), rules=service.rules_in_force(self.settings),
                at_risk_margin=service.at_risk_margin(self.settings),
            )  # fmt: skip

    def run_forever(self) -> None:
        """Wait ``interval_s``, then pass, until :meth:`stop` (the first pass: an interval in)."""
        while not self._stop.wait(self.interval_s):
            try:
                if fired := self.run_once():
                    log.info("escalations: %d rule firing(s)", len(fired))
            except Exception:  # a database hiccup must not kill the schedule; the next pass retries
                log.exception("escalation pass failed")


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
    async with running(worker):
        yield
