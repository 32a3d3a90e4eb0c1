"""API fixtures: the app on the test database, two real local OpenID providers playing
FranceConnect and ProConnect, registered clients and a small identity directory."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import oidc_provider_mock
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from passport.app import create_app
from passport.auth.clients import add_app, add_certifier_client
from passport.config import Settings
from passport.db import unit_of_work
from passport.nir import NirVault
from tests.flux import person_row
from tests.helpers import load_identities
from tests.oauth import CLIENT_ID, REDIRECT_URI

CERTIFIER = "CERT0001"


@pytest.fixture(scope="session")
def providers() -> Iterator[dict[str, str]]:
    """FranceConnect and ProConnect stand-ins, on loopback, for the whole run."""
    logging.getLogger("oidc_provider_mock").setLevel(logging.WARNING)
    with (
        oidc_provider_mock.run_server_in_thread(require_nonce=True) as fc,
        oidc_provider_mock.run_server_in_thread(require_nonce=True) as pc,
    ):
        yield {"franceconnect": f"http://localhost:{fc.server_port}",
               "proconnect": f"http://localhost:{pc.server_port}"}


def auth_environment(database_url: str, tmp_path: Path, providers: dict[str, str],
                     **extra: str) -> dict[str, str]:
    return {
        "PASSPORT_ENV": "test",
        "PASSPORT_DATABASE_URL": database_url,
        "PASSPORT_INSTANCE_DIR": str(tmp_path / "instance"),
        "PASSPORT_ISSUER": "http://localhost",
        "PASSPORT_FRANCECONNECT_ISSUER": providers["franceconnect"],
        "PASSPORT_PROCONNECT_ISSUER": providers["proconnect"],
        "PASSPORT_FRANCECONNECT_MIN_ACR": "eidas2",
        "PASSPORT_ANALYSTS": "analyste@drees.example",
        **extra,
    }


@pytest.fixture
def auth_settings(database_url: str, tmp_path: Path, providers: dict[str, str]) -> Settings:
    return Settings.from_env(auth_environment(database_url, tmp_path, providers))


@pytest.fixture
def make_app(engine: object) -> Iterator[Any]:
    """Build apps with given settings; their engines are disposed afterwards."""
    apps: list[Flask] = []

    def build(settings: Settings) -> Flask:
        app = create_app(settings, {"TESTING": True})
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["passport.engine"].dispose()


@pytest.fixture
def app(make_app: Any, auth_settings: Settings, committed: sessionmaker[Session],
        tmp_path: Path) -> Flask:
    """The app, with a public test client, a certifier client and a small directory."""
    vault = NirVault(auth_settings)
    load_identities(committed, vault, tmp_path, [
        person_row(),
        person_row(nir="189057511800194", nom_naissance="Lefèvre", prenom1="Jean-Luc",
                   prenom2="", annee_naissance="1989", mois_naissance="5", jour_naissance="3",
                   code_insee_naissance="75118"),
        person_row(nir="189057511800293", nom_naissance="Lefèvre", prenom1="Jean-Luc",
                   prenom2="", annee_naissance="1989", mois_naissance="5", jour_naissance="4",
                   code_insee_naissance="75118"),
    ])
    with unit_of_work(committed) as db:
        add_app(db, CLIENT_ID, "Test app", [REDIRECT_URI])
        app_secret = add_certifier_client(db, CERTIFIER, "Certifier One")
    application = make_app(auth_settings)
    application.config["TEST_CERTIFIER_SECRET"] = app_secret
    return application  # type: ignore[no-any-return]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
