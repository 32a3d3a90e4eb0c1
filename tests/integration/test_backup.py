"""The backup and restore that docs/operations.md prescribes — ``pg_dump -Fc`` and
``pg_restore`` on PostgreSQL, ``VACUUM INTO`` on SQLite — give back a working service: the
same passports for the same tokens, journals whose chains verify and stay append-only,
sequences that go on (a new row after the restore collides with nothing), every encrypted
value readable with the configured keys."""

from __future__ import annotations

import glob
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask

from passport.cli import main
from passport.config import Settings
from passport.db import make_engine, make_session_factory, unit_of_work
from passport.journal.service import verify
from tests.api.fixtures import auth_environment
from tests.api.test_sharing import declare
from tests.oauth import bearer


def backup_and_restore(source: str, target: str, tmp_path: Path) -> None:
    """The commands of docs/operations.md ("Backups"), on real tools."""
    if source.startswith("sqlite"):
        copy = target.removeprefix("sqlite:///").replace("'", "''")
        subprocess.run(["sqlite3", source.removeprefix("sqlite:///"), f"VACUUM INTO '{copy}'"],
                       check=True, capture_output=True, timeout=120)
        return
    bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]

    def libpq(url: str) -> str:
        return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(False)

    dump = tmp_path / "passport.dump"
    subprocess.run([f"{bindir}/pg_dump", "-Fc", "-f", str(dump), "-d", libpq(source)],
                   check=True, capture_output=True, timeout=120)
    subprocess.run([f"{bindir}/pg_restore", "--exit-on-error", "--no-owner", "-d",
                    libpq(target), str(dump)], check=True, capture_output=True, timeout=120)


def test_a_restored_backup_serves_the_same_passports_and_goes_on(
        app: Flask, make_app: Any, holder: dict[str, Any], database_url: str,
        blank_database_url: str, tmp_path: Path, providers: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    client = app.test_client()
    declare(client, holder["token"], title="Avant la sauvegarde")
    before = client.get("/api/v1/me/passport", headers=bearer(holder["token"])).json
    journal_before = client.get("/api/v1/me/journal", headers=bearer(holder["token"])).json

    backup_and_restore(database_url, blank_database_url, tmp_path)

    restored = make_app(Settings.from_env(auth_environment(blank_database_url, tmp_path,
                                                           providers))).test_client()
    assert restored.get("/api/v1/me/passport", headers=bearer(holder["token"])).json == before
    assert restored.get("/api/v1/me/journal",
                        headers=bearer(holder["token"])).json == journal_before
    # Writing goes on: the sequences came back with the rows.
    after = declare(restored, holder["token"], title="Après la restauration")
    assert after > max(d["id"] for d in before["declarations"]["items"])
    engine = make_engine(blank_database_url)
    try:
        with unit_of_work(make_session_factory(engine)) as db:
            checked, broken = verify(db)
            assert checked >= len(journal_before["items"]) + 1 and broken == []
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text("UPDATE journal_entries SET kind = 'x'"))
    finally:
        engine.dispose()

    monkeypatch.setenv("PASSPORT_DATABASE_URL", blank_database_url)
    monkeypatch.setenv("PASSPORT_ENV", "test")
    monkeypatch.setenv("PASSPORT_INSTANCE_DIR", str(tmp_path / "instance"))
    for command in (["db", "check"], ["keys", "status"], ["journal", "verify"]):
        done = CliRunner().invoke(main, command)
        assert done.exit_code == 0, (command, done.output)
