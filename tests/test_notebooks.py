"""The notebooks run top to bottom in a fresh kernel of this interpreter, and are stored clean.

Each notebook is executed with nbclient in a kernel started from the ``python3`` kernel spec:
jupyter_client finds the virtual environment's own spec (``.venv/share/jupyter/kernels``,
installed with ipykernel) and starts it with this interpreter, so nothing is installed
anywhere. An extra last cell checks that the kernel really is this interpreter and that
matplotlib drew on the Agg backend (no display). The kernel's IPython profile and connection
files go to a temporary folder, not the home directory.
"""

import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import dispatch

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
EXPECTED = ("01_dispatch.ipynb", "02_rate_cards.ipynb", "03_leads_funnel.ipynb")
CELL_TIMEOUT_S = 120  # a hung cell fails the test instead of the whole run
KERNEL_CHECK = f"""
import sys
import matplotlib
assert sys.prefix == {sys.prefix!r}, sys.prefix
assert matplotlib.get_backend().lower() == "agg", matplotlib.get_backend()
"""


@pytest.fixture(scope="module", autouse=True)
def solver_kernels() -> None:
    """Compile (or load from the on-disk cache) the solver's kernels before any timed run."""
    dispatch.warm_up()


def test_every_notebook_is_tested() -> None:
    assert tuple(sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_is_stored_without_outputs(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code_cells)
    assert notebook.cells[0].cell_type == "markdown"


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_executes(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "1")  # the venv's kernel spec first
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(KERNEL_CHECK))
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        startup_timeout=120,
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    started = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    elapsed = time.perf_counter() - started
    print(f"{name}: executed in {elapsed:.1f} s")  # speed is watched, not asserted
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert errors == []
