"""Alembic environment: one engine from the service settings (or the caller's connection)."""

from alembic import context
from sqlalchemy import Connection

from geoalchemy2 import alembic_helpers

from api.config import get_settings
from api.db.base import Base
from api.db.spatial import is_sqlite, make_engine


def run_migrations() -> None:
    """Migrate the connection handed over in ``config.attributes``, or the configured database."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        settings = get_settings()
        engine = make_engine(
            settings.database_url, spatialite_library_path=settings.spatialite_library_path
        )
        with engine.connect() as connection:
            _migrate(connection)
        engine.dispose()
    else:
        _migrate(connection)


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=alembic_helpers.include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        render_as_batch=is_sqlite(str(connection.engine.url)),
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
