"""The demo's API keys: fixed names, made with ``api.auth.create_key`` as ``keys create`` does.

They are the one thing the demo writes to the database itself (an API key cannot be made
through the API). ``var/demo-keys.json`` (mode 0600) keeps the tokens with the day and the
database they belong to, so ``make run`` can print them again.
"""

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.auth import Role, create_key
from api.config import PROJECT_ROOT

KEYS_FILE = PROJECT_ROOT / "var" / "demo-keys.json"
INTEGRATOR_SOURCE = "demo-shop"


@dataclass(frozen=True, slots=True)
class DemoCaller:
    """A demo key: its caller name (``admin``…), stored key name, role and source."""

    caller: str
    key_name: str
    role: Role
    source: str | None = None


STAFF = (
    DemoCaller("admin", "demo-admin", Role.ADMIN),
    DemoCaller("dispatcher", "demo-dispatcher", Role.DISPATCHER),
    DemoCaller("integrator", "demo-integrator", Role.INTEGRATOR, source=INTEGRATOR_SOURCE),
)
# Bound after seeding to the two technicians with the fullest day, so their pages show it.
TECHNICIANS = (
    DemoCaller("tech-1", "demo-technician-1", Role.TECHNICIAN),
    DemoCaller("tech-2", "demo-technician-2", Role.TECHNICIAN),
)
CALLERS = STAFF + TECHNICIANS


@dataclass(frozen=True, slots=True)
class StoredKeys:
    """What ``var/demo-keys.json`` holds: the day, tokens by caller, technicians by caller."""

    day: date
    tokens: dict[str, str]
    technicians: dict[str, str]


def create_staff_keys(engine: Engine) -> dict[str, str]:
    """Create the admin, dispatcher and integrator keys; return the tokens by caller."""
    tokens = {}
    with Session(engine) as session, session.begin():
        for c in STAFF:
            _, tokens[c.caller] = create_key(session, role=c.role, name=c.key_name, source=c.source)
    return tokens


def create_technician_keys(engine: Engine, technician_ids: Sequence[str]) -> dict[str, str]:
    """Create ``demo-technician-1`` and ``-2`` for the given technicians; return the tokens."""
    tokens = {}
    with Session(engine) as session, session.begin():
        for c, tech_id in zip(TECHNICIANS, technician_ids, strict=False):
            _, tokens[c.caller] = create_key(
                session, role=c.role, name=c.key_name, technician_id=tech_id
            )
    return tokens


def save_keys(path: Path, *, database_url: str, stored: StoredKeys) -> None:
    """Write the tokens, readable by the owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"day": stored.day.isoformat(), "database_url": database_url,
                "tokens": stored.tokens, "technicians": stored.technicians}  # fmt: skip
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=2)
    os.chmod(path, 0o600)


def load_keys(path: Path, *, database_url: str) -> StoredKeys | None:
    """Return what is stored when it belongs to ``database_url`` and is whole, else ``None``."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document["database_url"] != database_url:
            return None
        tokens = {c.caller: str(document["tokens"][c.caller]) for c in CALLERS}
        technicians = {c.caller: str(document["technicians"][c.caller]) for c in TECHNICIANS}
        return StoredKeys(date.fromisoformat(document["day"]), tokens, technicians)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def describe(stored: StoredKeys) -> list[tuple[str, str, str]]:
    """Rows (key name, what it is for, token) to print."""
    what = {
        "admin": "admin: everything, rate cards",
        "dispatcher": "dispatcher: /map, runs, overrides",
        "integrator": f"integrator (source {INTEGRATOR_SOURCE}): leads and tickets API",
    }
    for c in TECHNICIANS:
        what[c.caller] = f"technician {stored.technicians.get(c.caller)}: /me/today, /me/earnings"
    return [(c.key_name, what[c.caller], stored.tokens[c.caller]) for c in CALLERS
            if c.caller in stored.tokens]  # fmt: skip
