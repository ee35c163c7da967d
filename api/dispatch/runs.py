"""The run executor: dispatch runs solve in worker processes, never in the web process.

The app owns one ``RunExecutor`` (created and shut down in its lifespan). A request stores the
run as ``queued``, commits, and submits the problem; it returns at once. A worker announces the
start of a solve on an event queue; the parent writes that (``running``) and, when the future
completes, the plan or the error, so what a run did survives in ``dispatch_run`` whatever
process asks later. Every database write happens in the parent, on one recorder thread.

The parent also holds a lease on each run it owns (queued or running, see ``RunLeases``): a
heartbeat thread renews ``heartbeat_at`` every quarter of the lease. If the process dies,
nobody renews it, and whoever reads the run after the lease has expired, or the next start of
the service, records it as failed (``worker_lost``) instead of leaving it running forever.
The times written come from a clock passed in (``api.clock``); the beat itself keeps real time.
"""

import logging
import multiprocessing
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.auth import utc_now
from api.clock import Clock
from api.dispatch import repository as repo
from api.dispatch.run_worker import StartedEvent, init_worker, solve_in_worker, worker_ready
from dispatch import DispatchError, Plan, Problem, SolveParams, Unassigned
from dispatch.plan_io import plan_to_dict

if TYPE_CHECKING:
    from multiprocessing.queues import SimpleQueue

log = logging.getLogger(__name__)
CANCELLED = {"code": "cancelled", "message": "the service stopped first", "details": {}}
SessionFactory = Callable[[], AbstractContextManager[Session]]


def with_excluded(plan: Plan, excluded: tuple[Unassigned, ...]) -> Plan:
    """Return ``plan`` with the tickets left out before the solve among its unassigned."""
    if not excluded:
        return plan
    kpis = replace(plan.kpis, unassigned=plan.kpis.unassigned + len(excluded))
    return replace(plan, unassigned=plan.unassigned + excluded, kpis=kpis)


def error_of(exc: BaseException) -> dict[str, Any]:
    """Return the error body stored for a failed run."""
    if isinstance(exc, DispatchError):
        return {"code": exc.code, "message": str(exc), "details": exc.details}
    return {"code": "solver_failed", "message": f"{type(exc).__name__}: {exc}", "details": {}}


class RunLeases:
    """The leases this process holds on its unfinished runs, renewed at ``clock`` time.

    ``sessions`` makes the session of each renewal. Holding and releasing are safe from any
    thread; :meth:`renew` writes, so the executor calls it on its recorder thread only.
    """

    def __init__(self, *, sessions: SessionFactory, clock: Clock = utc_now) -> None:
        self.sessions = sessions
        self.clock = clock
        self._held: set[int] = set()
        self._lock = threading.Lock()

    def hold(self, run_id: int) -> None:
        """Keep renewing ``run_id`` until it is released."""
        with self._lock:
            self._held.add(run_id)

    def release(self, run_id: int) -> None:
        """Stop renewing ``run_id`` (its outcome is recorded)."""
        with self._lock:
            self._held.discard(run_id)

    def held(self) -> list[int]:
        """Return the ids of the runs held, in order."""
        with self._lock:
            return sorted(self._held)

    def renew(self, run_ids: list[int] | None = None) -> None:
        """Set ``heartbeat_at`` of the runs held (or of ``run_ids``) that are still unfinished.

        A failure is logged, not raised: a missed beat is retried at the next one, and the
        lease allows three.
        """
        run_ids = self.held() if run_ids is None else run_ids
        if not run_ids:
            return
        try:
            with self.sessions() as session:
                repo.refresh_heartbeats(session, run_ids=run_ids, at=self.clock())
                session.commit()
        except Exception:
            log.exception("could not renew the lease of dispatch runs %s", run_ids)


