"""The service in a thread of this process, on a fresh SpatiaLite file or the configured one.

``geodispatch demo run`` and ``bench map`` (and the browser tests) need the same thing: a
migrated database with the demo regions, and uvicorn serving ``create_app`` on a free port.
"""

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.config import Settings
from api.datafiles import load_regions
from api.db import migrate
from api.db.spatial import make_engine
from api.main import create_app
from api.regions import repository as region_repo


def free_port() -> int:
    """Return a TCP port nobody listens on now (on 127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def fresh_settings(folder: Path, **overrides: object) -> Settings:
    """Return settings on a new SpatiaLite file in ``folder``; no base map, a fixed secret."""
    values: dict[str, object] = {
        "database_url": f"sqlite:///{folder / 'demo.sqlite'}",
        "session_secret": "demo-secret-0123456789abcdef0123456789",
        "map_tiles": "none",
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def prepared_engine(settings: Settings, *, load_demo_regions: bool = True) -> Engine:
    """Migrate the settings' database and (unless told not to) load the demo regions."""
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    engine = make_engine(
        settings.database_url, spatialite_library_path=settings.spatialite_library_path
    )
    migrate.upgrade(engine)
    if load_demo_regions:
        regions = load_regions(settings.regions_file, max_vertices=settings.max_region_vertices)
        with Session(engine) as session, session.begin():
            region_repo.replace_all(session, regions=regions)
    return engine


class ServiceNotStarted(RuntimeError):
    """uvicorn did not come up (the port is taken, most often)."""


@dataclass
class ThreadedService:
    """uvicorn serving the app from a daemon thread; ``stop()`` ends it."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask uvicorn to finish the requests in flight and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout=timeout_s)


def start_service(
    settings: Settings, *, host: str = "127.0.0.1", port: int | None = None,
    log_level: str = "warning", access_log: bool = False, timeout_s: float = 60.0,
) -> ThreadedService:  # fmt: skip
    """Serve ``create_app(settings)`` from a thread; return once it accepts connections."""
    port = port or free_port()
    config = uvicorn.Config(
        create_app(settings), host=host, port=port, log_level=log_level, access_log=access_log
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="geodispatch-service", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ServiceNotStarted(
                f"the service did not start on {host}:{port} (is the port taken?)"
            )
        time.sleep(0.05)
    shown = "127.0.0.1" if host in {"0.0.0.0", "::"} else host
    return ThreadedService(f"http://{shown}:{port}", server, thread)
