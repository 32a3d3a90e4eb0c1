"""Rotating the encryption key: ``passport keys status`` and ``passport keys reencrypt``
move every value kept for its owner (NIRs, share links) to the current key, so that the
former key can leave the configuration."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from sqlalchemy.orm import Session, sessionmaker

from passport import rekey
from passport.cli import main
from passport.config import Settings
from passport.db import Base, make_engine, make_session_factory, table_of, unit_of_work, utcnow
from passport.holders.models import Holder
from passport.nir import NirVault, is_shaped, with_key
from passport.sharing.models import Share
from passport.sharing.service import TOKEN_PURPOSE
from tests.flux import person_row
from tests.helpers import load_identities, load_training_files
from tests.integration.test_imports import training_row

OLD, NEW = (base64.b64encode(bytes([n]) * 32).decode() for n in (7, 9))
PEOPLE = 25


def env(current: str, key: str, old: str = "") -> dict[str, str]:
    return {"PASSPORT_NIR_ENCRYPTION_KEY_ID": current, "PASSPORT_NIR_ENCRYPTION_KEY": key,
            "PASSPORT_NIR_ENCRYPTION_OLD_KEYS": old}


def vault_of(settings: Settings, **keys: str) -> NirVault:
    environ = {"PASSPORT_ENV": "test", "PASSPORT_DATABASE_URL": settings.database_url,
               "PASSPORT_INSTANCE_DIR": str(settings.instance_dir), **keys}
    return NirVault(Settings.from_env(environ))


def nirs(n: int = PEOPLE) -> list[str]:
    return [with_key(f"1850775123{i:03d}") for i in range(1, n + 1)]


def fill(committed: sessionmaker[Session], vault: NirVault, tmp: Path) -> list[str]:
    """Identities, holders (through their training files) and two shares, all under the
    vault's current key; the share tokens."""
    people = nirs()
    load_identities(committed, vault, tmp, [person_row(nir=nir, prenom1=f"P{i}")
                                            for i, nir in enumerate(people)])
    load_training_files(committed, vault, tmp, [training_row(id_dossier=f"{i:013d}", nir=nir)
                                                for i, nir in enumerate(people)])
    tokens = [f"share-token-{n}" for n in range(2)]
    with unit_of_work(committed) as db:
        holder = db.scalars(sa.select(Holder.id).order_by(Holder.id)).first()
        now = utcnow()
        db.execute(sa.insert(table_of(Share)), [
            {"holder_id": holder, "token_hash": hashlib.sha256(t.encode()).hexdigest(),
             "token_enc": vault.encrypt_value(t, TOKEN_PURPOSE), "token_key_id": vault.key_id,
             "expires_at": now + dt.timedelta(days=3), "created_at": now, "updated_at": now}
            for t in tokens])
    return tokens


def clear_values(committed: sessionmaker[Session], vault: NirVault) -> dict[str, list[str]]:
    """What every sealed column holds, opened with ``vault`` (fails on a key it lacks)."""
    with unit_of_work(committed) as db:
        return {
            column.label: sorted(vault.decrypt_value(kid, blob, column.purpose) for blob, kid in
                                 db.execute(sa.select(column.value, column.key_id)))
            for column in rekey.sealed()
        }


def key_ids(committed: sessionmaker[Session]) -> dict[str, set[str]]:
    with unit_of_work(committed) as db:
        return {column.label: set(db.scalars(sa.select(column.key_id).distinct()))
                for column in rekey.sealed()}


def run(cli: CliRunner, monkeypatch: pytest.MonkeyPatch, keys: dict[str, str],
        *args: str) -> Result:
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    return cli.invoke(main, ["keys", *args])


def test_every_encrypted_column_is_rotated() -> None:
    """A new encrypted column must join `rekey.sealed`, or a rotation would leave it behind."""
    listed = {(c.table.name, c.value.key) for c in rekey.sealed()}
    encrypted = {(t.name, c.name) for t in Base.metadata.sorted_tables for c in t.columns
                 if c.name.endswith("_enc")}
    assert listed == encrypted


def test_reencrypt_moves_every_value_so_the_former_key_can_go(
        cli: CliRunner, monkeypatch: pytest.MonkeyPatch, settings: Settings,
        committed: sessionmaker[Session], tmp_path: Path) -> None:
    old_vault = vault_of(settings, **env("2025-01", OLD))
    tokens = fill(committed, old_vault, tmp_path)
    before = clear_values(committed, old_vault)
    assert key_ids(committed) == {"holders": {"2025-01"}, "identity_records": {"2025-01"},
                                  "shares": {"2025-01"}}
    rotated = env("2026-11", NEW, f"2025-01:{OLD}")

    status = run(cli, monkeypatch, rotated, "status")
    assert status.exit_code == 0, status.output
    assert "former, configured" in status.output
    assert f"{2 * PEOPLE + 2} value(s) under a former key" in status.output

    done = run(cli, monkeypatch, rotated, "reencrypt", "--batch-size", "7")
    assert done.exit_code == 0, done.output
    assert f"{PEOPLE:>10,} holders" in done.output
    assert f"{PEOPLE:>10,} identity_records" in done.output
    assert f"{2:>10,} shares" in done.output
    assert not is_shaped(status.output + done.output)

    assert key_ids(committed) == {"holders": {"2026-11"}, "identity_records": {"2026-11"},
                                  "shares": {"2026-11"}}
    new_only = vault_of(settings, **env("2026-11", NEW))
    after = clear_values(committed, new_only)
    assert after == before
    assert after["shares"] == sorted(tokens)
    assert sorted(after["holders"]) == sorted(nirs())
    with pytest.raises(LookupError):  # the former key is no longer needed, nor configured
        new_only.decrypt("2025-01", b"\0" * 40)

    status = run(cli, monkeypatch, env("2026-11", NEW), "status")
    assert status.exit_code == 0, status.output
    assert "0 value(s) under a former key; every value is under the current key" in status.output
    again = run(cli, monkeypatch, env("2026-11", NEW), "reencrypt")
    assert again.exit_code == 0 and f"{0:>10,} holders" in again.output


