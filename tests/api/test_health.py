"""GET /health and the problem+json error format."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from passport.app import create_app
from passport.config import Settings


@pytest.fixture
def client(settings: Settings, engine: object) -> Iterator[FlaskClient]:
    app = create_app(settings, {"TESTING": True})
    yield app.test_client()
    app.extensions["passport.engine"].dispose()


def test_health_reports_the_database(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_health_when_the_database_is_down(settings: Settings) -> None:
    down = dataclasses.replace(settings,
                               database_url="postgresql+psycopg://nobody@127.0.0.1:1/nothing")
    app = create_app(down, {"TESTING": True})
    response = app.test_client().get("/health")
    app.extensions["passport.engine"].dispose()
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == "unavailable"
    assert "nobody" not in response.get_data(as_text=True)


def test_unknown_route_is_problem_json(client: FlaskClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == "not_found"
    assert response.json["instance"] == "/nowhere"


def test_wrong_method(client: FlaskClient) -> None:
    response = client.delete("/health")
    assert response.status_code == 405
    assert response.json["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_openapi_document_is_served(client: FlaskClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json["openapi"].startswith("3.1")
    assert "/health" in response.json["paths"]
