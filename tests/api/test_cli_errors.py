"""Every command family answers bad input with one line and a non-zero exit, never a traceback.

Bad input here: a missing file, a malformed file, a bad option value, an unreachable or
malformed database URL, a bad ``GEODISPATCH_*`` setting. Usage errors (an option value, an
unknown command) exit with click's 2; everything else with 1. The cases run in process
(typer's ``CliRunner``, which would hold an uncaught exception in ``result.exception``), and
two run as real processes to see what a user sees on stderr.
"""

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import COMMANDS, app
from api.config import PROJECT_ROOT, get_settings

runner = CliRunner()
UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/geodispatch"  # nothing listens on port 1
CARD = PROJECT_ROOT / "data" / "rate_card.toml"


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A folder with a malformed JSON file, a malformed TOML file and a malformed GeoPackage."""
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "bad.toml").write_text("[card\n", encoding="utf-8")
    (tmp_path / "bad.gpkg").write_bytes(b"not a geopackage")
    (tmp_path / "orders.json").write_text(json.dumps({"orders": []}), encoding="utf-8")
    return tmp_path


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Settings read afresh from the environment each time a case sets it."""
    monkeypatch.delenv("GEODISPATCH_DASK_SCHEDULER", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


CASES = [
    # (family, arguments ({} is the files folder), environment, exit status, message)
    ("top", ["frobnicate"], {}, 2, "No such command 'frobnicate'"),
    ("serve", ["serve", "--log-level", "loud"], {}, 2, "Invalid value for '--log-level'"),
    ("serve", ["serve", "--workers", "0"], {}, 2, "Invalid value for '--workers'"),
    ("serve", ["serve"], {"GEODISPATCH_PORT": "eighty"}, 1, "invalid setting GEODISPATCH_PORT"),
    ("db", ["db", "upgrade"], {"GEODISPATCH_DATABASE_URL": UNREACHABLE}, 1,
     "cannot use the database: connection failed"),
    ("db", ["db", "upgrade"], {"GEODISPATCH_DATABASE_URL": "not a url"}, 1,
     "bad database URL (GEODISPATCH_DATABASE_URL)"),
    ("keys", ["keys", "create", "--role", "dispatcher"],
     {"GEODISPATCH_DATABASE_URL": UNREACHABLE}, 1, "cannot use the database"),
    ("keys", ["keys", "create", "--role", "boss"], {}, 2, "Invalid value for '--role'"),
    ("keys", ["keys", "list"], {"GEODISPATCH_DATABASE_URL": UNREACHABLE}, 1,
     "cannot use the database"),
    ("keys", ["keys", "revoke", "k1"], {"GEODISPATCH_DATABASE_URL": UNREACHABLE}, 1,
     "cannot use the database"),
    ("webhooks", ["webhooks", "deliver", "--once"], {"GEODISPATCH_DATABASE_URL": UNREACHABLE},
     1, "cannot use the database"),
    ("escalations", ["escalations", "run"], {"GEODISPATCH_DATABASE_URL": UNREACHABLE}, 1,
     "cannot use the database"),
    ("escalations", ["escalations", "run"], {"GEODISPATCH_ESCALATION_RULES_FILE": str(CARD)},
     1, "escalation rules: "),
    ("demo", ["demo", "load", "--regions", "{}/missing.geojson"], {}, 1,
     "missing.geojson: No such file or directory"),
    ("demo", ["demo", "load", "--regions", "{}/bad.json"], {}, 1, "bad.json: invalid JSON"),
    ("demo", ["demo", "load"], {"GEODISPATCH_DATABASE_URL": UNREACHABLE}, 1,
     "cannot use the database"),
    ("demo", ["demo", "problem", "--places", "{}/bad.json", "--out", "{}/p.json"], {}, 1,
     "bad.json: invalid JSON"),
    ("demo", ["demo", "problem", "--orders", "many"], {}, 2, "Invalid value for '--orders'"),
    ("solve", ["solve", "{}/missing.json"], {}, 1, "missing.json: No such file or directory"),
    ("solve", ["solve", "{}/bad.json"], {}, 1, "bad.json: invalid JSON at line 1"),
    ("solve", ["solve", "{}/bad.json", "--partition", "bogus"], {}, 2,
     "Invalid value for '--partition'"),
    ("settle", ["settle", "{}/orders.json", "--rate-card", "{}/bad.toml", "--out", "{}/o.json"],
     {}, 1, "bad.toml: invalid TOML"),
    ("settle", ["settle", "{}/bad.json", "--rate-card", str(CARD), "--out", "{}/o.json"], {}, 1,
     "bad.json: invalid JSON"),
    ("settle", ["settle", "simulate", "--current", "{}/missing.toml", "--candidate", str(CARD),
                "--orders", "{}/orders.json"], {}, 1, "missing.toml: No such file or directory"),
    ("settle", ["settle", "pending"], {"GEODISPATCH_DATABASE_URL": UNREACHABLE}, 1,
     "cannot use the database"),
    ("settle", ["settle", "pending", "--limit", "0"], {}, 2, "Invalid value for '--limit'"),
    ("customers", ["customers", "tiers"], {"GEODISPATCH_DATABASE_URL": UNREACHABLE}, 1,
     "cannot use the database"),
    ("customers", ["customers", "tiers", "--as-of", "yesterday"], {}, 1,
     "--as-of 'yesterday' is not an ISO 8601 time"),
    ("customers", ["customers", "tiers", "--as-of", "2026-12-03T03:00"], {}, 1,
     "--as-of needs a UTC offset"),
    ("customers", ["customers", "tiers"], {"GEODISPATCH_VALUE_TIERS_FILE": str(CARD)}, 1,
     "value-tier policy"),
    ("inquiries", ["inquiries", "train"], {"GEODISPATCH_DATABASE_URL": UNREACHABLE}, 1,
     "cannot use the database"),
    ("bench", ["bench", "geo", "--points", "0"], {}, 2, "Invalid value for '--points'"),
    ("bench", ["bench", "solomon", "{}/missing.txt"], {}, 1, "no such file: "),
    ("bench", ["bench", "nothing"], {}, 2, "No such command 'nothing'"),
    ("regions", ["regions", "import", "{}/missing.shp"], {}, 1,
     "missing.shp: No such file or directory"),
    ("regions", ["regions", "import", "{}/bad.gpkg"], {}, 1,
     "bad.gpkg: not a readable Shapefile, GeoPackage or GeoJSON"),
    ("regions", ["regions", "import", "{}/bad.gpkg", "--crs", "utm"], {}, 2,
     "Invalid value for '--crs'"),
    ("regions", ["regions", "import", "{}/bad.gpkg", "--mapping", "{}/bad.toml"], {}, 1,
     "not a readable"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("family", "args", "env", "status", "message"),
    CASES,
    ids=[f"{c[0]}-{'-'.join(a for a in c[1] if not a.startswith('{'))[:40]}" for c in CASES],
)
def test_bad_input_ends_with_one_line(
    files: Path,
    environment: pytest.MonkeyPatch,
    family: str,
    args: list[str],
    env: dict[str, str],
    status: int,
    message: str,
) -> None:
    for name, value in env.items():
        environment.setenv(name, value)

    result = runner.invoke(app, [a.replace("{}", str(files)) for a in args])

    assert result.exit_code == status, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]
    assert "Traceback" not in result.output


def test_every_family_is_covered() -> None:
    assert {c[0] for c in CASES} >= {entry.name for entry in COMMANDS}


@pytest.mark.parametrize(
    "args",
    [["keys", "list"], ["regions", "import", "missing.gpkg"]],
)
def test_a_real_process_prints_one_line_on_stderr(args: list[str], tmp_path: Path) -> None:
    env = {"GEODISPATCH_DATABASE_URL": UNREACHABLE, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("error: ")


def test_help_lists_every_command_with_an_example_and_loads_none() -> None:
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from api.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "print(result.output)\n"
        "heavy = ('sqlalchemy', 'dispatch', 'settlement', 'geo', 'geopandas', 'numpy', 'fastapi')\n"
        "print('LOADED', sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT_ROOT,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"}, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stdout
    for panel in ("Service", "Regions and demo city", "Dispatch and pay", "Measure"):
        assert panel in done.stdout
    for entry in COMMANDS:
        assert entry.help in done.stdout
        assert entry.example in done.stdout
