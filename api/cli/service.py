"""``geodispatch db …``, ``demo load`` and ``serve``: the database and the running service.

The web stack (uvicorn, the FastAPI app) is imported by ``serve`` alone, so ``keys`` and
``db`` commands, which import this module for :func:`configured_engine`, start quickly.
"""

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine, make_url
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


def migration_engine() -> Engine:
    """Return an engine on the URL migrations use, creating the SQLite folder if needed.

    That is ``GEODISPATCH_MIGRATION_DATABASE_URL``, else the service's own.
    """
    settings = get_settings()
    url = migrate.migration_url(settings)
    if is_sqlite(url):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return make_engine(url, spatialite_library_path=settings.spatialite_library_path)


@db.command("upgrade")
@reports_errors
def upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Create or migrate the configured database to ``revision``.

    On PostgreSQL it connects with GEODISPATCH_MIGRATION_DATABASE_URL (else the service's URL),
    acts as GEODISPATCH_DATABASE_OWNER_ROLE if set, and then grants the service's role (the user
    of GEODISPATCH_DATABASE_URL) its privileges on every table.
    """
    engine = migration_engine()
    as_roles = migrate.roles_of(get_settings())
    migrate.upgrade(engine, revision, roles=as_roles)
    typer.echo(f"database at {revision}: {engine.url.render_as_string(hide_password=True)}")
    if as_roles.owner:
        typer.echo(f"migrated as {as_roles.owner}")
    if as_roles.app:
        typer.echo(f"privileges granted to {as_roles.app}")
    elif not is_sqlite(engine.url.drivername):
        typer.echo(
            "the service connects as the migrating role: no least privilege "
            "(docs/operations.md, Database roles)"
        )


DEFAULT_OWNER = "geodispatch_owner"


@db.command("roles")
@reports_errors
def roles_command(
    admin_url: Annotated[
        str | None,
        typer.Option(
            help="a superuser's URL on the service's database (default: the migration URL)"
        ),
    ] = None,
    owner: Annotated[
        str | None,
        typer.Option(
            help="NOLOGIN role owning the schema (default: GEODISPATCH_DATABASE_OWNER_ROLE, "
            f"else {DEFAULT_OWNER})"
        ),
    ] = None,
    app: Annotated[
        str | None,
        typer.Option(
            help="LOGIN role of the service (default: the user of GEODISPATCH_DATABASE_URL)"
        ),
    ] = None,
    roles_only: Annotated[
        bool, typer.Option(help="create or correct the roles only, in no database")
    ] = False,
) -> None:
    """Create the PostgreSQL owner and service roles and give the database to the owner.

    Idempotent. The owner (NOLOGIN) gets the schema and every object in it, and the service's
    role (LOGIN; not a superuser, not the owner) exactly its privileges: rows read and written,
    the ledger only read and appended to, no TRUNCATE, ALTER, DROP or trigger changes. The
    migration URL's user becomes a member of the owner, so that `db upgrade` may act as it. A
    password in GEODISPATCH_DATABASE_URL becomes the service role's password.
    """
    from sqlalchemy import create_engine

    from api.db import roles

    settings = get_settings()
    url = admin_url or migrate.migration_url(settings)
    if is_sqlite(url) or (app is None and is_sqlite(settings.database_url)):
        raise fail("SQLite has no roles: whoever may open the file may change it")
    service_url = make_url(settings.database_url)
    try:
        owner = roles.checked_name(owner or settings.database_owner_role or DEFAULT_OWNER)
        app = roles.checked_name(app or service_url.username or "")
    except roles.RoleSetupError as err:
        raise fail(str(err)) from err
    admin = make_url(url)
    if not roles_only and app == service_url.username and admin.database != service_url.database:
        raise fail(
            f"--admin-url names database {admin.database}, the service's is {service_url.database}"
        )
    migrator = make_url(migrate.migration_url(settings)).username
    password = service_url.password if app == service_url.username else None
    if owner == app:
        raise fail(f"the service's role must not be the owner ({owner})")
    engine = create_engine(admin)
    problems: list[str] = []
    try:
        with engine.begin() as conn:
            done = roles.ensure_roles(
                conn,
                owner=owner,
                app=app,
                app_password=password,
                members=[migrator] if migrator else [],
            )
            if not roles_only:
                done += roles.prepare_database(conn, owner=owner, app=app)
                problems = roles.app_role_problems(conn, app=app, owner=owner)
    finally:
        engine.dispose()
    for line in done or ["nothing to change"]:
        typer.echo(line)
    if problems:
        raise fail("; ".join(problems))
    if not roles_only and migrator in (None, app):
        typer.echo(
            f"note: migrate as a member of {owner}, not as {app}: set "
            "GEODISPATCH_MIGRATION_DATABASE_URL and GEODISPATCH_DATABASE_OWNER_ROLE"
        )
    where = "the cluster" if roles_only else f"database {admin.database}"
    typer.echo(f"roles ready in {where}: owner {owner} (NOLOGIN), service {app} (LOGIN)")


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
