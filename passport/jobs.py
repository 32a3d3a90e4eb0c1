"""Deposit jobs (and queued dry runs). After the queue, one code path: `run_deposit`
(`passport.deposits.dryruns.run`), called by a Celery worker (``PASSPORT_CELERY_BROKER_URL``
set) or by a bounded in-process pool (the embedded default, and ``passport worker`` without
a broker).

Jobs are idempotent: the deposit's claim (status ``EN_COURS``, ``host:pid``, a lease the
worker renews) makes a second delivery of the same job a no-op while the first is alive,
and lets anyone take it over once the first is dead; the load is one transaction, so a
killed worker leaves nothing of the file. `recover` finds what was left behind — received
but never queued (the web process died), or claimed by a dead worker — and workers queue it
again every ``PASSPORT_RECOVER_EVERY_SECONDS``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ingestion.errors import FileProblem
from ingestion.pipeline import Source
from passport.config import Settings
from passport.db import unit_of_work, utcnow
from passport.deposits import service
from passport.deposits.models import Deposit, DepositStatus
from passport.nir import NirVault

log = logging.getLogger(__name__)

#: A deposit received this long ago and still ``RECU`` was never queued (or lost).
RECEIVED_GRACE = dt.timedelta(seconds=30)


@dataclass
class JobContext:
    """What a job needs: settings, database sessions, the NIR vault."""

    settings: Settings
    sessions: sessionmaker[Session]
    vault: NirVault


def run_deposit(ctx: JobContext, deposit_id: int) -> str | None:
    """Process one received deposit; return its final status (None: someone else has it,
    or it is already done)."""
    with unit_of_work(ctx.sessions) as db:
        deposit = db.get(Deposit, deposit_id)
        if deposit is None or deposit.status.is_final:
            return None
        if deposit.storage_path is None:  # filed by the command line, which processes it
            return None
        path = Path(deposit.storage_path)
    if not path.is_file():
        log.error("deposit %s: stored file %s is missing", deposit_id, path)
        return service.reject(ctx.sessions, deposit_id, [FileProblem(
            "fichier_indisponible",
            "Le fichier reçu n'est plus disponible pour le traitement ; déposez-le à "
            "nouveau.")]).status.value
    settings = ctx.settings
    try:
        done = service.process(
            ctx.sessions, deposit_id, Source(path), vault=ctx.vault,
            options=settings.ingest_options(), progress=_self_test_kill(path),
            lease=dt.timedelta(seconds=settings.job_lease_seconds),
            max_attempts=settings.job_max_attempts)
    except Exception:
        log.exception("deposit %s: processing failed; released for another attempt",
                      deposit_id)
        service.release(ctx.sessions, deposit_id)
        raise
    return done.status.value if done is not None else None


def _self_test_kill(path: Path) -> Callable[[int], None] | None:
    """Test hook (PASSPORT_ENV=test only): a progress callback that kills this process, as
    an out-of-memory kill would, mid-file on the file holding the marker."""
    victim = os.environ.get("PASSPORT_JOB_SELF_TEST_KILL")
    if not victim or os.environ.get("PASSPORT_ENV") != "test":
        return None
    with path.open("rb") as fh:
        if victim.encode() not in fh.read(4096):
            return None
    return lambda _done: os.kill(os.getpid(), signal.SIGKILL)


def recover(sessions: sessionmaker[Session]) -> list[int]:
    """Deposits to queue again: received and never started, or abandoned mid-file (files
    received through the API; the command line resumes its own)."""
    now = utcnow()
    with unit_of_work(sessions) as db:
        waiting = list(db.scalars(sa.select(Deposit.id).where(
            Deposit.status == DepositStatus.RECU, Deposit.storage_path.is_not(None),
            Deposit.received_at < now - RECEIVED_GRACE).order_by(Deposit.id)))
        running = db.scalars(sa.select(Deposit).where(
            Deposit.status == DepositStatus.EN_COURS, Deposit.storage_path.is_not(None))
            .order_by(Deposit.id)).all()
        abandoned = [d.id for d in running if service.is_abandoned(d, now)]
    return waiting + abandoned


class Queue(Protocol):
    def submit(self, deposit_id: int) -> None: ...

    def submit_dry_run(self, dry_run_id: int) -> None: ...


class Sweeper:
    """Calls `recover` (and the dry runs' own) every ``every`` seconds in a daemon thread
    and queues what it finds."""

    def __init__(self, sessions: sessionmaker[Session], queue: Queue, every: float) -> None:
        self.sessions, self.queue, self.every = sessions, queue, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deposit-sweeper", daemon=True)

    def start(self) -> Sweeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def sweep(self) -> list[int]:
        """Queue again what was left behind; the deposits' ids (then the dry runs')."""
        from passport.deposits import dryruns

        found = recover(self.sessions)
        for deposit_id in found:
            log.info("deposit %s left behind: queued again", deposit_id)
            self.queue.submit(deposit_id)
        left = dryruns.recover(self.sessions)
        for dry_run_id in left:
            log.info("dry run %s left behind: queued again", dry_run_id)
            self.queue.submit_dry_run(dry_run_id)
        return found + left

    def _run(self) -> None:
        while True:
            try:
                self.sweep()
            except Exception:  # a database hiccup must not kill the sweeper
                log.exception("deposit sweep failed")
            if self._stop.wait(self.every):
                return


class InProcessQueue:
    """A bounded pool of threads in this process (each file is still read by a child
    process, so the pool's threads mostly wait on it and on the database), and one thread
    of its own for queued dry runs, which anyone may send: they never hold up a deposit."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.pool = ThreadPoolExecutor(max_workers=ctx.settings.worker_threads,
                                       thread_name_prefix="deposit-job")
        self.dry_runs = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dry-run-job")
        self.sweeper = Sweeper(ctx.sessions, self, ctx.settings.recover_every_seconds)
        self._started = False
        self._lock = threading.Lock()

    def submit(self, deposit_id: int) -> None:
        self._run(self.pool, run_deposit, deposit_id)

    def submit_dry_run(self, dry_run_id: int) -> None:
        from passport.deposits import dryruns

        self._run(self.dry_runs, dryruns.run, dry_run_id)

    def _run(self, pool: ThreadPoolExecutor, job: Callable[[JobContext, int], Any],
             key: int) -> None:
        with self._lock:
            if not self._started:
                self._started = True
                self.sweeper.start()
        future = pool.submit(job, self.ctx, key)
        future.add_done_callback(_log_failure)

    def shutdown(self) -> None:
        self.sweeper.stop()
        self.pool.shutdown(wait=True)
        self.dry_runs.shutdown(wait=True)


