"""The Flask application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_smorest import Api

from passport.config import Settings
from passport.db import make_engine, make_session_factory
from passport.web import db as web_db
from passport.web import errors as web_errors


def create_app(
    settings: Settings | None = None, overrides: Mapping[str, Any] | None = None
) -> Flask:
    """Build the app: settings, database, error handling, API blueprints.

    No query runs here: the database is first touched by a request.
    """
    settings = settings or Settings.from_env()
    app = Flask(__name__, instance_path=str(settings.instance_dir.resolve()))
    _configure(app, settings, overrides)
    _init_database(app, settings)
    _register_api(app)
    # After flask-smorest, whose own HTTPException handler this one replaces.
    web_errors.init_app(app)
    return app


def _configure(app: Flask, settings: Settings, overrides: Mapping[str, Any] | None) -> None:
    app.config.update(
        PASSPORT_SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        API_TITLE="Passeport de compétences",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        JSON_SORT_KEYS=False,
    )
    if overrides:
        app.config.update(overrides)


def _init_database(app: Flask, settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    app.extensions["passport.engine"] = engine
    web_db.init_app(app, make_session_factory(engine))


def _register_api(app: Flask) -> None:
    from passport.health.api import blp as health

    api = Api(app)
    api.register_blueprint(health)
    app.extensions["passport.api"] = api
