"""The one error shape, for validation, HTTP, domain errors and oversized bodies."""

import json
import socket
import threading
import time
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool

from api.demo.service import free_port
from api.deps import close_after_answer
from api.errors import LastResort, install_error_handlers
from api.limits import BodySizeLimit
from geo.errors import InvalidCoordinates


class Point(BaseModel):
    lon: float
    lat: float


@pytest.fixture(scope="module")
def client() -> TestClient:
    """A tiny app with the service's error handling and a 100-byte body limit."""
    app = FastAPI()
    app.add_middleware(BodySizeLimit, max_bytes=100)
    install_error_handlers(app)

    @app.post("/points")
    def echo(point: Point) -> Point:
        return point

    @app.get("/domain")
    def domain() -> None:
        raise InvalidCoordinates("longitude 200 at index 0 is out of range", index=0)

    # One pooled connection, and a request that wants a second while holding it: the pool
    # gives up after its timeout, as it does when a burst has every connection busy.
    engine = create_engine(
        "sqlite://", poolclass=QueuePool, pool_size=1, max_overflow=0, pool_timeout=0.05
    )

    @app.get("/pool-exhausted")
    def pool_exhausted() -> None:
        with engine.connect(), engine.connect():
            pass

    return TestClient(app)


def test_nan_in_a_json_body_is_a_422_not_a_500(client: TestClient) -> None:
    response = client.post(
        "/points",
        content=b'{"lon": NaN, "lat": Infinity, "extra": [1]}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code in {200, 422}
    if response.status_code == 422:
        assert response.json()["error"]["code"] == "validation_error"


def test_missing_field_is_named(client: TestClient) -> None:
    response = client.post("/points", json={"lon": 1})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["message"].startswith("lat:")
    assert error["details"]["errors"][0]["field"] == "lat"


def test_domain_errors_keep_their_code_and_details(client: TestClient) -> None:
    response = client.get("/domain")
    assert response.status_code == 422
    assert response.json() == {
        "error": {
            "code": "invalid_coordinates",
            "message": "longitude 200 at index 0 is out of range",
            "details": {"index": 0},
            "request_id": None,  # this bare app has no RequestObserver to name its requests
        }
    }


def test_an_exhausted_pool_is_a_503_to_retry(client: TestClient) -> None:
    response = client.get("/pool-exhausted")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "database_unavailable"


def test_unknown_route_is_404_in_the_error_shape(client: TestClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_oversized_body_is_413(client: TestClient) -> None:
    response = client.post("/points", json={"lon": 1, "lat": 2, "pad": "x" * 200})
    assert response.status_code == 413
    assert response.json()["error"]["details"] == {"max_bytes": 100}


def test_oversized_streamed_body_without_length_is_413(client: TestClient) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"lon": 1, "lat": 2, "pad": "'
        yield b"x" * 200
        yield b'"}'

    response = client.post(
        "/points", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_an_unhandled_error_is_the_error_body_and_keeps_the_connection() -> None:
    # A real server, two requests on one socket: after the 500 the connection still serves.
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(LastResort)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    @app.get("/fine")
    def fine() -> dict[str, str]:
        return {"status": "ok"}

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            stream = sock.makefile("rb")
            first = exchange(sock, stream, "/boom")
            second = exchange(sock, stream, "/fine")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    status, headers, body = first
    assert status == 500 and headers.get("connection") != "close"
    assert json.loads(body)["error"]["code"] == "internal_error"
    assert "a bug" not in body.decode()  # the traceback goes to the log, not to the client
    assert second[0] == 200 and json.loads(second[2]) == {"status": "ok"}


def exchange(sock: socket.socket, stream: Any, path: str) -> tuple[int, dict[str, str], bytes]:
    """Send one keep-alive GET on ``sock``; read its status, headers and body."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    status = int(stream.readline().split()[1])
    headers = {}
    while (line := stream.readline().decode().strip()) != "":
        name, _, value = line.partition(":")
        headers[name.lower()] = value.strip()
    return status, headers, stream.read(int(headers["content-length"]))


@pytest.mark.db
@pytest.mark.postgis
def test_a_session_whose_connection_died_closes_quietly(
    engine: Engine, admin_engine: Engine
) -> None:
    # The database restarted after the request was answered: closing the session must not
    # raise, or the server drops the client's keep-alive connection after the answer.
    session = Session(engine)
    backend = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with admin_engine.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    close_after_answer(session)
    assert not session.in_transaction()
    with Session(engine) as fresh:
        assert fresh.execute(text("SELECT 1")).scalar_one() == 1