def _log_failure(future: Future[Any]) -> None:
    if future.exception() is not None:
        log.error("job failed: %s", type(future.exception()).__name__)


class CeleryQueue:
    """Jobs for Celery workers (``passport worker``) through the broker."""

    def __init__(self, settings: Settings, celery: Any = None) -> None:
        from passport.worker import make_celery

        self.celery = celery if celery is not None else make_celery(settings)

    def submit(self, deposit_id: int) -> None:
        self._send("passport.process_deposit", deposit_id)

    def submit_dry_run(self, dry_run_id: int) -> None:
        self._send("passport.validate_upload", dry_run_id)

    def _send(self, task: str, key: int) -> None:
        """Publish a job. The broker down is not the client's failure: what it filed is
        recorded, and the workers' sweep queues it once the broker is back."""
        from kombu.exceptions import OperationalError

        try:
            self.celery.send_task(task, args=[key])
        except OperationalError as exc:
            log.error("%s %s recorded but not queued, the broker failed (%s): the workers' "
                      "sweep will queue it", task, key, type(exc).__name__)


def queue_for(ctx: JobContext) -> Queue:
    """Celery when a broker is configured, else the in-process pool."""
    if ctx.settings.celery_broker_url:
        return CeleryQueue(ctx.settings)
    return InProcessQueue(ctx)