def test_values_under_a_key_not_configured_stop_everything_before_a_write(
        cli: CliRunner, monkeypatch: pytest.MonkeyPatch, settings: Settings,
        committed: sessionmaker[Session], tmp_path: Path) -> None:
    fill(committed, vault_of(settings, **env("2025-01", OLD)), tmp_path)
    forgotten = env("2026-11", NEW)  # the former key was not moved to OLD_KEYS

    status = run(cli, monkeypatch, forgotten, "status")
    assert status.exit_code == 1
    assert "NOT CONFIGURED" in status.output
    assert f"{2 * PEOPLE + 2} value(s) under a key id the configuration does not have" in (
        status.output)
    done = run(cli, monkeypatch, forgotten, "reencrypt")
    assert done.exit_code == 1
    assert f"holders '2025-01' ({PEOPLE})" in done.output
    assert "PASSPORT_NIR_ENCRYPTION_OLD_KEYS" in done.output
    assert key_ids(committed)["holders"] == {"2025-01"}


def test_a_damaged_value_stops_the_run_naming_its_row_and_a_rerun_finishes(
        cli: CliRunner, monkeypatch: pytest.MonkeyPatch, settings: Settings,
        committed: sessionmaker[Session], tmp_path: Path) -> None:
    fill(committed, vault_of(settings, **env("2025-01", OLD)), tmp_path)
    with unit_of_work(committed) as db:
        ids = list(db.scalars(sa.select(Holder.id).order_by(Holder.id)))
        damaged = ids[10]
        blob = db.scalar(sa.select(Holder.nir_enc).where(Holder.id == damaged))
        assert blob is not None
        db.execute(sa.update(Holder).where(Holder.id == damaged)
                   .values(nir_enc=blob[:-1] + bytes([blob[-1] ^ 1])))
    rotated = env("2026-11", NEW, f"2025-01:{OLD}")

    done = run(cli, monkeypatch, rotated, "reencrypt", "--batch-size", "4")
    assert done.exit_code == 1
    assert f"holders {damaged}: the key '2025-01' does not open this value" in done.output
    with unit_of_work(committed) as db:
        moved = dict(db.execute(sa.select(Holder.id, Holder.nir_key_id)).all())
    # The batches before the damaged value's are done; its batch and the rest are untouched.
    assert [moved[i] for i in ids[:8]] == ["2026-11"] * 8
    assert {moved[i] for i in ids[8:]} == {"2025-01"}
    assert key_ids(committed)["identity_records"] == {"2025-01"}

    with unit_of_work(committed) as db:  # the value is restored from a backup
        db.execute(sa.update(Holder).where(Holder.id == damaged).values(nir_enc=blob))
    again = run(cli, monkeypatch, rotated, "reencrypt", "--batch-size", "4")
    assert again.exit_code == 0, again.output
    assert f"{PEOPLE - 8:>10,} holders" in again.output
    assert key_ids(committed)["holders"] == {"2026-11"}


def test_a_value_rewritten_during_the_run_keeps_its_writers_version(
        settings: Settings, committed: sessionmaker[Session], database_url: str,
        is_postgres: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A holder renumbered between the batch's read and its write keeps the value its
    writer wrote. PostgreSQL: the writer commits in between and the swap, finding another
    value, leaves the row alone. SQLite: the batch holds the write lock from its first read,
    so the writer waits for it (instead of the run failing on a changed snapshot)."""
    fill(committed, vault_of(settings, **env("2025-01", OLD)), tmp_path)
    new_vault = vault_of(settings, **env("2026-11", NEW, f"2025-01:{OLD}"))
    with unit_of_work(committed) as db:
        target = db.scalars(sa.select(Holder.id).order_by(Holder.id)).first()
    fresh = new_vault.encrypt(nirs()[-1])
    other = make_engine(database_url)
    written = threading.Event()

    def renumber() -> None:
        with other.begin() as conn:
            conn.execute(sa.update(table_of(Holder)).where(Holder.id == target)
                         .values(nir_enc=fresh, nir_key_id="2026-11"))
        written.set()

    writer = threading.Thread(target=renumber)
    original = new_vault.reencrypt

    def racing(key_id: str, blob: bytes, purpose: bytes) -> bytes:
        if not writer.is_alive() and not written.is_set():  # the run's first value
            writer.start()
            if is_postgres:
                assert written.wait(10)
        return original(key_id, blob, purpose)

    monkeypatch.setattr(new_vault, "reencrypt", racing)
    engine = make_engine(database_url)
    try:
        done = rekey.reencrypt(make_session_factory(engine), new_vault)
        writer.join(10)
    finally:
        engine.dispose()
        other.dispose()
    assert written.is_set()
    assert done == {"holders": PEOPLE, "identity_records": PEOPLE, "shares": 2}
    with unit_of_work(committed) as db:
        kept = db.scalar(sa.select(Holder.nir_enc).where(Holder.id == target))
    assert kept == fresh
