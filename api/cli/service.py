"""``geodispatch db …``, ``demo load`` and ``serve``: the database and the running service.

The web stack (uvicorn, the FastAPI app) is imported by ``serve`` alone, so ``keys`` and
``db`` commands, which import this module for :func:`configured_engine`, start quickly.
"""

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.cli.common import fail, reports_errors
from api.config import get_settings
from api.db import migrate
from api.db.spatial import is_sqlite, make_engine

db = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


def configured_engine() -> Engine:
    """Return an engine on the configured database (creating the SQLite folder if needed)."""
    settings = get_settings()
    if is_sqlite(settings.database_url):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    return make_engine(
        settings.database_url, spatialite_library_path=settings.spatialite_library_path
    )


@db.command("upgrade")
@reports_errors
def upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Create or migrate the configured database to ``revision``."""
    engine = configured_engine()
    migrate.upgrade(engine, revision)
    typer.echo(f"database at {revision}: {engine.url.render_as_string(hide_password=True)}")


@reports_errors
def load(
    regions: Annotated[
        Path | None, typer.Option(help="regions GeoJSON (default: the settings' regions_file)")
    ] = None,
) -> None:
    """Load the demo city's regions (replacing the stored ones) in one transaction."""
    from api.datafiles import load_regions
    from api.regions import repository as region_repo

    settings = get_settings()
    path = regions or settings.regions_file
    loaded = load_regions(path, max_vertices=settings.max_region_vertices)
    with Session(configured_engine()) as session, session.begin():
        region_repo.replace_all(session, regions=loaded)
    typer.echo(f"loaded {len(loaded)} regions from {path}")


class LogLevel(StrEnum):
    """``serve --log-level`` values (uvicorn's)."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    DEBUG = "debug"


@reports_errors
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="TCP port")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="server processes (about one per CPU core)",
        ),
    ] = 1,
    log_level: Annotated[LogLevel, typer.Option(help="uvicorn's log level")] = LogLevel.INFO,
    access_log: Annotated[
        bool | None,
        typer.Option(
            help="uvicorn's line per request; default: off with JSON logs, whose "
            "geodispatch.request line per request says more"
        ),
    ] = None,
) -> None:
    """Run the HTTP service (OpenAPI docs at /docs).

    With ``--workers N``, N processes each build the app from the ``GEODISPATCH_*``
    environment and listen on their own socket (``api.server``): one Python process uses one
    core at a time. Logs go to stderr in ``GEODISPATCH_LOG_FORMAT`` (docs/operations.md).
    """
    import logging.config

    import uvicorn

    from api.main import create_app
    from api.observability.logs import logging_config
    from api.server import ServerProcessFailed, serve_processes

    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    log_config = logging_config(settings.log_format, log_level.value)
    if access_log is None:
        access_log = settings.log_format == "text"
    logging.config.dictConfig(log_config)  # this process's lines too: the app, the supervisor
    if workers == 1:
        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            log_level=log_level.value,
            access_log=access_log,
            log_config=log_config,
        )
        return
    try:
        serve_processes(
            host,
            port,
            workers,
            log_level=log_level.value,
            access_log=access_log,
            log_config=log_config,
        )
    except OSError as err:
        raise fail(f"cannot listen on {host}:{port}: {err.strerror}") from err
    except (ValueError, ServerProcessFailed) as err:
        raise fail(str(err)) from err
