"""Deposit jobs on real Celery workers with a real Redis broker: deposit → report; two
workers never process a deposit twice; a worker killed with SIGKILL mid-file leaves nothing
and the deposit completes on another; a file that kills its worker every time ends REJETE
after a bounded number of attempts, and the worker keeps serving other files."""

from __future__ import annotations

import dataclasses
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from passport.config import Settings
from passport.db import unit_of_work
from passport.deposits.models import Deposit, DepositStatus, DryRun, FluxReceipt
from passport.records.models import Passage, PassageKey
from tests.api.fixtures import CERTIFIER
from tests.flux import document, passage, titulaire
from tests.helpers import count
from tests.oauth import bearer, mint
from tests.workers import Worker, redis_server

pytestmark = pytest.mark.slow
DEPOSITS = "/api/v1/certifier/deposits"


def big_flux(n: int, id_flux: str, prefix: str) -> bytes:
    one = passage("X")
    body = "".join(one.replace("<cpf:idTechnique>X<", f"<cpf:idTechnique>{prefix}-{i}<")
                   for i in range(n))
    return document([body], id_flux=id_flux)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def env(database_url: str, tmp_path: Path, broker: str, auth_settings: Settings
        ) -> dict[str, str]:
    """The workers' environment: the test database, the broker, fast recovery."""
    return {**os.environ, "PASSPORT_ENV": "test", "PASSPORT_DATABASE_URL": database_url,
            "PASSPORT_INSTANCE_DIR": str(tmp_path / "worker-instance"),
            "PASSPORT_STORAGE_DIR": str(auth_settings.storage_dir),
            "PASSPORT_CELERY_BROKER_URL": broker, "PASSPORT_RECOVER_EVERY_SECONDS": "1",
            "PASSPORT_INGEST_BATCH_SIZE": "500", "PASSPORT_LOG_LEVEL": "INFO"}


@pytest.fixture
def web(make_app: Any, auth_settings: Settings, broker: str, app: Flask,
        committed: sessionmaker[Session]) -> tuple[FlaskClient, str]:
    """The API with the broker configured, and a certifier token."""
    with_broker = make_app(dataclasses.replace(auth_settings, celery_broker_url=broker))
    with unit_of_work(committed) as db:
        token = mint(with_broker, db, None, client_id=CERTIFIER)
    return with_broker.test_client(), token


@pytest.fixture
def workers(env: dict[str, str], tmp_path: Path) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


def start(workers: list[Worker], env: dict[str, str], tmp_path: Path, queues: str | None = None,
          **extra: str) -> Worker:
    worker = Worker({**env, **extra}, tmp_path / f"worker-{len(workers)}.log", queues=queues)
    workers.append(worker)
    return worker.wait_ready()


def upload(web: tuple[FlaskClient, str], data: bytes) -> int:
    client, token = web
    response = client.post(DEPOSITS, data=data, headers={
        "Content-Type": "application/xml", **bearer(token)})
    assert response.status_code == 202, response.get_data(as_text=True)
    return int(response.json["id"])


def deposits(committed: sessionmaker[Session]) -> list[Deposit]:
    with unit_of_work(committed) as db:
        return list(db.scalars(sa.select(Deposit).order_by(Deposit.id)))


