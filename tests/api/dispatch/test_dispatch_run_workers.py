"""Dispatch workers start with the service and load the solver's kernels before any run."""

import os

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.config import Settings
from api.dispatch.runs import RunExecutor
from api.main import create_app


def test_the_service_starts_its_workers_with_the_kernels_loaded(
    engine: Engine, settings: Settings
) -> None:
    warm = settings.model_copy(update={"dispatch_warm_workers": True, "dispatch_workers": 1})
    app = create_app(warm)
    try:
        with TestClient(app):  # the lifespan starts the executor
            executor = app.state.run_executor
            assert isinstance(executor, RunExecutor)
            [ready] = executor.workers_ready  # no run was submitted
            pid, warm_up_s = ready.result(timeout=300)
    finally:
        app.state.engine.dispose()
    assert pid != os.getpid()  # a worker process of its own, kept for every run
    assert warm_up_s is not None and warm_up_s > 0


def test_without_warm_workers_none_starts_before_a_run(engine: Engine, settings: Settings) -> None:
    assert Settings.model_fields["dispatch_warm_workers"].default is True  # production
    assert not settings.dispatch_warm_workers  # the tests turn it off: one app per test
    app = create_app(settings)
    try:
        with TestClient(app):
            assert app.state.run_executor.workers_ready == []
    finally:
        app.state.engine.dispose()
