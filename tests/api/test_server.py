"""``geodispatch serve --workers N``: processes with a socket each, sharing the connections
and their metrics."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.cli import app
from api.config import PROJECT_ROOT
from api.demo.keys import create_staff_keys
from api.server import reuse_port_socket, serve_processes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_processes_may_bind_the_same_port() -> None:
    first = reuse_port_socket("127.0.0.1", 0)
    try:
        port = first.getsockname()[1]
        second = reuse_port_socket("127.0.0.1", port)
        assert second.getsockname()[1] == port
        second.close()
    finally:
        first.close()


def test_several_processes_need_a_fixed_port() -> None:
    with pytest.raises(ValueError, match="fixed port"):
        serve_processes("127.0.0.1", 0, 2)


def test_a_taken_port_is_a_message_not_a_traceback() -> None:
    with socket.socket() as taken:  # bound without SO_REUSEPORT: nobody may share it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = CliRunner().invoke(app, ["serve", "--workers", "2", "--port", port])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output


def _connections_per_process(server: psutil.Process, port: int) -> list[int]:
    """Count each listening process's accepted connections on ``port``."""
    counts = []
    for child in server.children():
        mine = [c for c in child.net_connections() if c.laddr and c.laddr.port == port]
        if any(c.status == psutil.CONN_LISTEN for c in mine):
            counts.append(sum(1 for c in mine if c.status == psutil.CONN_ESTABLISHED))
    return counts


def _health_requests(exposition: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "geodispatch_http_requests_total" and sample.labels["route"] == "/health"
    )


def test_connections_spread_over_the_processes_and_sigterm_stops_them(
    engine: Engine, database_url: str
) -> None:
    port = _free_port()
    env = {**os.environ, "GEODISPATCH_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", "2"]
    command += ["--log-level", "warning", "--no-access-log"]
    server = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT)
    try:
        deadline = time.monotonic() + 120  # each process imports the solver stack
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the server did not come up")
        time.sleep(5)  # the other process may still be starting
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(24)]
        time.sleep(0.5)
        counts = _connections_per_process(psutil.Process(server.pid), port)
        for client in clients:
            client.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert client.recv(64).startswith(b"HTTP/1.1 200"), "a process did not answer"
            client.close()
        # The kernel hashes each connection to a socket: both processes get some.
        assert len(counts) == 2 and min(counts) >= 1, counts
        # Whichever process answers a scrape counts the requests both served: 24 + the poll.
        token = create_staff_keys(engine)["admin"]
        auth = {"Authorization": f"Bearer {token}"}
        for _ in range(4):  # a few scrapes, so that both processes answer one
            scrape = httpx.get(f"http://127.0.0.1:{port}/metrics", headers=auth, timeout=10)
            assert scrape.status_code == 200, scrape.text
            assert _health_requests(scrape.text) == 25
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=40) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
