"""Least privilege on PostgreSQL: the service's role cannot rewrite history or the schema.

The PostGIS run migrates as the owner role and connects as the app role, like production
(``tests/conftest.py``, ``api/db/roles.py``). Here, connected as the app role, every statement
that could erase or rewrite the ledger or change the schema is refused by PostgreSQL itself,
table by table; and the service's ordinary money flow works as that role. Each statement runs
in a transaction that is rolled back, so even one that wrongly succeeded would change nothing.

SQLite has no roles (anyone who may open the file may change it): these tests are PostGIS only,
apart from ``db roles`` refusing SQLite.
"""

import os
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg import errors
from sqlalchemy import Engine, create_engine, exc, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from api.cli import app as cli
from api.config import get_settings
from api.db import roles
from api.db.base import Base

postgis = pytest.mark.postgis
POSTGIS_ADMIN_URL = os.environ.get("TEST_POSTGIS_ADMIN_URL")
#: The roles ``tests/conftest.py`` sets up for a PostGIS run.
APP_ROLE, OWNER_ROLE = "geodispatch_app", "geodispatch_owner"
TABLES = sorted([*Base.metadata.tables, "alembic_version"])
LEDGER = roles.append_only_tables()


def refused(engine: Engine, statement: str) -> BaseException:
    """Run ``statement`` as the engine's role in a rolled-back transaction; return its error.

    Fails the test if the statement succeeds or fails for another reason than privilege
    (SQLSTATE 42501, ``insufficient_privilege``, which "must be owner" is too).
    """
    with engine.connect() as conn, conn.begin() as transaction:
        try:
            conn.exec_driver_sql(statement)
        except exc.DBAPIError as err:
            transaction.rollback()
            assert isinstance(err.orig, errors.InsufficientPrivilege), (statement, err.orig)
            return err.orig
        transaction.rollback()
    pytest.fail(f"the app role was allowed: {statement}")


