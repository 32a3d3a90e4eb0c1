"""API fixtures: the app on the test database, two real local OpenID providers playing
FranceConnect and ProConnect, registered clients, a small identity directory and a holder
with a passport. A plugin of the whole suite (see tests/conftest.py): the browser tests
use them too."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from passport.app import create_app
from passport.auth.clients import add_app, add_certifier_client
from passport.auth.demo import stand_in
from passport.auth.models import Account, Role
from passport.certifiers.service import add_certifier
from passport.config import Settings
from passport.db import unit_of_work
from passport.holders.models import Holder
from passport.nir import NirVault
from tests.flux import NIL, PERSON_NIR, Raw, certification, document, passage, person_row
from tests.helpers import ingest, load_identities
from tests.oauth import CLIENT_ID, REDIRECT_URI, mint

oidc_provider_mock = stand_in()

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
        dispose(app)


def dispose(app: Flask) -> None:
    """Stop what an app started: its in-process job queue and its database engine."""
    queue = app.extensions.get("passport.jobs")
    if queue is not None and hasattr(queue, "shutdown"):
        queue.shutdown()  # its sweeper must not outlive the test
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


DIGCOMP = Raw(
    "<cpf:niveauNumeriqueEuropeen><cpf:scoreGeneral>742</cpf:scoreGeneral><cpf:resultats>"
    "<cpf:resultat><cpf:niveau>6</cpf:niveau><cpf:domaineCompetenceId>3</cpf:domaineCompetenceId>"
    "<cpf:competenceId>4</cpf:competenceId></cpf:resultat>"
    "<cpf:resultat><cpf:niveau>4</cpf:niveau><cpf:domaineCompetenceId>1</cpf:domaineCompetenceId>"
    "<cpf:competenceId>1</cpf:competenceId></cpf:resultat>"
    "</cpf:resultats></cpf:niveauNumeriqueEuropeen>")


@pytest.fixture
def holder(app: Flask, committed: sessionmaker[Session], auth_settings: Settings,
           tmp_path: Path) -> dict[str, Any]:
    """Antoine Dupont's passport from real flux files, and tokens for him and another holder."""
    with unit_of_work(committed) as db:
        add_certifier(db, "CERT0001", ["CTR-0001"], "Institut Européen du Numérique", None)
    ingest(committed, auth_settings, tmp_path, document(certifications=[
        certification([
            passage("VALID", mentionValidee="MENTION_BIEN", libelleOption="Option web",
                    urlPreuve="https://verif.example/1"),
            passage("EXPIRED", dateDebutValidite="2019-01-01", dateFinValidite="2022-01-01",
                    dateDebutExamen="2018-12-01", dateFinExamen="2018-12-02"),
            passage("PROVISIONAL", donneeCertifiee="false"),
            passage("WITHDRAWN"),
        ]),
        certification([
            passage("DIGITAL", obtentionCertification="PAR_SCORING", scoring="742",
                    presenceNiveauNumeriqueEuro="true", niveauNumeriqueEuropeen=DIGCOMP),
            passage("LANGUAGE", obtentionCertification="PAR_SCORING",
                    presenceNiveauLangueEuro="true", niveauLangueEuropeen="B2",
                    mentionValidee=NIL),
        ], type_="RS", code="RS5875"),
    ]), "flux-1.xml")
    ingest(committed, auth_settings, tmp_path,
           document([passage("WITHDRAWN")], action="SUPPRESSION", id_flux="del-1"), "del.xml")
    vault = NirVault(auth_settings)
    with unit_of_work(committed) as db:
        holder_id = db.scalar(sa.select(Holder.id).where(
            Holder.nir_hmac == vault.pseudonym(PERSON_NIR)))
        other = Holder(nir_hmac="f" * 64, nir_enc=vault.encrypt("253072B07300470"),
                       nir_key_id=vault.key_id)
        db.add(other)
        db.flush()
        accounts = [Account(public_id=f"acct-{n}", role=Role.HOLDER, issuer="t", subject=str(n),
                            holder_id=h) for n, h in ((1, holder_id), (2, other.id))]
        db.add_all(accounts)
        db.flush()
        return {"token": mint(app, db, accounts[0]), "other": mint(app, db, accounts[1]),
                "read_only": mint(app, db, accounts[0], scope="passport:read"),
                "holder_id": holder_id}
