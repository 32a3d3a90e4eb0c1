"""Queued dry runs (``POST /api/v1/flux/validate`` with ``Prefer: respond-async``) on the
embedded in-process job pool: the same verdict as the synchronous answer, polled through a
token; the upload removed once checked; a bound on what waits; recovery of what a dead
process left; expiry and clean-up. On Celery workers: tests/integration/test_workers.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from passport import cleanup, ratelimit
from passport.config import Settings
from passport.db import unit_of_work, utcnow
from passport.deposits import dryruns
from passport.deposits.models import Deposit, DryRun, DryRunStatus
from passport.deposits.storage import DRY_RUNS
from passport.jobs import InProcessQueue, JobContext
from passport.nir import NirVault
from passport.records.models import Passage
from tests.flux import document, passage, titulaire
from tests.helpers import assert_lease_renewed, count, hold, waiting_deposit

VALIDATE = "/api/v1/flux/validate"
XML = {"Content-Type": "application/xml"}
ASYNC = {**XML, "Prefer": "respond-async"}
MIXED = document([
    passage("OK-1"),
    passage("NOBODY", identificationTitulaire=titulaire(nomNaissance="Inconnu")),
    passage("RULE", presenceNiveauLangueEuro="true"),
    passage("OK-2"),
])


def wait_done(client: FlaskClient, url: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(url)
        assert response.status_code == 200, response.get_data(as_text=True)
        if response.json["status"] not in ("EN_ATTENTE", "EN_COURS"):
            assert "Retry-After" not in response.headers
            return response.json  # type: ignore[no-any-return]
        assert response.headers["Retry-After"] == "5"
        assert time.monotonic() < deadline, response.json
        time.sleep(0.05)


def uploads(settings: Settings) -> list[Path]:
    return sorted((settings.storage_dir / DRY_RUNS).glob("*"))


@pytest.mark.parametrize("data", [
    MIXED,
    document([passage("A"), passage("B", dateFinValidite="demain")]),  # schema, positioned
    MIXED[:-40],  # truncated
], ids=["rules", "schema", "truncated"])
def test_a_queued_dry_run_gives_the_synchronous_verdict(
        client: FlaskClient, auth_settings: Settings, committed: sessionmaker[Session],
        data: bytes) -> None:
    expected = client.post(VALIDATE, data=data, headers=XML)
    assert expected.status_code == 200
    queued = client.post(VALIDATE, data=data, headers={**ASYNC, "X-File-Name": "mine.xml"})
    assert queued.status_code == 202, queued.get_data(as_text=True)
    assert queued.headers["Preference-Applied"] == "respond-async"
    assert queued.headers["Location"] == queued.json["url"]
    assert queued.json["url"].startswith(VALIDATE + "/")
    assert queued.json["status"] == "EN_ATTENTE" and queued.json["verdict"] is None
    assert queued.json["file_name"] == "mine.xml" and queued.json["size_bytes"] == len(data)
    done = wait_done(client, queued.headers["Location"])
    assert done["status"] == "TERMINE" and done["finished_at"] is not None
    assert done["verdict"] == {**expected.json, "file_name": "mine.xml"}
    # Checked, the upload is gone; nothing reached the passports.
    assert uploads(auth_settings) == []
    assert count(committed, Deposit) == count(committed, Passage) == 0
    with unit_of_work(committed) as db:
        [row] = db.scalars(sa.select(DryRun))
        assert row.storage_path is None and row.attempts == 1
        # Only the token's digest is kept.
        token = queued.json["url"].rsplit("/", 1)[1]
        assert token not in (row.token_sha256, row.file_name) and len(token) >= 32


def test_the_preference_is_read_as_rfc_7240_says(client: FlaskClient) -> None:
    for prefer in ("return=minimal", "respond-asynchronously", ""):
        assert client.post(VALIDATE, data=MIXED,
                           headers={**XML, "Prefer": prefer}).status_code == 200
    for prefer in ("wait=10, respond-async", "RESPOND-ASYNC; x=1", "handling=lenient,respond-async"):
        response = client.post(VALIDATE, data=MIXED, headers={**XML, "Prefer": prefer})
        assert response.status_code == 202, prefer
        wait_done(client, response.headers["Location"])


def test_an_unknown_or_expired_dry_run_is_404(client: FlaskClient,
                                              committed: sessionmaker[Session]) -> None:
    missing = client.get(f"{VALIDATE}/{'x' * 32}")
    assert missing.status_code == 404 and missing.json["code"] == "not_found"
    assert missing.content_type == "application/problem+json"
    url = client.post(VALIDATE, data=MIXED, headers=ASYNC).headers["Location"]
    wait_done(client, url)
    with unit_of_work(committed) as db:
        db.execute(sa.update(DryRun).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert client.get(url).status_code == 404


def test_what_waits_is_bounded(make_app: Any, auth_settings: Settings,
                               committed: sessionmaker[Session], tmp_path: Path) -> None:
    """At most PASSPORT_DRY_RUNS_PENDING_MAX uploads wait on disk (all clients together):
    the next is refused before its body is read; the synchronous form still answers."""
    app = make_app(dataclasses.replace(auth_settings, dry_runs_pending_max=1))
    client = app.test_client()
    with unit_of_work(committed) as db:
        dryruns.receive(db, auth_settings, file_name="waiting.xml", size=1,
                        path=tmp_path / "waiting.xml")
    busy = client.post(VALIDATE, data=MIXED, headers=ASYNC)
    assert busy.status_code == 503 and busy.json["code"] == "busy"
    assert busy.headers["Retry-After"] == "30"
    assert uploads(auth_settings) == []
    assert client.post(VALIDATE, data=MIXED, headers=XML).status_code == 200
    with unit_of_work(committed) as db:
        db.execute(sa.update(DryRun).values(status=DryRunStatus.TERMINE))
    assert client.post(VALIDATE, data=MIXED, headers=ASYNC).status_code == 202


def test_one_address_cannot_take_every_place(make_app: Any, auth_settings: Settings,
                                             committed: sessionmaker[Session],
                                             tmp_path: Path) -> None:
    """PASSPORT_DRY_RUNS_PENDING_PER_CLIENT: past it, an address's next dry run is refused
    (429 `too_many_pending`) before its body is read, while another address still gets a
    place; the rows name their client by a keyed hash, never the address."""
    settings = dataclasses.replace(auth_settings, dry_runs_pending_per_client=2)
    client = make_app(settings).test_client()
    mine = ratelimit.client_key("validate", "127.0.0.1", settings.nir_hmac_key)
    with unit_of_work(committed) as db:
        for name in ("one.xml", "two.xml"):
            dryruns.receive(db, settings, file_name=name, size=1, path=tmp_path / name,
                            client_key=mine)
    refused = client.post(VALIDATE, data=MIXED, headers=ASYNC)
    assert refused.status_code == 429 and refused.json["code"] == "too_many_pending"
    assert refused.headers["Retry-After"] == "30" and "2 of your" in refused.json["detail"]
    assert uploads(settings) == []
    other = client.post(VALIDATE, data=MIXED, headers=ASYNC,
                        environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 202
    with unit_of_work(committed) as db:
        keys = set(db.scalars(sa.select(DryRun.client_key)))
    assert keys == {mine, ratelimit.client_key("validate", "192.0.2.7", settings.nir_hmac_key)}
    assert not any("127.0.0.1" in k or "192.0.2.7" in k for k in keys if k)
    with unit_of_work(committed) as db:  # one of mine ends: a place is free again
        db.execute(sa.update(DryRun).where(DryRun.file_name == "one.xml")
                   .values(status=DryRunStatus.TERMINE))
    assert client.post(VALIDATE, data=MIXED, headers=ASYNC).status_code == 202


def test_queued_dry_runs_count_against_the_address(make_app: Any, auth_settings: Settings,
                                                   committed: sessionmaker[Session]) -> None:
    client = make_app(dataclasses.replace(auth_settings, validate_rate_per_minute=2)
                      ).test_client()
    answers = [client.post(VALIDATE, data=MIXED, headers=headers).status_code
               for headers in (ASYNC, XML, ASYNC)]
    assert answers == [202, 200, 429]


@pytest.fixture
def queue(auth_settings: Settings, committed: sessionmaker[Session]) -> Any:
    found = InProcessQueue(JobContext(auth_settings, committed, NirVault(auth_settings)))
    yield found
    found.shutdown()


def left_behind(committed: sessionmaker[Session], settings: Settings, data: bytes,
                **state: Any) -> int:
    """A dry run whose web process died before queuing it (or whose job died)."""
    folder = settings.storage_dir / DRY_RUNS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"left-{len(list(folder.iterdir()))}.xml"
    path.write_bytes(data)
    with unit_of_work(committed) as db:
        row, _token = dryruns.receive(db, settings, file_name="left.xml", size=len(data),
                                      path=path)
        row.received_at = utcnow() - dt.timedelta(minutes=1)
        for name, value in state.items():
            setattr(row, name, value)
        return row.id


def final(committed: sessionmaker[Session], dry_run_id: int, timeout: float = 60) -> DryRun:
    deadline = time.monotonic() + timeout
    while True:
        with unit_of_work(committed) as db:
            row = db.get(DryRun, dry_run_id)
            assert row is not None
            if row.status.is_final:
                db.expunge(row)
                return row
        assert time.monotonic() < deadline, row.status
        time.sleep(0.05)


def test_what_a_dead_process_left_is_checked_by_the_sweep(
        queue: InProcessQueue, auth_settings: Settings,
        committed: sessionmaker[Session]) -> None:
    never_queued = left_behind(committed, auth_settings, MIXED)
    dead_pid = 2**22 + 12345  # above Linux's pid_max: no such process
    abandoned = left_behind(committed, auth_settings, MIXED, status=DryRunStatus.EN_COURS,
                            attempts=1, worker=f"{socket.gethostname()}:{dead_pid}")
    alive = left_behind(committed, auth_settings, MIXED, status=DryRunStatus.EN_COURS,
                        attempts=1, worker=f"{socket.gethostname()}:{os.getpid()}")
    fresh = left_behind(committed, auth_settings, MIXED)
    with unit_of_work(committed) as db:  # just received: its own job is on its way
        db.execute(sa.update(DryRun).where(DryRun.id == fresh).values(received_at=utcnow()))
    assert sorted(queue.sweeper.sweep()) == [never_queued, abandoned]
    for dry_run_id, attempts in ((never_queued, 1), (abandoned, 2)):
        row = final(committed, dry_run_id)
        assert row.status is DryRunStatus.TERMINE and row.attempts == attempts
        assert row.verdict is not None and row.verdict["passages_ko"] == 1
    with unit_of_work(committed) as db:
        assert db.get(DryRun, alive).status is DryRunStatus.EN_COURS  # type: ignore[union-attr]
        assert db.get(DryRun, fresh).status is DryRunStatus.EN_ATTENTE  # type: ignore[union-attr]


def test_dry_runs_never_hold_up_a_deposit(
        queue: InProcessQueue, auth_settings: Settings, committed: sessionmaker[Session],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Anyone may queue dry runs: in the in-process pool they have a thread of their own,
    so a deposit filed behind them runs at once (two slow dry runs used to take both of the
    pool's threads)."""
    from passport.deposits.models import DepositStatus

    release = hold(monkeypatch, dryruns, "check")
    waiting = [left_behind(committed, auth_settings, MIXED) for _ in range(2)]
    for dry_run_id in waiting:
        queue.submit_dry_run(dry_run_id)
    flux = tmp_path / "deposit.xml"
    flux.write_bytes(document([passage("D-1")], id_flux="behind-dry-runs"))
    deposit_id = waiting_deposit(committed, flux)
    queue.submit(deposit_id)
    try:
        deadline = time.monotonic() + 60
        while True:
            with unit_of_work(committed) as db:
                status = db.get(Deposit, deposit_id).status  # type: ignore[union-attr]
            if status.is_final:
                break
            assert time.monotonic() < deadline, "the deposit waited behind the dry runs"
            time.sleep(0.05)
        # Processed (its holder is unknown here: KO), not rejected.
        assert status is DepositStatus.TRAITE_AVEC_ERREURS
        with unit_of_work(committed) as db:
            assert {db.get(DryRun, i).status  # type: ignore[union-attr]
                    for i in waiting} <= set(dryruns.PENDING)
    finally:
        release.set()
    assert {final(committed, i).status for i in waiting} == {DryRunStatus.TERMINE}


