"""PostgreSQL roles: who owns the schema, and what the service's own role may do.

Least privilege (``docs/reliability.md``, "Least privilege"; set-up in ``docs/operations.md``):

- the **owner** role (``NOLOGIN``) owns every table, sequence and trigger function. Migrations
  run as it: ``geodispatch db upgrade`` connects as a login role that is a member of it (or a
  superuser) and does ``SET LOCAL ROLE`` (:func:`set_local_role`);
- the **app** role (``LOGIN``) is what the service connects as. It is not a superuser, not the
  owner and not a member of it, and has no ``BYPASSRLS``, ``CREATEDB``, ``CREATEROLE`` or
  ``REPLICATION``. It may SELECT, INSERT, UPDATE and DELETE rows, except where a table's
  ``info["app_privileges"]`` says less (the ledger: SELECT and INSERT only), and use the
  sequences. It may not TRUNCATE (never granted), ALTER, DROP, disable triggers or create
  anything (only an owner may), nor set ``session_replication_role`` (only a superuser may).

:func:`ensure_roles` creates or corrects the roles (cluster-wide), :func:`prepare_database`
gives one database to the owner and sets the default privileges, and
:func:`grant_app_privileges` applies the table policy; ``db upgrade`` runs it after every
migration, so a table a migration adds gets exactly its policy. :func:`app_role_problems` says
what, if anything, makes the app role more than that.

SQLite has no roles: whoever may open the file may do anything to it, so none of this applies.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

import api.db.tables  # noqa: F401  (registers every table on Base)
from api.db.base import Base

SCHEMA = "public"
FULL = ("SELECT", "INSERT", "UPDATE", "DELETE")
APPEND_ONLY = {"SELECT", "INSERT"}
#: Every table privilege PostgreSQL knows (checked by :func:`app_role_problems`).
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
#: Tables that are not in the models: Alembic's, which the service only reads.
OTHER_TABLES = {"alembic_version": ("SELECT",)}
_ROLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_LOCK = "geodispatch roles"  # an advisory lock serialising concurrent ensure_roles


class RoleSetupError(ValueError):
    """A role name or a role set-up that cannot be right (the CLI reports it in one line)."""


@dataclass(frozen=True, slots=True)
class RoleSpec:
    """A role and the attributes it must have."""

    name: str
    can_login: bool

    @property
    def attributes(self) -> str:
        login = "LOGIN" if self.can_login else "NOLOGIN"
        return f"{login} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"


def app_privileges() -> dict[str, tuple[str, ...]]:
    """Return what the service's role may do to each table: the policy, table by table."""
    policy = {
        name: tuple(table.info.get("app_privileges", FULL))
        for name, table in Base.metadata.tables.items()
    }
    return {**policy, **OTHER_TABLES}


def append_only_tables() -> list[str]:
    """Return the tables the service may only read and append to (the ledger)."""
    return sorted(t for t, allowed in app_privileges().items() if set(allowed) == APPEND_ONLY)


def checked_name(name: str) -> str:
    """Return ``name`` if it is a plain role name (letters, digits, ``_``), else raise."""
    if not _ROLE_NAME.match(name):
        raise RoleSetupError(f"{name!r} is not a plain role name (letters, digits and _)")
    return name


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(checked_name(name))


def set_local_role(conn: Connection, role: str) -> None:
    """Act as ``role`` until the end of the current transaction (``SET LOCAL ROLE``)."""
    conn.exec_driver_sql(f"SET LOCAL ROLE {_quote(conn, role)}")


def ensure_roles(
    conn: Connection,
    *,
    owner: str,
    app: str,
    app_password: str | None = None,
    members: Iterable[str] = (),
) -> list[str]:
    """Create the owner and app roles, or correct their attributes; return what was done.

    Idempotent. Run it in a transaction: a transaction-level advisory lock on the connection's
    database serialises runs at the same time, so they do not collide. ``members`` (the login
    roles that run migrations) are made members of the owner unless they are superusers; the
    app role is never one.
    """
    if owner == app:
        raise RoleSetupError(f"the service's role must not be the owner ({owner})")
    done: list[str] = []
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": _LOCK})
    for spec in (RoleSpec(owner, can_login=False), RoleSpec(app, can_login=True)):
        done += _ensure_role(conn, spec)
    if _is_member(conn, app, owner):
        conn.exec_driver_sql(f"REVOKE {_quote(conn, owner)} FROM {_quote(conn, app)}")
        done.append(f"revoked {owner} from {app}")
    for member in members:
        if member in (owner, app) or _is_superuser(conn, member):
            continue
        if not _is_member(conn, member, owner):
            conn.exec_driver_sql(f"GRANT {_quote(conn, owner)} TO {_quote(conn, member)}")
            done.append(f"granted {owner} to {member}")
    if app_password:
        statement = conn.scalar(
            text("SELECT format('ALTER ROLE %I PASSWORD %L', CAST(:r AS text), :p)"),
            {"r": app, "p": app_password},
        )
        conn.exec_driver_sql(str(statement))
        done.append(f"set the password of {app}")
    return done