class RunExecutor:
    """Solves runs in ``workers`` processes and records their outcome through ``sessions``.

    ``sessions`` makes a session for each write (tests swap it for their own); ``clock`` dates
    the outcomes and the heartbeats. The lease of every run submitted here and not yet
    recorded as finished is renewed every ``lease_s / 4`` seconds (real time).

    With ``warm`` the worker processes start now and load the solver's kernels, so the first
    run is picked up by a worker ready to search; without it the pool starts a worker when a
    run arrives, and that run waits for the start (a few seconds).
    """

    def __init__(
        self,
        *,
        workers: int,
        sessions: SessionFactory,
        lease_s: float,
        clock: Clock = utc_now,
        warm: bool = False,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.leases = RunLeases(sessions=lambda: self.sessions(), clock=lambda: self.clock())
        self._workers = workers
        self._context = multiprocessing.get_context("spawn")  # never fork a threaded process
        self._events: SimpleQueue[StartedEvent | None] = self._context.SimpleQueue()
        self._pool = self._new_pool()
        #: With ``warm``: per worker started, its (process id, seconds to load the solver).
        self.workers_ready: list[Future[tuple[int, float | None]]] = []
        if warm:
            self._start_workers()
        self._recorder = ThreadPoolExecutor(1, thread_name_prefix="dispatch-recorder")
        self._listener = threading.Thread(target=self._listen, name="dispatch-events", daemon=True)
        self._listener.start()
        self._stopping = threading.Event()
        self._beat_s = lease_s / 4
        self._heart = threading.Thread(target=self._beat, name="dispatch-heartbeat", daemon=True)
        self._heart.start()

    def submit(
        self, run_id: int, problem: Problem, params: SolveParams, excluded: tuple[Unassigned, ...]
    ) -> None:
        """Queue a stored run; its status follows in the database."""
        self.leases.hold(run_id)
        try:
            future = self._pool.submit(solve_in_worker, run_id, problem, params)
        except BrokenProcessPool:  # a worker died (killed, out of memory): start afresh
            log.warning("dispatch worker pool broken; starting a new one")
            self._pool = self._new_pool()
            future = self._pool.submit(solve_in_worker, run_id, problem, params)
        future.add_done_callback(lambda f: self._recorder.submit(self._finish, run_id, f, excluded))

    def _start_workers(self) -> None:
        """Start every worker now; each loads the kernels as it starts (``init_worker``).

        A spawned pool starts a process for each task it is given while it has fewer than
        ``workers``, so one trivial task per worker starts them all.
        """
        for _ in range(self._workers):
            ready = self._pool.submit(worker_ready)
            ready.add_done_callback(_log_ready)
            self.workers_ready.append(ready)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self._workers, mp_context=self._context, initializer=init_worker,
            initargs=(self._events,),
        )  # fmt: skip

    def shutdown(self) -> None:
        """Cancel queued runs (recorded as failed), wait for running ones, stop the threads."""
        self._pool.shutdown(wait=True, cancel_futures=True)  # heartbeats go on while it waits
        self._events.put(None)
        self._listener.join(timeout=5)
        self._recorder.shutdown(wait=True)
        self._stopping.set()
        self._heart.join(timeout=5)

    def _beat(self) -> None:
        while not self._stopping.wait(self._beat_s):
            if owned := self.leases.held():
                try:
                    self._recorder.submit(self.leases.renew, owned)
                except RuntimeError:  # the recorder has shut down: nothing left to renew
                    return

    def _listen(self) -> None:
        while (event := self._events.get()) is not None:
            run_id, at = event
            self._recorder.submit(self._started, run_id, datetime.fromtimestamp(at, UTC))

    def _started(self, run_id: int, at: datetime) -> None:
        with self.sessions() as session:
            repo.mark_started(session, run_id=run_id, at=at)
            session.commit()

    def _finish(
        self, run_id: int, future: "Future[Plan]", excluded: tuple[Unassigned, ...]
    ) -> None:
        now = self.clock()
        try:
            with self.sessions() as session:
                if future.cancelled():
                    repo.mark_failed(session, run_id=run_id, error=CANCELLED, at=now)
                elif (exc := future.exception()) is not None:
                    repo.mark_failed(session, run_id=run_id, error=error_of(exc), at=now)
                else:
                    doc = plan_to_dict(with_excluded(future.result(), excluded))
                    repo.mark_succeeded(session, run_id=run_id, plan_doc=doc, at=now)
                session.commit()
        except Exception:  # a lost result must not kill the recorder thread
            log.exception("could not record the outcome of dispatch run %s", run_id)
        self.leases.release(run_id)


def _log_ready(future: "Future[tuple[int, float | None]]") -> None:
    if future.cancelled() or future.exception() is not None:
        return  # a worker that cannot start fails the first run, which records why
    pid, warm_up_s = future.result()
    log.info("dispatch worker %s ready: solver loaded in %.2f s", pid, warm_up_s or 0.0)


@asynccontextmanager
async def run_executor_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Own the app's ``RunExecutor`` for its lifetime (``app.state.run_executor``).

    At startup a background thread (``app.state.run_recovery``) records the runs whose process
    died (lease expired) as failed; a busy database must not hold up startup, and a run it
    misses is failed when it is read.
    """
    engine, settings = app.state.engine, app.state.settings
    recovery = threading.Thread(
        target=fail_lost_runs, args=(engine, settings.dispatch_run_lease_s),
        name="dispatch-recovery", daemon=True,
    )  # fmt: skip
    recovery.start()
    app.state.run_recovery = recovery
    executor = RunExecutor(
        workers=settings.dispatch_workers,
        sessions=lambda: Session(engine),
        lease_s=settings.dispatch_run_lease_s,
        warm=settings.dispatch_warm_workers,
    )
    app.state.run_executor = executor
    try:
        yield
    finally:
        await anyio.to_thread.run_sync(executor.shutdown)


def fail_lost_runs(engine: Engine, lease_s: float, clock: Clock = utc_now) -> None:
    """Record the runs left queued or running by a process that died as failed."""
    try:
        with Session(engine) as session:
            lost = repo.fail_lost_runs(session, now=clock(), lease_s=lease_s)
            session.commit()
    except Exception:  # reading a run fails it all the same; startup goes on
        log.exception("could not check for dispatch runs left by a stopped process")
        return
    if lost:
        log.warning("dispatch runs %s lost their process; recorded as failed", lost)