@postgis
def test_the_suite_runs_as_the_app_role(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT current_user")) == APP_ROLE
        assert conn.scalar(text("SELECT session_user")) == APP_ROLE


@postgis
def test_the_app_role_has_exactly_its_policy(engine: Engine) -> None:
    """Not a superuser, not the owner nor its member, no BYPASSRLS/CREATEDB/CREATEROLE, owns
    nothing, creates nothing, and holds exactly its privileges on every table."""
    with engine.connect() as conn:
        assert roles.app_role_problems(conn, app=APP_ROLE, owner=OWNER_ROLE) == []
        attributes = conn.execute(
            text(
                "SELECT rolsuper, rolbypassrls, rolcreatedb, rolcreaterole, rolreplication, "
                "rolcanlogin FROM pg_roles WHERE rolname = current_user"
            )
        ).one()
        assert tuple(attributes) == (False, False, False, False, False, True)
        owners = set(
            conn.scalars(
                text(
                    "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'spatial_ref_sys'"
                )
            )
        )
        assert owners == {OWNER_ROLE}
    assert LEDGER == ["ledger_entry", "settlement"]


@postgis
@pytest.mark.parametrize("table", TABLES)
def test_no_table_can_be_truncated_altered_dropped_or_its_triggers_disabled(
    engine: Engine, table: str
) -> None:
    trigger = (
        "BEFORE UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()"
    )
    for statement in (
        f"TRUNCATE {table}",
        f"TRUNCATE {table} CASCADE",
        f"ALTER TABLE {table} ADD COLUMN intruder integer",
        f"ALTER TABLE {table} DISABLE TRIGGER ALL",
        f"ALTER TABLE {table} DISABLE TRIGGER USER",
        f"ALTER TABLE {table} OWNER TO {APP_ROLE}",
        f"DROP TABLE {table}",
        f"DROP TABLE {table} CASCADE",
        f"CREATE TRIGGER intruder {trigger.format(table)}",
        f"COMMENT ON TABLE {table} IS 'mine'",
    ):
        refused(engine, statement)


@postgis
@pytest.mark.parametrize("table", LEDGER)
def test_ledger_rows_cannot_be_updated_deleted_or_locked(engine: Engine, table: str) -> None:
    for statement in (
        f"UPDATE {table} SET id = id",
        f"UPDATE {table} SET id = id WHERE false",  # the privilege, not the rows, decides
        f"DELETE FROM {table}",
        f"DELETE FROM {table} WHERE false",
        f"SELECT id FROM {table} FOR UPDATE",
        f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE",
        f"ALTER TABLE {table} DISABLE TRIGGER {table}_no_delete",
        f"ALTER TABLE {table} ENABLE REPLICA TRIGGER {table}_no_delete",
        f"DROP TRIGGER {table}_no_update ON {table}",
        f"GRANT UPDATE ON {table} TO {APP_ROLE}",
    ):
        if statement.startswith("GRANT"):
            _grant_gives_nothing(engine, statement, table)
        else:
            refused(engine, statement)


def _grant_gives_nothing(engine: Engine, statement: str, table: str) -> None:
    """PostgreSQL answers a GRANT by a non-owner with a warning and grants nothing."""
    with engine.connect() as conn, conn.begin() as transaction:
        conn.exec_driver_sql(statement)
        held = conn.scalar(
            text("SELECT has_table_privilege(current_user, :t, 'UPDATE')"), {"t": table}
        )
        transaction.rollback()
    assert held is False


@postgis
@pytest.mark.parametrize(
    "statement",
    [
        "SET session_replication_role = replica",
        "SET LOCAL session_replication_role = replica",
        "SELECT set_config('session_replication_role', 'replica', false)",
        f"SET ROLE {OWNER_ROLE}",
        "SET ROLE postgres",
        "CREATE TABLE intruder (id integer)",
        "CREATE FUNCTION intruder() RETURNS integer LANGUAGE sql AS 'SELECT 1'",
        "CREATE SCHEMA intruder",
        "DROP SCHEMA public CASCADE",
        "ALTER SEQUENCE ledger_entry_id_seq RESTART WITH 1",
        "SELECT setval('ledger_entry_id_seq', 1)",
        "DROP FUNCTION ledger_entry_no_update() CASCADE",
        "CREATE ROLE intruder",
        "ALTER ROLE CURRENT_USER BYPASSRLS",
        "ALTER ROLE CURRENT_USER SUPERUSER",
        "CREATE EXTENSION IF NOT EXISTS pgcrypto",
    ],
)
@postgis
def test_session_and_schema_wide_escapes_are_refused(engine: Engine, statement: str) -> None:
    refused(engine, statement)


# ``geodispatch db roles`` and ``db upgrade`` on a database migrated before the roles existed.
runner = CliRunner()


@pytest.fixture
def legacy_database(engine: Engine) -> Iterator[tuple[str, str, str]]:
    """A database set up as before least privilege (the operator guide's old recipe): the
    service's role owns the database and migrated it, so it owns every table. Yields the
    superuser's URL on it and two role names of its own (the owner's, the service's); all are
    removed afterwards."""
    assert POSTGIS_ADMIN_URL is not None
    from api.db import migrate
    from api.db.spatial import make_engine

    suffix = (engine.url.database or "x")[-8:]
    name, owner, app = f"gd_legacy_{suffix}", f"gd_owner_{suffix}", f"gd_app_{suffix}"
    admin = create_engine(POSTGIS_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {app} LOGIN")
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" OWNER {app}')
    url = make_url(POSTGIS_ADMIN_URL).set(database=name)
    with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.exec_driver_sql("CREATE EXTENSION postgis")
    as_service = make_engine(url.set(username=app).render_as_string(hide_password=False))
    migrate.upgrade(as_service, "0008_ticket_work_facts")  # the service's role owns it all
    as_service.dispose()
    try:
        yield url.render_as_string(hide_password=False), owner, app
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            for role in (app, owner):
                conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        admin.dispose()
        get_settings.cache_clear()


@postgis
def test_db_roles_hands_a_legacy_database_over_and_upgrade_runs_as_the_owner(
    legacy_database: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin_url, owner, app = legacy_database
    app_url = make_url(admin_url).set(username=app).render_as_string(hide_password=False)
    monkeypatch.setenv("GEODISPATCH_DATABASE_URL", app_url)
    monkeypatch.setenv("GEODISPATCH_MIGRATION_DATABASE_URL", admin_url)
    monkeypatch.setenv("GEODISPATCH_DATABASE_OWNER_ROLE", owner)
    get_settings.cache_clear()
    done = runner.invoke(cli, ["db", "roles"])
    assert done.exit_code == 0, done.output
    assert f"created {owner}" in done.output and f"created {app}" not in done.output
    assert f"database {admin_url.rsplit('/', 1)[1]}: owner {app} -> {owner}" in done.output
    assert f"table ledger_entry: owner {app} -> {owner}" in done.output
    assert f"function ledger_entry_no_update(): owner {app} -> {owner}" in done.output
    again = runner.invoke(cli, ["db", "roles"])  # idempotent
    assert again.exit_code == 0 and "nothing to change" in again.output, again.output
    upgraded = runner.invoke(cli, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"migrated as {owner}" in upgraded.output
    assert f"privileges granted to {app}" in upgraded.output
    check = create_engine(admin_url)
    try:
        with check.connect() as conn:
            assert roles.app_role_problems(conn, app=app, owner=owner) == []
            owner_of_new = conn.scalar(
                text("SELECT tableowner FROM pg_tables WHERE tablename = 'adjustment_request'")
            )
            assert owner_of_new == owner
    finally:
        check.dispose()
    as_app = create_engine(app_url)
    try:
        refused(as_app, "TRUNCATE ledger_entry")
        refused(as_app, "DELETE FROM adjustment_request")
        with as_app.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM adjustment_request")) == 0
    finally:
        as_app.dispose()


def test_db_roles_refuses_sqlite(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEODISPATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite'}")
    monkeypatch.delenv("GEODISPATCH_MIGRATION_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        result = runner.invoke(cli, ["db", "roles"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "SQLite has no roles" in result.output
