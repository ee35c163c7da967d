"""Alembic environment: one engine from the service settings (or the caller's connection).

On PostgreSQL the migration may act as the schema's owner role and, once migrated, grant the
service's role its privileges on every table (``api.db.roles``), in the same transaction:
``geodispatch db upgrade`` hands both over in ``config.attributes``; the ``alembic`` command
reads them from the settings (``api.db.migrate.roles_of``).
"""

from alembic import context
from sqlalchemy import Connection

from geoalchemy2 import alembic_helpers

from api.config import get_settings
from api.db import roles
from api.db.base import Base
from api.db.migrate import MigrationRoles, migration_url, roles_of
from api.db.spatial import is_sqlite, make_engine


def run_migrations() -> None:
    """Migrate the connection handed over in ``config.attributes``, or the configured database."""
    attributes = context.config.attributes
    connection = attributes.get("connection")
    if connection is None:
        settings = get_settings()
        engine = make_engine(
            migration_url(settings), spatialite_library_path=settings.spatialite_library_path
        )
        with engine.connect() as connection:
            _migrate(connection, roles_of(settings))
        engine.dispose()
    else:
        _migrate(
            connection, MigrationRoles(attributes.get("owner_role"), attributes.get("app_role"))
        )


def _migrate(connection: Connection, as_roles: MigrationRoles) -> None:
    sqlite = is_sqlite(str(connection.engine.url))
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=alembic_helpers.include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        render_as_batch=sqlite,
    )
    with context.begin_transaction():
        if as_roles.owner and not sqlite:
            roles.set_local_role(connection, as_roles.owner)
        context.run_migrations()
        if as_roles.app and not sqlite and not context.is_offline_mode():
            roles.grant_app_privileges(connection, app=as_roles.app)


run_migrations()