def wait_until(condition: Any, timeout: float, what: str, workers: list[Worker]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(w.output() for w in workers)
            pytest.fail(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.05)


def all_final(committed: sessionmaker[Session], n: int) -> bool:
    found = deposits(committed)
    return len(found) == n and all(d.status.is_final for d in found)


def test_deposit_to_report_on_a_celery_worker(web: tuple[FlaskClient, str],
                                              committed: sessionmaker[Session],
                                              workers: list[Worker], env: dict[str, str],
                                              tmp_path: Path) -> None:
    worker = start(workers, env, tmp_path)
    deposit_id = upload(web, document([
        passage("W-1"), passage("W-2", identificationTitulaire=titulaire(nomNaissance="Zed")),
    ], id_flux="celery-1"))
    wait_until(lambda: all_final(committed, 1), 60, "the deposit", workers)
    [deposit] = deposits(committed)
    assert deposit.id == deposit_id and deposit.status is DepositStatus.TRAITE_AVEC_ERREURS
    assert (deposit.passages_ok, deposit.passages_ko, deposit.attempts) == (1, 1, 1)
    assert deposit.worker and not deposit.worker.endswith(f":{os.getpid()}")  # not us
    client, token = web
    report = client.get(f"{DEPOSITS}/{deposit_id}/report",
                        headers={**bearer(token), "Accept": "application/xml"})
    assert report.status_code == 200 and b"<nomFichier>" in report.data
    assert "passport.process_deposit[" in worker.output()  # a task line, not the banner


def test_a_queued_dry_run_on_a_celery_worker(web: tuple[FlaskClient, str],
                                            committed: sessionmaker[Session],
                                            workers: list[Worker], env: dict[str, str],
                                            tmp_path: Path) -> None:
    worker = start(workers, env, tmp_path)
    client, _token = web
    data = document([passage("V-1"), passage("V-2", dateFinExamen="2020-01-01")])
    queued = client.post("/api/v1/flux/validate", data=data, headers={
        "Content-Type": "application/xml", "Prefer": "respond-async"})
    assert queued.status_code == 202, queued.get_data(as_text=True)
    url = queued.headers["Location"]
    wait_until(lambda: client.get(url).json["status"] == "TERMINE", 60, "the dry run", workers)
    verdict = client.get(url).json["verdict"]
    assert (verdict["passages_total"], verdict["passages_ko"]) == (2, 1)
    assert [p["id_technique"] for p in verdict["passages"]] == ["V-2"]
    with unit_of_work(committed) as db:
        [row] = db.scalars(sa.select(DryRun))
        assert row.worker and not row.worker.endswith(f":{os.getpid()}")  # not us
        assert row.storage_path is None
    assert "passport.validate_upload[" in worker.output()
    assert count(committed, Deposit) == 0


def test_dry_runs_have_a_queue_of_their_own(web: tuple[FlaskClient, str],
                                            committed: sessionmaker[Session],
                                            workers: list[Worker], env: dict[str, str],
                                            tmp_path: Path) -> None:
    """Anyone may queue a dry run: a deposit worker (``--queues deposits``) never takes one,
    so they cannot hold up the certifiers' files; a dry-run worker does."""
    deposits_only = start(workers, env, tmp_path, queues="deposits")
    client, _token = web
    queued = client.post("/api/v1/flux/validate", data=document([passage("Q-1")]), headers={
        "Content-Type": "application/xml", "Prefer": "respond-async"})
    assert queued.status_code == 202
    url = queued.headers["Location"]
    upload(web, document([passage("D-1")], id_flux="after-the-dry-run"))
    wait_until(lambda: all_final(committed, 1), 60, "the deposit", workers)
    assert client.get(url).json["status"] == "EN_ATTENTE"
    dry_runs = start(workers, env, tmp_path, queues="dry-runs")
    wait_until(lambda: client.get(url).json["status"] == "TERMINE", 60, "the dry run", workers)
    assert "passport.validate_upload[" in dry_runs.output()
    assert "passport.validate_upload[" not in deposits_only.output()
    assert "passport.process_deposit[" not in dry_runs.output()


def test_a_worker_refuses_unknown_queues(env: dict[str, str]) -> None:
    import subprocess

    from tests.workers import PASSPORT

    done = subprocess.run([PASSPORT, "worker", "--queues", "deposits,everything"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--queues" in done.stderr and "deposits, dry-runs" in done.stderr


def test_two_workers_never_process_a_deposit_twice(web: tuple[FlaskClient, str],
                                                   committed: sessionmaker[Session],
                                                   workers: list[Worker], env: dict[str, str],
                                                   tmp_path: Path, broker: str) -> None:
    start(workers, env, tmp_path)
    start(workers, env, tmp_path)
    # Each pool process starts its reader process before its first deposit…
    wait_until(lambda: all(len(w.readers()) == 1 for w in workers), 30, "reader processes",
               workers)
    readers = [w.readers() for w in workers]
    ids = [upload(web, big_flux(1500, f"pair-{n}", f"D{n}")) for n in range(6)]
    # Every job delivered twice more, as a broker redelivery or a sweep would.
    from passport.worker import make_celery

    producer = make_celery(dataclasses.replace(Settings.from_env(env), celery_broker_url=broker))
    for deposit_id in ids * 2:
        producer.send_task("passport.process_deposit", args=[deposit_id])
    wait_until(lambda: all_final(committed, 6), 120, "six deposits", workers)
    time.sleep(1)  # let the extra deliveries run (and do nothing)
    done = deposits(committed)
    assert [d.status for d in done] == [DepositStatus.TRAITE] * 6
    assert [d.attempts for d in done] == [1] * 6
    assert count(committed, Passage) == count(committed, PassageKey) == 6 * 1500
    assert count(committed, FluxReceipt) == 6
    assert len({d.worker for d in done}) >= 1
    # … and reads its files (1.9 MB each, read out of process) one after another.
    assert [w.readers() for w in workers] == readers


def test_kill_9_mid_file_then_another_worker_completes_it(
        web: tuple[FlaskClient, str], committed: sessionmaker[Session], workers: list[Worker],
        env: dict[str, str], tmp_path: Path) -> None:
    first = start(workers, env, tmp_path)
    upload(web, big_flux(25_000, "killed-1", "K"))
    wait_until(lambda: deposits(committed)[0].status is DepositStatus.EN_COURS, 60,
               "the job to start", workers)
    time.sleep(random.uniform(0.3, 1.0))  # somewhere in the middle of the file
    assert deposits(committed)[0].status is DepositStatus.EN_COURS, "finished too soon"
    first.kill()
    assert count(committed, Passage) == 0 and count(committed, PassageKey) == 0
    start(workers, env, tmp_path)  # its sweeper finds the abandoned deposit
    wait_until(lambda: all_final(committed, 1), 180, "recovery", workers)
    [deposit] = deposits(committed)
    assert deposit.status is DepositStatus.TRAITE and deposit.attempts == 2
    assert count(committed, Passage) == deposit.passages_ok == 25_000


def test_a_file_that_kills_its_worker_ends_rejected(web: tuple[FlaskClient, str],
                                                    committed: sessionmaker[Session],
                                                    workers: list[Worker], env: dict[str, str],
                                                    tmp_path: Path) -> None:
    start(workers, env, tmp_path, PASSPORT_JOB_SELF_TEST_KILL="poison-pill",
          PASSPORT_JOB_MAX_ATTEMPTS="2")
    poisoned = upload(web, document([passage("P-1")], id_flux="poison-pill"))
    wait_until(lambda: all_final(committed, 1), 120, "the poisoned deposit", workers)
    [deposit] = deposits(committed)
    assert deposit.id == poisoned and deposit.status is DepositStatus.REJETE
    assert deposit.error_code == "traitement_interrompu" and deposit.attempts == 2
    assert "2 fois" in (deposit.error_message or "")
    # The worker lost only those jobs: the next file goes through.
    upload(web, document([passage("H-1")], id_flux="healthy-1"))
    wait_until(lambda: all_final(committed, 2), 60, "the next deposit", workers)
    assert deposits(committed)[1].status is DepositStatus.TRAITE


def test_worker_without_a_broker_picks_up_what_was_left(
        committed: sessionmaker[Session], database_url: str, tmp_path: Path, app: Flask) -> None:
    """No broker: ``passport worker`` finds a deposit received but never processed (its web
    process died) and processes it; SIGTERM stops it cleanly."""
    import datetime as dt
    import signal
    import subprocess

    from passport.db import utcnow
    from tests.workers import PASSPORT

    flux = tmp_path / "left.xml"
    flux.write_bytes(document([passage("L-1")], id_flux="left-1"))
    with unit_of_work(committed) as db:
        db.add(Deposit(file_name="left.xml", sha256="3" * 64, size_bytes=flux.stat().st_size,
                       source="api", submitted_by=CERTIFIER, storage_path=str(flux),
                       received_at=utcnow() - dt.timedelta(minutes=5)))
    env = {**os.environ, "PASSPORT_ENV": "test", "PASSPORT_DATABASE_URL": database_url,
           "PASSPORT_INSTANCE_DIR": str(tmp_path / "instance"),
           "PASSPORT_RECOVER_EVERY_SECONDS": "1"}
    env.pop("PASSPORT_CELERY_BROKER_URL", None)
    process = subprocess.Popen([PASSPORT, "worker", "--concurrency", "1"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: all_final(committed, 1), 60, "the left deposit", [])
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output
    assert "worker without a broker" in output
    [deposit] = deposits(committed)
    assert deposit.status is DepositStatus.TRAITE and deposit.passages_ok == 1