def test_a_dry_run_interrupted_again_and_again_fails(
        auth_settings: Settings, committed: sessionmaker[Session]) -> None:
    ctx = JobContext(auth_settings, committed, NirVault(auth_settings))
    dead = f"{socket.gethostname()}:{2**22 + 1}"
    exhausted = left_behind(committed, auth_settings, MIXED, status=DryRunStatus.EN_COURS,
                            attempts=auth_settings.job_max_attempts, worker=dead)
    assert dryruns.run(ctx, exhausted) is DryRunStatus.ECHEC
    row = final(committed, exhausted)
    assert row.verdict is None and row.storage_path is None
    assert uploads(auth_settings) == []
    assert dryruns.run(ctx, exhausted) is None  # done: a second delivery does nothing
    lost = left_behind(committed, auth_settings, MIXED)
    with unit_of_work(committed) as db:
        Path(db.get(DryRun, lost).storage_path).unlink()  # type: ignore[union-attr, arg-type]
    assert dryruns.run(ctx, lost) is DryRunStatus.ECHEC


def test_cleanup_removes_expired_dry_runs_and_forgotten_uploads(
        auth_settings: Settings, committed: sessionmaker[Session], app: Flask) -> None:
    kept = left_behind(committed, auth_settings, MIXED)
    expired = left_behind(committed, auth_settings, MIXED)
    with unit_of_work(committed) as db:
        row = db.get(DryRun, expired)
        assert row is not None and row.storage_path is not None
        old_file = Path(row.storage_path)
        row.expires_at = utcnow() - dt.timedelta(minutes=1)
    long_ago = time.time() - auth_settings.dry_run_keep_hours * 3600 - 60
    os.utime(old_file, (long_ago, long_ago))
    swept = {s.label: s.count for s in cleanup.run(committed, auth_settings, dry_run=True)}
    assert swept["expired dry runs"] == 1
    cleanup.run(committed, auth_settings)
    with unit_of_work(committed) as db:
        assert [r.id for r in db.scalars(sa.select(DryRun))] == [kept]
    assert not old_file.exists()
    assert len(uploads(auth_settings)) == 1


