"""Cross-origin calls (PASSPORT_CORS_ORIGINS, passport.web.cors): a listed front end's
preflight is answered with what the API needs, its answers — problems included — carry
the CORS headers, and nothing else gets any; no credential mode ever. In a real browser:
tests/browser/test_cors.py."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from flask.testing import FlaskClient

from passport.config import ConfigurationError, Settings

FRONT = "https://app.example.fr"


@pytest.fixture
def cors_client(make_app: Any, auth_settings: Settings) -> FlaskClient:
    return make_app(dataclasses.replace(auth_settings, cors_origins=(FRONT,))).test_client()


def preflight(client: FlaskClient, path: str, origin: str, method: str,
              headers: str) -> Any:
    return client.options(path, headers={"Origin": origin,
                                         "Access-Control-Request-Method": method,
                                         "Access-Control-Request-Headers": headers})


def test_a_listed_front_end_may_call_the_api(cors_client: FlaskClient) -> None:
    answer = preflight(cors_client, "/api/v1/me/declarations/1", FRONT, "PATCH",
                       "authorization, content-type, if-match")
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == FRONT
    assert set(answer.headers["Access-Control-Allow-Methods"].split(", ")) >= {"PATCH", "DELETE"}
    assert answer.headers["Access-Control-Allow-Headers"] == "authorization, content-type, if-match"
    assert answer.headers["Access-Control-Max-Age"] == "600"
    assert "Access-Control-Allow-Credentials" not in answer.headers
    # A problem is readable too: the front end must see its 401 to refresh its token.
    problem = cors_client.get("/api/v1/me/passport", headers={"Origin": FRONT})
    assert problem.status_code == 401
    assert problem.headers["Access-Control-Allow-Origin"] == FRONT
    exposed = problem.headers["Access-Control-Expose-Headers"].split(", ")
    assert {"ETag", "Location", "Retry-After", "WWW-Authenticate", "X-Request-ID"} <= set(exposed)
    token = preflight(cors_client, "/oauth/token", FRONT, "POST", "content-type")
    assert token.headers["Access-Control-Allow-Origin"] == FRONT


def test_nothing_else_is_shared(cors_client: FlaskClient, client: FlaskClient) -> None:
    for origin in ("https://evil.example", "https://app.example.fr.evil.example",
                   "http://app.example.fr"):
        answer = preflight(cors_client, "/api/v1/me/passport", origin, "GET", "authorization")
        assert not any(h.startswith("Access-Control-") for h, _ in answer.headers), origin
    # The share and login pages are navigated to, never fetched across sites.
    page = cors_client.get("/s/not-a-token", headers={"Origin": FRONT})
    assert "Access-Control-Allow-Origin" not in page.headers
    # Without PASSPORT_CORS_ORIGINS, no origin at all.
    answer = preflight(client, "/api/v1/me/passport", FRONT, "GET", "authorization")
    assert "Access-Control-Allow-Origin" not in answer.headers


@pytest.mark.parametrize("origins", [
    ("*",), ("https://app.example.fr/",), ("https://app.example.fr/login",),
    ("https://*.example.fr",), ("HTTPS://APP.EXAMPLE.FR",), ("app.example.fr",)])
def test_what_is_not_an_origin_is_refused(auth_settings: Settings,
                                          origins: tuple[str, ...]) -> None:
    with pytest.raises(ConfigurationError, match="PASSPORT_CORS_ORIGINS"):
        dataclasses.replace(auth_settings, cors_origins=origins).check()


def test_origins_come_from_the_environment() -> None:
    settings = Settings.from_env({"PASSPORT_CORS_ORIGINS": " https://a.example.fr ,"
                                                           "http://127.0.0.1:8080,"})
    assert settings.cors_origins == ("https://a.example.fr", "http://127.0.0.1:8080")


def test_production_wants_https_front_ends() -> None:
    from tests.conftest import production_environment

    environment = {**production_environment(),
                   "PASSPORT_DATABASE_URL": "postgresql+psycopg://passport@db/passport"}
    with pytest.raises(ConfigurationError, match="must be https:// in production"):
        Settings.from_env({**environment, "PASSPORT_CORS_ORIGINS": "http://app.example.fr"})
    assert Settings.from_env({**environment, "PASSPORT_CORS_ORIGINS": FRONT}).cors_origins == (
        FRONT,)
