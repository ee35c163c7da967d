"""``geodispatch bench map`` runs end to end on a small day and writes its figures."""

import json
import subprocess
import sys
from pathlib import Path

from api.config import PROJECT_ROOT


def test_bench_map_times_the_page_and_measures_the_bytes(tmp_path: Path) -> None:
    out = tmp_path / "map.json"
    command = [sys.executable, "-m", "api.cli", "bench", "map", "--technicians", "5",
               "--tickets", "40", "--repeats", "1", "--json", str(out)]  # fmt: skip
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    assert figures["tickets"] == 40 and len(figures["load_s"]["runs"]) == 1
    assert 0 < figures["load_s"]["median"] < 60
    sizes = figures["city_view_bytes"]
    assert sizes["tickets"]["gzip"] < sizes["tickets"]["raw"]
    assert "to all layers drawn (40 tickets)" in done.stdout