def test_a_check_that_fails_is_released_for_another_attempt(
        auth_settings: Settings, committed: sessionmaker[Session],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected failure (not the file's: those are verdicts) must not leave the dry
    run claimed by a process that lives on, which no sweep would ever take over."""
    ctx = JobContext(auth_settings, committed, NirVault(auth_settings))
    dry_run_id = left_behind(committed, auth_settings, MIXED)

    def broken(*_: Any) -> None:
        raise OSError("the disk went away")

    monkeypatch.setattr(dryruns, "check", broken)
    with pytest.raises(OSError, match="disk went away"):
        dryruns.run(ctx, dry_run_id)
    with unit_of_work(committed) as db:
        row = db.get(DryRun, dry_run_id)
        assert row is not None and row.status is DryRunStatus.EN_ATTENTE and row.attempts == 1
    assert dryruns.recover(committed) == [dry_run_id]
    monkeypatch.undo()
    assert dryruns.run(ctx, dry_run_id) is DryRunStatus.TERMINE


def test_the_broker_down_loses_nothing_the_client_sent(
        make_app: Any, auth_settings: Settings, committed: sessionmaker[Session],
        app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    """A deposit or a queued dry run is recorded before its job is published: the broker
    down (here: nothing listens) is logged, the client gets its 202, and the sweep of the
    workers queues the job once the broker is back. It used to be a 500 after the commit."""
    from passport.deposits.models import DepositStatus
    from tests.api.fixtures import CERTIFIER
    from tests.oauth import bearer, mint

    down = make_app(dataclasses.replace(auth_settings, celery_broker_url="redis://127.0.0.1:1/0"))
    with unit_of_work(committed) as db:
        token = mint(down, db, None, client_id=CERTIFIER)
    client = down.test_client()
    filed = client.post("/api/v1/certifier/deposits", data=MIXED,
                        headers={**XML, **bearer(token)})
    assert filed.status_code == 202, filed.get_data(as_text=True)
    queued = client.post(VALIDATE, data=MIXED, headers=ASYNC)
    assert queued.status_code == 202, queued.get_data(as_text=True)
    with unit_of_work(committed) as db:
        assert [d.status for d in db.scalars(sa.select(Deposit))] == [DepositStatus.RECU]
        assert [r.status for r in db.scalars(sa.select(DryRun))] == [DryRunStatus.EN_ATTENTE]
    failed = [r.getMessage() for r in caplog.records if "not queued" in r.getMessage()]
    assert [m.split(" ")[0] for m in failed] == ["passport.process_deposit",
                                                 "passport.validate_upload"]


def test_a_long_check_keeps_its_claim(auth_settings: Settings, committed: sessionmaker[Session],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A check outlasting its lease renews it, so that a worker on another host does not
    take the dry run over (on SQLite, one host: the claimant's process decides)."""
    settings = dataclasses.replace(auth_settings, job_lease_seconds=1)
    ctx = JobContext(settings, committed, NirVault(settings))
    gate = hold(monkeypatch, dryruns, "check")
    dry_run_id = left_behind(committed, settings, MIXED)
    assert_lease_renewed(committed, DryRun, dry_run_id, lambda: dryruns.run(ctx, dry_run_id),
                         gate, 1)
    assert final(committed, dry_run_id).status is DryRunStatus.TERMINE
