"""A private PostgreSQL cluster that a benchmark may restart: its own folder, port and socket.

The fault benchmark restarts PostgreSQL under a stream of requests. The machine's own cluster is
shared (other work, the test suite), so the benchmark makes one of its own instead:
``initdb`` in a temporary folder, trust authentication, listening on 127.0.0.1 only, on a free
port, with its Unix socket in the folder. ``initdb`` refuses to run as root, so as root the
cluster is made and run as the ``postgres`` OS user (``runuser``). PostGIS comes from the
system's packages, as for the main cluster.
"""

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

PG_BIN = Path(os.environ.get("GEODISPATCH_BENCH_PG_BIN", "/usr/lib/postgresql/15/bin"))
OS_USER = "postgres"


class ClusterError(RuntimeError):
    """The private cluster could not be made, started or stopped."""


def available() -> bool:
    """Whether PostgreSQL's server programs are installed where :data:`PG_BIN` says."""
    return (PG_BIN / "initdb").exists() and (PG_BIN / "pg_ctl").exists()


@dataclass
class PrivateCluster:
    """A cluster in ``folder`` (data in ``folder/data``) listening on 127.0.0.1:``port``."""

    folder: Path
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout_s: float = 120) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", OS_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            raise ClusterError(f"{args[0]} failed: {(done.stderr or done.stdout).strip()[-500:]}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.folder / "data"), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--no-sync")  # fmt: skip

    def start(self) -> None:
        """Start the cluster and return once it accepts connections."""
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c max_connections=60 -c shared_buffers=64MB"
        )
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-l", str(self.folder / "log"),
                  "-o", options, "-w", "-t", "60", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the cluster: ``fast`` (sessions ended cleanly) or ``immediate`` (as a crash)."""
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", mode, "-w", "-t", "60", "stop")

    def is_ready(self) -> bool:
        done = subprocess.run(
            [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-t", "1"],
            capture_output=True,
        )
        return done.returncode == 0

    def create_database(self, name: str) -> str:
        """Create ``name`` with PostGIS; return its URL."""
        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        on_database = create_engine(self.url(name), isolation_level="AUTOCOMMIT")
        with on_database.connect() as conn:
            conn.execute(text("CREATE EXTENSION postgis"))
        on_database.dispose()
        return self.url(name)


@contextmanager
def private_cluster(port: int) -> Iterator[PrivateCluster]:
    """Make and start a cluster on ``port``; stop it and remove its folder afterwards."""
    if not available():
        raise ClusterError(f"PostgreSQL's server programs are not in {PG_BIN}")
    folder = Path(tempfile.mkdtemp(prefix="geodispatch-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, OS_USER, OS_USER)
    cluster = PrivateCluster(folder, port)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        try:
            if cluster.is_ready() or (folder / "data" / "postmaster.pid").exists():
                cluster.stop("immediate")
        except ClusterError:
            time.sleep(1)  # a stop already under way; the folder goes anyway
        shutil.rmtree(folder, ignore_errors=True)
