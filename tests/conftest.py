"""Shared fixtures: settings, a migrated database (SQLite, or PostgreSQL when
``PASSPORT_TEST_DATABASE_URL`` points at one), sessions, the app and the CLI.

The schema is built through the Alembic migrations, once per run.  ``db`` gives a session
inside an outer transaction rolled back after the test; ``committed`` gives a session
factory whose commits are real, for code that owns its transactions (ingestion, CLI), and
empties every table afterwards.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.orm import Session, sessionmaker

from ingestion.pipeline import stop_readers
from passport.config import Settings
from passport.db import make_engine, make_session_factory
from passport.migrate import upgrade
from passport.models import Base
from passport.nir import NirVault
from tests.helpers import empty_tables

DATA = Path(__file__).parent / "data"
OFFICIAL_EXAMPLE = DATA / "official-example-v2.0.0.xml"

#: The API fixtures (app, client, holder, providers…), also used by the browser tests.
pytest_plugins = ["tests.api.fixtures", "tests.privacy"]


def production_environment() -> dict[str, str]:
    """A complete, valid production configuration (fresh keys)."""
    from joserfc.jwk import ECKey

    from passport.cvs.signing import self_signed_seal

    seal_key, seal_cert = self_signed_seal("Passeport de compétences (tests)")
    return {
        "PASSPORT_PDF_SEAL_KEY": seal_key.decode(),
        "PASSPORT_PDF_SEAL_CERT": seal_cert.decode(),
        "PASSPORT_ENV": "production",
        "PASSPORT_NIR_HMAC_KEY": "11" * 32,
        "PASSPORT_NIR_ENCRYPTION_KEY": "22" * 32,
        "PASSPORT_SIGNING_KEY": ECKey.generate_key("P-256", private=True).as_pem(
            private=True).decode(),
        "PASSPORT_ISSUER": "https://passport.example",
        "PASSPORT_FRANCECONNECT_ISSUER": "https://fcp.integ01.dev-franceconnect.fr/api/v2",
        "PASSPORT_FRANCECONNECT_CLIENT_SECRET": "fc-secret",
        "PASSPORT_PROCONNECT_ISSUER": "https://fca.integ01.dev-agentconnect.fr/api/v2",
        "PASSPORT_PROCONNECT_CLIENT_SECRET": "pc-secret",
    }


def pytest_report_header() -> str:
    url = os.environ.get("PASSPORT_TEST_DATABASE_URL")
    shown = sa.engine.make_url(url).render_as_string(hide_password=True) if url else "sqlite"
    return f"passport test database: {shown}"


@contextlib.contextmanager
def fresh_database(directory: Path) -> Iterator[str]:
    """A new, empty database: a SQLite file in ``directory``, or a database created on the
    PostgreSQL server of ``PASSPORT_TEST_DATABASE_URL`` and dropped afterwards."""
    server = os.environ.get("PASSPORT_TEST_DATABASE_URL")
    if not server:
        yield f"sqlite:///{directory / 'passport-test.sqlite3'}"
        return
    name = f"passport_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, empty database for this test run."""
    with fresh_database(tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture
def blank_database_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test (migrations up and down)."""
    with fresh_database(tmp_path) as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    """The migrated test database."""
    upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def reader_processes_end_with_the_session() -> Iterator[None]:
    """Reader processes live from one file to the next (`ingestion.pipeline`) and write
    their coverage data when they exit: before pytest-cov combines it, not after."""
    yield
    stop_readers()


@pytest.fixture(scope="session")
def is_postgres(engine: sa.Engine) -> bool:
    return engine.dialect.name == "postgresql"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Test settings pointing at the test database."""
    return Settings.from_env(
        {
            "PASSPORT_ENV": "test",
            "PASSPORT_DATABASE_URL": database_url,
            "PASSPORT_INSTANCE_DIR": str(tmp_path / "instance"),
            "PASSPORT_INGEST_SUBPROCESS_MIN_BYTES": "-1",
        }
    )


@pytest.fixture
def vault(settings: Settings) -> NirVault:
    return NirVault(settings)


@pytest.fixture
def db(engine: sa.Engine) -> Iterator[Session]:
    """A session in an outer transaction, rolled back after the test (savepoints inside)."""
    with engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint",
                          expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()
            from tests.privacy import SESSION  # the plugin, registered above

            with contextlib.suppress(sa.exc.DBAPIError):  # a transaction the test broke
                SESSION.dump(conn, "db fixture", Base.metadata.sorted_tables)
            outer.rollback()


def _empty_all_tables(engine: sa.Engine) -> None:
    from tests.privacy import SESSION  # the plugin, registered above

    with engine.connect() as conn:
        SESSION.dump(conn, "committed data", Base.metadata.sorted_tables)
    empty_tables(engine)


@pytest.fixture
def committed(engine: sa.Engine) -> Iterator[sessionmaker[Session]]:
    """A session factory whose commits are real; every table is emptied afterwards."""
    try:
        yield make_session_factory(engine)
    finally:
        _empty_all_tables(engine)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, database_url: str,
        committed: sessionmaker[Session], tmp_path: Path) -> CliRunner:
    """The console script on the test database (tables emptied afterwards), run from
    ``tmp_path``."""
    monkeypatch.setenv("PASSPORT_DATABASE_URL", database_url)
    monkeypatch.setenv("PASSPORT_ENV", "test")
    monkeypatch.setenv("PASSPORT_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.chdir(tmp_path)
    return CliRunner()
