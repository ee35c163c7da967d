"""What runs inside a dispatch worker process: kept to ``dispatch`` imports, so it starts fast.

A worker is a fresh (spawned) interpreter that imports this module to unpickle its task; the
web stack (FastAPI, SQLAlchemy, the repositories) would add seconds to every worker start.
A worker lives as long as the service and loads the solver's compiled kernels once, when it
starts, so a run it picks up starts searching at once.
"""

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dispatch import Plan, Problem, SolveParams, solve, warm_up

if TYPE_CHECKING:
    from multiprocessing.queues import SimpleQueue

StartedEvent = tuple[int, float]  # (run id, POSIX time the worker started solving)

_events: "SimpleQueue[StartedEvent | None] | None" = None  # set once in each worker process
_warm_up_s: float | None = None  # seconds this worker took to load the solver


def init_worker(events: "SimpleQueue[StartedEvent | None]") -> None:
    """Keep the queue on which this worker announces its runs; load the solver's kernels.

    Loading the compiled kernels (and OR-Tools) here keeps that second or two out of the first
    run's time limit.
    """
    global _events, _warm_up_s
    _events = events
    _warm_up_s = warm_up()


def worker_ready() -> tuple[int, float | None]:
    """Return this worker's process id and the seconds it took to load the solver.

    Submitted once per worker when the service starts (``RunExecutor(warm=True)``): the pool
    starts a process for each, and each loads the kernels in :func:`init_worker` before the
    first run arrives.
    """
    return os.getpid(), _warm_up_s


def solve_in_worker(run_id: int, problem: Problem, params: SolveParams) -> Plan:
    """Solve one run, announcing its start to the parent first."""
    if _events is not None:
        _events.put((run_id, datetime.now(UTC).timestamp()))
    return solve(problem, params)
