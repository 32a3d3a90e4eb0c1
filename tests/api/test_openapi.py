"""The committed openapi.json is the generated one (CI fails on drift); docs are served."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from passport.app import create_app, openapi_document
from passport.config import Settings

COMMITTED = Path(__file__).resolve().parents[2] / "openapi.json"


def test_committed_openapi_matches_the_code(engine: object) -> None:
    app = create_app(Settings.from_env({"PASSPORT_DATABASE_URL": "sqlite://"}))
    try:
        generated = openapi_document(app)
    finally:
        app.extensions["passport.engine"].dispose()
    assert COMMITTED.read_text(encoding="utf-8") == generated, (
        "openapi.json is stale: run `passport openapi --output openapi.json` and commit it")


def test_openapi_is_31_and_documents_security_and_errors(app: Flask) -> None:
    spec = app.test_client().get("/api/openapi.json").json
    assert spec["openapi"] == "3.1.0"
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    passport = spec["paths"]["/api/v1/me/passport"]["get"]
    assert passport["security"] == [{"bearerAuth": ["passport:read"]}]
    assert {"200", "401", "403"} <= set(passport["responses"])
    assert "Attested items" in passport["summary"]


def test_swagger_ui_is_served(app: Flask) -> None:
    response = app.test_client().get("/api/docs")
    assert response.status_code == 200 and b"swagger-ui" in response.data.lower()
