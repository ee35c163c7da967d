"""``geodispatch serve`` in a process group of its own, which a benchmark may kill with SIGKILL.

The service runs as in production (``python -m api.cli serve``), in a new session, so that
:meth:`ServiceProcess.kill` takes down the server and everything it started (the solver's
worker processes, multiprocessing's helpers) at once, as a host losing the process would.
:meth:`ServiceProcess.start` may then bring it up again on the same port.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from api.config import PROJECT_ROOT

START_TIMEOUT_S = 120.0  # each process imports the solver stack
#: For benchmarks that run no dispatch: no solver process loading its kernels at each start.
NO_WARM_SOLVER = {"GEODISPATCH_DISPATCH_WARM_WORKERS": "false"}


class ServiceDidNotStart(RuntimeError):
    """``serve`` exited, or did not answer ``/health`` in time."""


@dataclass
class ServiceProcess:
    """One ``geodispatch serve`` on 127.0.0.1:``port`` with ``workers`` processes."""

    database_url: str
    port: int
    workers: int = 1
    env: Mapping[str, str] = field(default_factory=dict)
    #: Where the service's log goes (level ``warning``); None: nowhere.
    log_file: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> float:
        """Start the service and wait until every process answers; return the seconds taken."""
        started = time.monotonic()
        env = {**os.environ, **self.env, "GEODISPATCH_DATABASE_URL": self.database_url}
        command = [
            sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1",
            "--port", str(self.port), "--workers", str(self.workers),
            "--log-level", "critical" if self.log_file is None else "warning", "--no-access-log",
        ]  # fmt: skip
        with open(self.log_file or os.devnull, "ab") as log:
            self.process = subprocess.Popen(
                command, env=env, cwd=PROJECT_ROOT, start_new_session=True, stderr=log
            )
        deadline = started + timeout_s
        while len(self.server_pids()) < self.workers or not self._healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise ServiceDidNotStart(f"geodispatch serve did not come up on {self.url}")
            time.sleep(0.1)
        return time.monotonic() - started

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """SIGKILL the service's whole process group and wait for the server to be gone."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), or kill after 30 s."""
        if self.process is None:
            return
        self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        self.kill()

    def server_pids(self) -> list[int]:
        """Return the processes that listen on the port (the server itself with one worker)."""
        if self.process is None:
            return []
        try:
            root = psutil.Process(self.process.pid)
            candidates = [root, *root.children()]
        except psutil.NoSuchProcess:
            return []
        return [p.pid for p in candidates if _listens(p, self.port)]

    def owner_of(self, client_port: int) -> int | None:
        """Return the server process that accepted the connection from ``client_port``."""
        for pid in self.server_pids():
            try:
                connections = psutil.Process(pid).net_connections("tcp")
            except psutil.NoSuchProcess:
                continue
            if any(c.raddr and c.raddr.port == client_port for c in connections):
                return pid
        return None

    def solver_pids(self) -> list[int]:
        """Return the dispatch runs' worker processes (spawned children of a server process)."""
        found = []
        for pid in self.server_pids():
            try:
                children = psutil.Process(pid).children()
            except psutil.NoSuchProcess:
                continue
            found += [c.pid for c in children if "spawn_main" in " ".join(_cmdline(c))]
        return found


def service_warnings(log_file: Path | None) -> list[str]:
    """Return a service's JSON log lines of WARNING and above (message, exception's last line)."""
    if log_file is None or not log_file.exists():
        return []
    found = []
    for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("level") in {"WARNING", "ERROR", "CRITICAL"}:
            last = (str(record.get("exc_info") or "").strip().splitlines() or [""])[-1]
            found.append(f"{record.get('message')} {last}".strip())
    return found


def _listens(process: psutil.Process, port: int) -> bool:
    try:
        connections = process.net_connections("tcp")
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections)


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return [str(part) for part in process.cmdline()]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []
