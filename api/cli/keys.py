"""``geodispatch keys …``: create, list and revoke API keys."""

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import KeyBindingError, Role, create_key, revoke_key, utc_now
from api.cli.common import fail, reports_errors
from api.cli.service import configured_engine
from api.db.tables import ApiKeyRow

keys = typer.Typer(
    help="API keys (bearer tokens) for people and integrators.", no_args_is_help=True
)


@keys.command("create")
@reports_errors
def create(
    role: Annotated[Role, typer.Option(help="what the key may do")],
    name: Annotated[str, typer.Option(help="who or what holds the key")] = "",
    technician: Annotated[
        str | None, typer.Option(help="technician id (technician keys only)")
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="integrator source / tenant (integrator keys only)")
    ] = None,
) -> None:
    """Create a key and print its token once (only a hash is stored)."""
    with Session(configured_engine()) as session, session.begin():
        try:
            row, token = create_key(
                session,
                role=role,
                name=name or f"{role.value} key",
                technician_id=technician,
                source=source,
            )
        except KeyBindingError as err:
            raise fail(str(err)) from err
        key_id = row.id
    typer.echo(f"key {key_id} ({role.value}) created; its token is shown only now:", err=True)
    typer.echo(token)


@keys.command("list")
@reports_errors
def list_keys() -> None:
    """List keys (never their tokens)."""
    table = Table("id", "name", "role", "technician", "source", "created", "revoked")
    with Session(configured_engine()) as session:
        for row in session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)):
            table.add_row(
                row.id,
                row.name,
                row.role,
                row.technician_id or "",
                row.source or "",
                str(row.created_at),
                str(row.revoked_at or ""),
            )
    Console().print(table)


@keys.command("revoke")
@reports_errors
def revoke(key_id: Annotated[str, typer.Argument(help="the key's id (see `keys list`)")]) -> None:
    """Revoke a key at once."""
    with Session(configured_engine()) as session, session.begin():
        if not revoke_key(session, key_id=key_id, now=utc_now()):
            raise fail(f"no active key with id {key_id!r}")
    typer.echo(f"key {key_id} revoked")
