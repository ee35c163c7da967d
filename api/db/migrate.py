"""Run the Alembic migrations programmatically (the CLI and the test fixtures use this).

On PostgreSQL a migration may run as the schema's owner role (``SET LOCAL ROLE``, from a login
role that is a member of it) and then grant the service's role its privileges on every table
(:mod:`api.db.roles`), all in the migration's one transaction.
"""

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, make_url

from api.config import Settings
from api.db.spatial import is_sqlite

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


@dataclass(frozen=True, slots=True)
class MigrationRoles:
    """Who a migration runs as and whom it grants privileges to (PostgreSQL; none on SQLite).

    ``owner``: the role the migration acts as (``SET LOCAL ROLE``), or None to stay the
    connecting role. ``app``: the service's role, granted its privileges afterwards, or None
    when the service connects as the migrating role itself (no least privilege then).
    """

    owner: str | None = None
    app: str | None = None


def roles_of(settings: Settings) -> MigrationRoles:
    """Return the roles of a ``db upgrade`` under ``settings``.

    The migrating role is ``database_owner_role`` if set, else the user of the migration URL;
    the service's role is the user of ``database_url``, when that is another role.
    """
    if is_sqlite(settings.database_url):
        return MigrationRoles()
    migrating = settings.database_owner_role or make_url(migration_url(settings)).username
    app = make_url(settings.database_url).username
    return MigrationRoles(
        owner=settings.database_owner_role, app=app if app and app != migrating else None
    )


def migration_url(settings: Settings) -> str:
    """Return the URL migrations connect with: the migration URL, else the service's."""
    return settings.migration_database_url or settings.database_url


def upgrade(engine: Engine, revision: str = "head", *, roles: MigrationRoles | None = None) -> None:
    """Migrate the database behind ``engine`` to ``revision`` in one transaction.

    With ``roles`` (PostgreSQL): run as ``roles.owner`` and grant ``roles.app`` its privileges
    on every table afterwards, in the same transaction.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    roles = roles or MigrationRoles()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        config.attributes["owner_role"] = roles.owner
        config.attributes["app_role"] = roles.app
        command.upgrade(config, revision)
