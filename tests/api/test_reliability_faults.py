"""PostgreSQL restarted and its connections killed under load: 503s during, none after.

A small run of ``geodispatch bench reliability faults`` on a private PostgreSQL cluster made for
the test (the shared one is never restarted): one fast restart and one round of
``pg_terminate_backend``, two service processes. PostGIS pass only.
"""

import pytest

from benchmarks.reliability import cluster
from benchmarks.reliability.faults import FaultParams, faults_run, faults_violations, partial_rows


@pytest.mark.db
@pytest.mark.postgis
@pytest.mark.skipif(not cluster.available(), reason="PostgreSQL's server programs are missing")
def test_restart_and_killed_connections_give_503s_then_recover() -> None:
    params = FaultParams(plan=("restart:fast", "terminate"), gap_s=2.0, threads=4, workers=2)
    figures = faults_run(params)
    assert faults_violations(figures) == []
    restart, terminate = figures["faults"]
    assert restart["errors_during_fault"], "the restart went unnoticed: no request hit it"
    assert set(restart["errors_during_fault"]) == {"503 database_unavailable"}
    assert terminate["backends_terminated"] > 0
    assert figures["errors_after_recovery"] == 0 and figures["non_503_errors"] == 0
    assert partial_rows(figures) == 0 and figures["audit"]["lost"] == 0
    assert figures["audit"]["acknowledged"] == figures["audit"]["keys"] > 0
