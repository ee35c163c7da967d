"""Serving the app from several processes, each with a listening socket of its own.

uvicorn's ``--workers`` shares one listening socket between its processes. Whichever process
wakes first accepts every connection then waiting, so clients that connect together can all land
on one process and stay there (keep-alive). Measured with 32 connections on two processes: 27
on one gave a p99 of 205 ms at 200 ticket POSTs/s, where 18/14 or 15/17 gave 25-40 ms. Here
each process binds its own socket with ``SO_REUSEPORT`` (Linux) and the kernel spreads new
connections across them by a hash of their addresses, as nginx's ``reuse_port`` does.

The parent only supervises: it restarts a process that dies and stops them all on SIGINT or
SIGTERM, which uvicorn answers by finishing the requests in flight. It also gives the processes
a fresh directory for their Prometheus metrics (``PROMETHEUS_MULTIPROC_DIR``), so that a scrape
of any one process reads the figures of all, and removes it when they have stopped.
"""

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn
from prometheus_client import multiprocess

from api.observability.metrics import MULTIPROCESS_DIR_ENV

log = logging.getLogger(__name__)

#: How long the supervisor waits for a process to finish its requests before killing it.
STOP_TIMEOUT_S = 30.0
#: A process that dies sooner than this after its start is not restarted: it cannot start
#: (a bad setting, an unreachable database), and the others will not fare better.
MIN_LIFETIME_S = 10.0


class ServerProcessFailed(RuntimeError):
    """A server process died right after it started."""


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """Bind a TCP socket that other processes may bind to the same address too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def serve_one(
    host: str, port: int, log_level: str, access_log: bool, log_config: dict[str, Any] | None
) -> None:
    """Run one server process: the app from the ``GEODISPATCH_*`` environment, on its socket."""
    config = uvicorn.Config(
        "api.main:create_app",
        factory=True,
        log_level=log_level,
        access_log=access_log,
        log_config=log_config,
    )
    uvicorn.Server(config).run(sockets=[reuse_port_socket(host, port)])


def serve_processes(
    host: str,
    port: int,
    workers: int,
    *,
    log_level: str = "info",
    access_log: bool = True,
    log_config: dict[str, Any] | None = None,
) -> None:
    """Run ``workers`` server processes on ``host:port`` until SIGINT or SIGTERM.

    ``log_config`` is uvicorn's (a :func:`logging.config.dictConfig` dictionary; None: uvicorn's
    own).
    """
    if port == 0:
        raise ValueError("several processes need a fixed port to share (port 0 picks one each)")
    reuse_port_socket(host, port).close()  # a taken port fails here, not in every child
    metrics_dir = tempfile.mkdtemp(prefix="geodispatch-metrics-")
    previous_metrics_dir = os.environ.get(MULTIPROCESS_DIR_ENV)
    os.environ[MULTIPROCESS_DIR_ENV] = metrics_dir  # the spawned processes inherit it
    try:
        _supervise(workers, args=(host, port, log_level, access_log, log_config))
    finally:
        if previous_metrics_dir is None:
            os.environ.pop(MULTIPROCESS_DIR_ENV, None)
        else:
            os.environ[MULTIPROCESS_DIR_ENV] = previous_metrics_dir
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _supervise(workers: int, *, args: tuple[Any, ...]) -> None:
    """Start ``workers`` processes running :func:`serve_one` with ``args``; restart the dead."""
    context = multiprocessing.get_context("spawn")
    stopping = False

    started_at: dict[int, float] = {}

    def start() -> BaseProcess:
        process = context.Process(target=serve_one, args=args, name="geodispatch-http")
        process.start()
        started_at[id(process)] = time.monotonic()
        return process

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes = [start() for _ in range(workers)]
    try:
        while not stopping:
            wait([p.sentinel for p in processes], timeout=0.5)
            for i, process in enumerate(processes):
                if stopping or process.is_alive():
                    continue
                if time.monotonic() - started_at[id(process)] < MIN_LIFETIME_S:
                    raise ServerProcessFailed(
                        f"a server process exited with {process.exitcode} as it started "
                        "(see its output above)"
                    )
                log.warning("server process %s exited (%s); starting another", process.pid,
                            process.exitcode)  # fmt: skip
                if process.pid is not None:  # its pool gauges no longer count
                    multiprocess.mark_process_dead(process.pid)  # type: ignore[no-untyped-call]
                processes[i] = start()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(STOP_TIMEOUT_S)
            if process.is_alive():
                process.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
