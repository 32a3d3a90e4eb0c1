"""The Flask application factory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from passport import metrics
from passport.config import Settings
from passport.db import make_engine, make_session_factory
from passport.web import cors as web_cors
from passport.web import db as web_db
from passport.web import errors as web_errors
from passport.web import guards as web_guards
from passport.web import headers as web_headers
from passport.web import requestid
from passport.web.converters import Id32Converter, IdConverter


def create_app(
    settings: Settings | None = None, overrides: Mapping[str, Any] | None = None
) -> Flask:
    """Build the app: settings, database, error handling, API blueprints.

    No query runs here: the database is first touched by a request.
    """
    settings = settings or Settings.from_env()
    app = Flask(__name__, instance_path=str(settings.instance_dir.resolve()))
    app.url_map.converters["int"] = IdConverter  # before any route is added
    app.url_map.converters["id32"] = Id32Converter
    _configure(app, settings, overrides)
    _init_database(app, settings)
    # First: every other hook's logs carry the request's id, the timer starts before any
    # other hook may answer.
    requestid.init_app(app)
    metrics.init_app(app, settings, app.extensions["passport.sessions"])
    _init_auth(app, settings)
    _register_api(app)
    # After flask-smorest, whose own HTTPException handler this one replaces.
    web_errors.init_app(app)
    web_guards.init_app(app)
    web_headers.init_app(app)
    web_cors.init_app(app, settings.cors_origins)
    return app


def _configure(app: Flask, settings: Settings, overrides: Mapping[str, Any] | None) -> None:
    app.config.update(
        PASSPORT_SETTINGS=settings,
        # Flux uploads raise it to PASSPORT_MAX_UPLOAD_BYTES for themselves (upload.receive).
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        API_TITLE="Passeport de compétences",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/",
        API_SPEC_OPTIONS={
            "info": {"description": "Skills passport API: attested and declared items, "
                                    "shares, consents. See docs/api.md."},
        },
        JSON_SORT_KEYS=False,
    )
    if overrides:
        app.config.update(overrides)


def _init_database(app: Flask, settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    app.extensions["passport.engine"] = engine
    web_db.init_app(app, engine, make_session_factory(engine),
                    settings.database_prepare_threshold)


def _init_auth(app: Flask, settings: Settings) -> None:
    from passport.auth.keys import KeyRing
    from passport.auth.oauth_views import bp as oauth
    from passport.auth.server import create_server

    if not settings.is_production:
        # Authlib refuses plain-HTTP endpoints unless told otherwise: development and tests
        # run everything on http://127.0.0.1. Production requires https issuers (Settings).
        os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
    if settings.proxy_fix:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.proxy_fix, x_proto=settings.proxy_fix,
            x_host=settings.proxy_fix)
    keys = KeyRing(settings)
    app.extensions["passport.keys"] = keys
    app.extensions["passport.oauth"] = create_server(app, settings, keys)
    app.register_blueprint(oauth)
    if settings.dev_tools:
        from passport.auth.demo import bp as demo

        app.register_blueprint(demo)


def openapi_document(app: Flask) -> str:
    """The OpenAPI description, as committed in ``openapi.json`` (stable key order)."""
    import json

    spec = app.extensions["passport.api"].spec.to_dict()
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _register_api(app: Flask) -> None:
    from passport.analytics.api import blp as analytics
    from passport.auth.api import blp as me
    from passport.consents.api import blp as consents
    from passport.credentials.api import blp as credentials
    from passport.credentials.api import public as credential_documents
    from passport.cvs.api import blp as cvs
    from passport.cvs.signing import Sealer
    from passport.deposits.api import blp as certifier
    from passport.health.api import blp as health
    from passport.journal.api import blp as journal
    from passport.records.api import blp as passport
    from passport.referentials.api import blp as skills
    from passport.sharing.api import blp as shares
    from passport.sharing.pages import bp as share_pages

    api = web_errors.ProblemApi(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                       "description": "Access token from /oauth/token (ES256, RFC 9068)"})
    api.register_blueprint(health)
    api.register_blueprint(me)
    api.register_blueprint(passport)
    api.register_blueprint(journal)
    api.register_blueprint(skills)
    api.register_blueprint(shares)
    api.register_blueprint(consents)
    api.register_blueprint(certifier)
    api.register_blueprint(analytics)
    api.register_blueprint(cvs)
    app.extensions["passport.sealer"] = Sealer(app.config["PASSPORT_SETTINGS"])
    api.register_blueprint(credentials)
    app.register_blueprint(share_pages)
    app.register_blueprint(credential_documents)
    app.extensions["passport.api"] = api
