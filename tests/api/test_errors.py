"""The one error shape, for validation, HTTP, domain errors and oversized bodies."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api.errors import install_error_handlers
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