def _ensure_role(conn: Connection, spec: RoleSpec) -> list[str]:
    row = conn.execute(
        text(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, "
            "rolbypassrls FROM pg_roles WHERE rolname = :r"
        ),
        {"r": spec.name},
    ).one_or_none()
    name = _quote(conn, spec.name)
    if row is None:
        conn.exec_driver_sql(f"CREATE ROLE {name} {spec.attributes}")
        return [f"created {spec.name} ({spec.attributes})"]
    login, *powers = row
    if login != spec.can_login or any(powers):
        conn.exec_driver_sql(f"ALTER ROLE {name} {spec.attributes}")
        return [f"set {spec.name} to {spec.attributes}"]
    return []


def _is_member(conn: Connection, role: str, of: str) -> bool:
    exists = conn.scalar(
        text("SELECT count(*) FROM pg_roles WHERE rolname IN (:r, :o)"), {"r": role, "o": of}
    )
    if exists != 2:
        return False
    return bool(conn.scalar(text("SELECT pg_has_role(:r, :o, 'MEMBER')"), {"r": role, "o": of}))


def _is_superuser(conn: Connection, role: str) -> bool:
    return bool(conn.scalar(text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": role}))


def prepare_database(conn: Connection, *, owner: str, app: str) -> list[str]:
    """Give the connection's database to ``owner`` and let ``app`` in; return what was done.

    Needs a superuser. If the app role owns the database or the schema (whose owner may drop any
    table in it), they go to the owner. Nobody but the owner may create objects in the schema;
    objects there that belong to someone else (a schema migrated before the roles existed) are
    handed to the owner; tables and sequences the
    owner creates later are readable and writable by the app role (default privileges), and
    every existing table gets its policy (:func:`grant_app_privileges`).
    """
    o, a = _quote(conn, owner), _quote(conn, app)
    database = _quote_ident(conn, str(conn.scalar(text("SELECT current_database()"))))
    done = []
    # The owner of the database (of the schema, from PostgreSQL 15) may drop any table in it.
    for kind, name, current in _containers(conn):
        if current == app:
            target = database if kind == "DATABASE" else SCHEMA
            conn.exec_driver_sql(f"ALTER {kind} {target} OWNER TO {o}")
            done.append(f"{kind.lower()} {name}: owner {app} -> {owner}")
    for statement in (
        f"GRANT CONNECT ON DATABASE {database} TO {a}",
        f"REVOKE CREATE ON SCHEMA {SCHEMA} FROM PUBLIC",
        f"GRANT USAGE, CREATE ON SCHEMA {SCHEMA} TO {o}",
        f"GRANT USAGE ON SCHEMA {SCHEMA} TO {a}",
    ):
        conn.exec_driver_sql(statement)
    done += _hand_over(conn, owner)
    for kind, privileges in (("TABLES", ", ".join(FULL)), ("SEQUENCES", "USAGE, SELECT")):
        conn.exec_driver_sql(
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {SCHEMA} "
            f"GRANT {privileges} ON {kind} TO {a}"
        )
    grant_app_privileges(conn, app=app)
    return done


def _containers(conn: Connection) -> list[tuple[str, str, str]]:
    """Return ``(kind, name, owner)`` of the current database and of the schema."""
    rows = conn.execute(
        text(
            "SELECT 'DATABASE', datname, pg_get_userbyid(datdba) FROM pg_database "
            "WHERE datname = current_database() UNION ALL "
            "SELECT 'SCHEMA', nspname, pg_get_userbyid(nspowner) FROM pg_namespace "
            "WHERE nspname = :schema"
        ),
        {"schema": SCHEMA},
    )
    return [(kind, name, current) for kind, name, current in rows]


def _quote_ident(conn: Connection, name: str) -> str:
    return str(conn.scalar(text("SELECT quote_ident(:n)"), {"n": name}))


# Objects of the schema that are not an extension's (PostGIS's spatial_ref_sys stays its own).
_NOT_EXTENSIONS = (
    "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = {catalog}::regclass "
    "AND d.objid = {oid} AND d.deptype = 'e')"
)
_RELATIONS = text(
    "SELECT c.relname, c.relkind, pg_get_userbyid(c.relowner) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'v', 'm', 'S') AND "
    + _NOT_EXTENSIONS.format(catalog="'pg_class'", oid="c.oid")
    # a sequence owned by a column changes owner with its table
    + " AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d "
    "WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))"
    " ORDER BY c.relname"
)
_FUNCTIONS = text(
    "SELECT p.oid::regprocedure::text, pg_get_userbyid(p.proowner) FROM pg_proc p "
    "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = :schema AND "
    + _NOT_EXTENSIONS.format(catalog="'pg_proc'", oid="p.oid")
    + " ORDER BY 1"
)
_KIND = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}


def _hand_over(conn: Connection, owner: str) -> list[str]:
    """Make ``owner`` the owner of every object of the schema that is not an extension's."""
    o = _quote(conn, owner)
    done = []
    for name, kind, current in conn.execute(_RELATIONS, {"schema": SCHEMA}):
        if current != owner:
            target = f"{SCHEMA}.{_quote_ident(conn, name)}"
            conn.exec_driver_sql(f"ALTER {_KIND[kind]} {target} OWNER TO {o}")
            done.append(f"{_KIND[kind].lower()} {name}: owner {current} -> {owner}")
    for signature, current in conn.execute(_FUNCTIONS, {"schema": SCHEMA}):
        if current != owner:
            conn.exec_driver_sql(f"ALTER FUNCTION {signature} OWNER TO {o}")
            done.append(f"function {signature}: owner {current} -> {owner}")
    return done


def _tables(conn: Connection) -> list[str]:
    rows = conn.execute(_RELATIONS, {"schema": SCHEMA})
    return [name for name, kind, _ in rows if kind in ("r", "p")]


def _sequences(conn: Connection) -> list[str]:
    return list(
        conn.scalars(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema AND c.relkind = 'S' AND "
                + _NOT_EXTENSIONS.format(catalog="'pg_class'", oid="c.oid")
                + " ORDER BY 1"
            ),
            {"schema": SCHEMA},
        )
    )


