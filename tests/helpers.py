"""Helpers for integration tests: write CSVs, ingest documents through the real service."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ingestion.pipeline import Source
from ingestion.report import Report
from passport.config import Settings
from passport.db import unit_of_work, utcnow
from passport.deposits import service
from passport.deposits.models import Deposit, DepositStatus
from passport.holders.service import IDENTITY_COLUMNS, import_identities
from passport.nir import NirVault
from passport.records.models import Passage
from passport.training.service import TRAINING_COLUMNS, import_training_files


def write_csv(path: Path, columns: tuple[str, ...] | list[str], rows: list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def load_identities(factory: sessionmaker[Session], vault: NirVault, tmp: Path,
                    rows: list[dict[str, str]]) -> None:
    path = write_csv(tmp / "identities.csv", IDENTITY_COLUMNS, rows)
    with unit_of_work(factory) as session:
        import_identities(session, path, vault)


def load_training_files(factory: sessionmaker[Session], vault: NirVault, tmp: Path,
                        rows: list[dict[str, str]]) -> None:
    path = write_csv(tmp / "training.csv", TRAINING_COLUMNS, rows)
    with unit_of_work(factory) as session:
        import_training_files(session, path, vault)


def ingest(factory: sessionmaker[Session], settings: Settings, tmp: Path, data: bytes,
           name: str = "flux.xml", **option_changes: Any) -> Deposit:
    """Receive and process a document through the deposit service; return the deposit."""
    path = tmp / name
    path.write_bytes(data)
    sha256, size = service.file_digest(path)
    with unit_of_work(factory) as session:
        deposit_id = service.receive(session, file_name=name, sha256=sha256, size=size).id
    options = settings.ingest_options()
    if option_changes:
        from dataclasses import replace

        options = replace(options, **option_changes)
    deposit = service.process(factory, deposit_id, Source(path), vault=NirVault(settings),
                              options=options)
    assert deposit is not None
    return deposit


def report_of(factory: sessionmaker[Session], deposit: Deposit) -> Report:
    """The stored report of a deposit, its outcome parts read at once (a test may render it
    after its database is gone)."""
    with unit_of_work(factory) as session:
        report = service.load_report(session, deposit.id)
        assert report is not None
        report.outcomes = list(report.outcomes)
    return report


def passages(factory: sessionmaker[Session]) -> list[Passage]:
    with unit_of_work(factory) as session:
        return list(session.scalars(sa.select(Passage).order_by(Passage.id)))


def count(factory: sessionmaker[Session], model: type) -> int:
    with unit_of_work(factory) as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def empty_tables(engine: sa.Engine, keep: frozenset[str] = frozenset()) -> None:
    """Delete every row of every table but ``keep`` (identities restart at 1)."""
    from passport.db import utcnow
    from passport.journal.models import JournalEntry, JournalPurgePermit
    from passport.models import Base

    tables = [t for t in reversed(Base.metadata.sorted_tables) if t.name not in keep]
    with engine.begin() as conn:
        # The journal is append-only: only a purge permit lets its rows go.
        conn.execute(JournalPurgePermit.__table__.insert().values(granted_at=utcnow()))
        conn.execute(JournalEntry.__table__.delete())
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        else:
            for table in tables:
                conn.execute(table.delete())
            if not keep and conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
            ).first():
                conn.exec_driver_sql("DELETE FROM sqlite_sequence")


def undeletable_received_file(factory: sessionmaker[Session], tmp: Path) -> Path:
    """A processed deposit whose stored copy, past its retention, cannot be deleted as a
    file (a directory): the clean-up's storage failing mid-way."""
    odd = tmp / "ab" / "ab12.xml"
    odd.mkdir(parents=True)
    old = utcnow() - dt.timedelta(days=40)
    os.utime(odd, (old.timestamp(), old.timestamp()))
    with unit_of_work(factory) as db:
        db.add(Deposit(file_name="f.xml", sha256="ab12", size_bytes=1, storage_path=str(odd),
                       status=DepositStatus.TRAITE, received_at=old, finished_at=old))
    return odd


def assert_lease_renewed(factory: sessionmaker[Session], table: type[Any], row_id: int,
                         run: Callable[[], object], gate: threading.Event,
                         lease_seconds: float) -> None:
    """Run a job in a thread, its work held on ``gate``; once the job has claimed its row
    and twice its lease has gone by, the lease must have been renewed — except on SQLite,
    where nothing renews it (one host: the claimant's process decides). The work then ends."""
    job = threading.Thread(target=run, daemon=True)
    job.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            with unit_of_work(factory) as db:
                row = db.get(table, row_id)
                if row is not None and row.worker is not None:
                    break
            assert time.monotonic() < deadline, "the job never claimed its row"
            time.sleep(0.02)
        time.sleep(2 * lease_seconds)
        with unit_of_work(factory) as db:
            lease, now = db.get(table, row_id).lease_expires_at, utcnow()
        assert lease is not None
        if factory.kw["bind"].dialect.name == "sqlite":
            assert lease < now
        else:
            assert lease > now, "the lease ran out while the job worked"
    finally:
        gate.set()
        job.join(60)


def hold(monkeypatch: Any, owner: object, name: str) -> threading.Event:
    """Make ``owner.name`` wait for the event returned before doing its work."""
    gate = threading.Event()
    real = getattr(owner, name)

    def held(*args: Any, **kwargs: Any) -> Any:
        assert gate.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, held)
    return gate


def waiting_deposit(factory: sessionmaker[Session], flux: Path) -> int:
    """A deposit of the file ``flux`` received through the API, not processed yet."""
    from tests.api.fixtures import CERTIFIER

    with unit_of_work(factory) as db:
        deposit = Deposit(file_name=flux.name, sha256=hashlib.sha256(flux.read_bytes()).hexdigest(),
                          size_bytes=flux.stat().st_size, source="api", submitted_by=CERTIFIER,
                          storage_path=str(flux))
        db.add(deposit)
        db.flush()
        return deposit.id
