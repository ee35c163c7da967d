"""Run ``geodispatch`` as its console script does, noting when the solve reaches each step.

``python -m benchmarks.startup_probe MARKS.json solve problem.json ...`` is what ``bench
startup`` times. Before importing anything of the project it installs an import hook that
wraps, once their modules are loaded, ``dispatch.solver.solve`` and
``dispatch.local_search.LocalSearch`` so that the main thread's calls note the wall-clock time
(``time.time()``, comparable with the parent's) of:

- ``interpreter``: this module runs (the interpreter and ``site`` are up);
- ``command``: the ``solve`` command starts (its modules are imported, its options parsed);
- ``read``: the problem is read (``api.cli.dispatching.read_problem`` returns);
- ``solve``: ``solve`` is called;
- ``construction``: the search starts building routes (``LocalSearch`` is created);
- ``first_feasible``: the first feasible plan is built and the annealing starts
  (``LocalSearch.run``).

The marks go to ``MARKS.json`` when the annealing starts and again at exit. Only the main
thread counts: a warm-up of the kernels in another thread is not the solve. The hook changes
no import order and imports nothing itself.
"""

import functools
import importlib.abc
import importlib.machinery
import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

MARKS: dict[str, float] = {"interpreter": time.time()}


def _note(name: str) -> None:
    if threading.current_thread() is threading.main_thread():
        MARKS.setdefault(name, time.time())


def _timed(name: str, fn: Callable[..., Any], *, after: bool = False) -> Callable[..., Any]:
    """``fn`` noting ``name`` when called (or when it returns, ``after``)."""

    @functools.wraps(fn)  # the command line reads the options from the signature
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not after:
            _note(name)
        result = fn(*args, **kwargs)
        if after:
            _note(name)
        return result

    return wrapper


def _wrap_command(module: Any) -> None:
    if hasattr(module, "solve_command"):
        module.solve_command = _timed("command", module.solve_command)
    if hasattr(module, "read_problem"):
        module.read_problem = _timed("read", module.read_problem, after=True)


def _wrap_solver(module: Any) -> None:
    module.solve = _timed("solve", module.solve)


def _wrap_search(module: Any, write: Callable[[], None]) -> None:
    search = module.LocalSearch
    init, run = search.__init__, search.run

    def run_noted(self: Any, *args: Any, **kwargs: Any) -> Any:
        _note("first_feasible")
        write()
        return run(self, *args, **kwargs)

    search.__init__ = _timed("construction", init)
    search.run = run_noted


class _Hook(importlib.abc.MetaPathFinder):
    """Wrap the two modules above right after they run, before anyone imports from them."""

    def __init__(self, write: Callable[[], None]) -> None:
        self.write = write
        self.wrappers: dict[str, Callable[[ModuleType], None]] = {
            "api.cli.dispatching": _wrap_command,
            "dispatch.solver": _wrap_solver,
            "dispatch.local_search": lambda m: _wrap_search(m, write),
        }

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        wrap = self.wrappers.get(name)
        if wrap is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        execute = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            wrap(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def main() -> None:
    """Install the hook, then run the command line on the remaining arguments."""
    out = sys.argv[1]

    def write() -> None:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(MARKS, f)

    sys.meta_path.insert(0, _Hook(write))
    import atexit

    atexit.register(write)
    from api.cli import app

    sys.argv = ["geodispatch", *sys.argv[2:]]
    app()


if __name__ == "__main__":
    main()