def grant_app_privileges(conn: Connection, *, app: str) -> None:
    """Give ``app`` exactly its policy on every table of the schema, and use of the sequences.

    Run by the tables' owner (``db upgrade`` after the migrations) or a superuser. A table the
    models do not know (none, normally) gets the default: rows read and written, nothing more.
    """
    a = _quote(conn, app)
    policy = app_privileges()
    for table in _tables(conn):
        target = f"{SCHEMA}.{_quote_ident(conn, table)}"
        conn.exec_driver_sql(f"REVOKE ALL ON TABLE {target} FROM {a}")
        privileges = ", ".join(policy.get(table, FULL))
        conn.exec_driver_sql(f"GRANT {privileges} ON TABLE {target} TO {a}")
    for sequence in _sequences(conn):
        target = f"{SCHEMA}.{_quote_ident(conn, sequence)}"
        conn.exec_driver_sql(f"REVOKE ALL ON SEQUENCE {target} FROM {a}")
        conn.exec_driver_sql(f"GRANT USAGE, SELECT ON SEQUENCE {target} TO {a}")


def app_role_problems(conn: Connection, *, app: str, owner: str) -> list[str]:
    """Return every way ``app`` has more than the policy in the connection's database.

    Empty when the role is neither a superuser nor the owner (nor a member of it), has none of
    BYPASSRLS, CREATEDB, CREATEROLE, REPLICATION, owns neither the database, the schema nor
    anything in it, may not create in it, and has exactly :func:`app_privileges` on every table.
    """
    row = conn.execute(
        text(
            "SELECT rolsuper, rolbypassrls, rolcreatedb, rolcreaterole, rolreplication "
            "FROM pg_roles WHERE rolname = :r"
        ),
        {"r": app},
    ).one_or_none()
    if row is None:
        return [f"no role {app}"]
    labels = ("SUPERUSER", "BYPASSRLS", "CREATEDB", "CREATEROLE", "REPLICATION")
    problems = [f"{app} has {label}" for label, on in zip(labels, row, strict=True) if on]
    if _is_member(conn, app, owner):
        problems.append(f"{app} is a member of {owner}")
    owned = conn.scalars(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :s AND pg_get_userbyid(c.relowner) = :r ORDER BY 1"
        ),
        {"s": SCHEMA, "r": app},
    ).all()
    problems += [f"{app} owns {name}" for name in owned]
    problems += [
        f"{app} owns {kind.lower()} {name}" for kind, name, who in _containers(conn) if who == app
    ]
    if conn.scalar(text("SELECT has_schema_privilege(:r, :s, 'CREATE')"), {"r": app, "s": SCHEMA}):
        problems.append(f"{app} may create objects in schema {SCHEMA}")
    problems += _privilege_problems(conn, app, _tables(conn), app_privileges())
    return problems


def _privilege_problems(
    conn: Connection, app: str, tables: Sequence[str], policy: dict[str, tuple[str, ...]]
) -> list[str]:
    held: dict[str, set[str]] = {table: set() for table in tables}
    rows = conn.execute(
        text(
            "SELECT c.relname, p.privilege FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "CROSS JOIN unnest(CAST(:privileges AS text[])) AS p(privilege) "
            "WHERE n.nspname = :s AND c.relname = ANY(CAST(:tables AS text[])) "
            "AND has_table_privilege(:r, c.oid, p.privilege)"
        ),
        {"privileges": list(TABLE_PRIVILEGES), "s": SCHEMA, "tables": list(tables), "r": app},
    )
    for table, privilege in rows:
        held[table].add(privilege)
    problems = []
    for table in tables:
        wanted = set(policy.get(table, FULL))
        if held[table] != wanted:
            extra, missing = sorted(held[table] - wanted), sorted(wanted - held[table])
            problems.append(f"{app} on {table}: extra {extra}, missing {missing}")
    return problems
