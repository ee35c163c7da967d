"""Rules files edited while the service runs: read again on a change, a broken edit keeps the last
good rules (logged), and with none loaded before the error names the file and the field."""

import logging
import os
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from api.watched_files import RulesFileError, Watched, read_toml


class InvalidLimits(ValueError):
    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class LimitsFileError(RulesFileError):
    pass


def parse_limits(table: Mapping[str, Any]) -> int:
    limit = table.get("limit")
    if not isinstance(limit, int):
        raise InvalidLimits("limit: an integer is required", field="limit")
    return limit


def watched() -> Watched[int]:
    read = partial(read_toml, parse=parse_limits, invalid=InvalidLimits, error=LimitsFileError)
    return Watched(read, what="limits")


def write(path: Path, text: str, *, tick: int) -> None:
    """Write ``text`` and give the file a distinct modification time (coarse clocks)."""
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(tick * 10**9, tick * 10**9))


def test_a_changed_file_is_read_again_and_an_unchanged_one_is_not(tmp_path: Path) -> None:
    path, limits = tmp_path / "limits.toml", watched()
    write(path, "limit = 3\n", tick=1)
    assert limits(path) == 3
    path.write_text("limit = 4\n", encoding="utf-8")
    os.utime(path, ns=(10**9, 10**9))  # same time and size: taken as unchanged
    assert limits(path) == 3
    write(path, "limit = 40\n", tick=2)
    assert limits(path) == 40


def test_a_broken_edit_keeps_the_last_good_rules_and_logs_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, limits = tmp_path / "limits.toml", watched()
    write(path, "limit = 3\n", tick=1)
    assert limits(path) == 3
    write(path, 'limit = "many"\n', tick=2)
    with caplog.at_level(logging.ERROR, logger="api.watched_files"):
        assert limits(path) == 3
    assert "keeping the limits loaded before" in caplog.text
    path.unlink()
    assert limits(path) == 3
    write(path, "limit = 5\n", tick=3)
    assert limits(path) == 5


@pytest.mark.parametrize(
    ("text", "field"),
    [(None, "file"), ("limit = = 3\n", "file"), ('limit = "many"\n', "limit")],
)
def test_without_rules_loaded_before_the_error_names_the_file_and_field(
    tmp_path: Path, text: str | None, field: str
) -> None:
    path = tmp_path / "limits.toml"
    if text is not None:
        write(path, text, tick=1)
    with pytest.raises(LimitsFileError) as caught:
        watched()(path)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{path}: ")


def test_a_folder_is_read_again_when_a_file_is_added(tmp_path: Path) -> None:
    def count(folder: Path) -> int:
        return len(list(folder.glob("*.toml")))

    files = Watched(count, what="files")
    write(tmp_path / "a.toml", "", tick=1)
    assert files(tmp_path) == 1
    write(tmp_path / "b.toml", "", tick=1)
    assert files(tmp_path) == 2
