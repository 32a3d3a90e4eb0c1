"""Dry runs: the verdict on a file, nothing of it stored in the passports.

Answered in the request (``POST /api/v1/flux/validate``), or queued when the client asks
for it (``Prefer: respond-async``): the upload then waits in storage for a job (a Celery
queue of its own, or a thread of its own in the in-process pool), which writes the verdict
on its `DryRun` row and removes the file; the client polls its row through a token of which
only the SHA-256 is kept, until the verdict expires (``PASSPORT_DRY_RUN_KEEP_HOURS``).  A
job killed mid-file leaves its row ``EN_COURS``; the sweepers queue it again once its claim
is dead (`recover`: its process gone, or, claimed on another host, its lease — renewed
while the check runs — run out), and give up after ``PASSPORT_JOB_MAX_ATTEMPTS``
(``ECHEC``).

Imported by workers: no Flask here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ingestion.pipeline import Source
from ingestion.validate import ValidationResult, validate
from passport.config import Settings
from passport.db import unit_of_work, utcnow
from passport.deposits.models import DryRun, DryRunStatus
from passport.deposits.service import Heartbeat, is_abandoned, stake

if TYPE_CHECKING:
    from passport.cleanup import Leftovers
    from passport.jobs import JobContext

log = logging.getLogger(__name__)

#: Flagged passages a verdict lists (the others are counted).
LISTED = 1000

#: What only filing checks.
NOT_CHECKED = ["nirisation", "doublons", "registre des certificateurs", "idFlux déjà reçu"]

#: A dry run received this long ago and still waiting was never queued (or its message lost).
RECEIVED_GRACE = dt.timedelta(seconds=30)

PENDING = (DryRunStatus.EN_ATTENTE, DryRunStatus.EN_COURS)


def check(settings: Settings, name: str, path: Path) -> dict[str, Any]:
    """Gate, schema and rules on a file: the verdict (`verdict`)."""
    options = settings.ingest_options()
    return verdict(name, validate(
        name, Source(path), max_bytes=options.max_bytes, schema_version=options.schema_version,
        subprocess_min_bytes=options.subprocess_min_bytes, listed=LISTED))


def verdict(file_name: str, result: ValidationResult) -> dict[str, Any]:
    """The verdict's JSON shape (`passport.deposits.schemas.DryRunSchema`)."""
    total, ko = result.passages_total, result.passages_ko
    return {
        "file_name": file_name, "schema_valid": result.schema_valid,
        "errors": [e.as_dict() for e in result.errors],
        "passages_total": total, "passages_ok": total - ko, "passages_ko": ko,
        "passages": result.passages, "truncated": result.flagged_left_out > 0,
        "not_checked": NOT_CHECKED,
    }


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def pending(session: Session, client_key: str | None = None) -> int:
    """Dry runs waiting or running: all clients together, or one client's."""
    query = sa.select(sa.func.count()).select_from(DryRun).where(DryRun.status.in_(PENDING))
    if client_key is not None:
        query = query.where(DryRun.client_key == client_key)
    return session.scalar(query) or 0


def receive(session: Session, settings: Settings, *, file_name: str, size: int,
            path: Path, client_key: str | None = None) -> tuple[DryRun, str]:
    """Record a stored upload to check, queued by the client ``client_key`` (a keyed hash
    of its address); the row and its token (shown once)."""
    token = secrets.token_urlsafe(24)
    now = utcnow()
    dry_run = DryRun(token_sha256=_digest(token), file_name=file_name, size_bytes=size,
                     storage_path=str(path), status=DryRunStatus.EN_ATTENTE, received_at=now,
                     expires_at=now + dt.timedelta(hours=settings.dry_run_keep_hours),
                     client_key=client_key)
    session.add(dry_run)
    session.flush()
    return dry_run, token


def find(session: Session, token: str) -> DryRun | None:
    """The dry run behind a token, unless it expired."""
    return session.scalar(sa.select(DryRun).where(
        DryRun.token_sha256 == _digest(token), DryRun.expires_at > utcnow()))


def run(ctx: JobContext, dry_run_id: int) -> DryRunStatus | None:
    """The job: check the file, write the verdict, remove the file; its final status (None:
    someone else is on it, or it is done, or gone)."""
    settings = ctx.settings
    with unit_of_work(ctx.sessions, immediate=True) as session:
        dry_run = session.get(DryRun, dry_run_id, with_for_update=True)
        now = utcnow()
        if dry_run is None or dry_run.status.is_final or (
                dry_run.status == DryRunStatus.EN_COURS and not is_abandoned(dry_run, now)):
            return None
        stored = dry_run.storage_path
        exhausted = dry_run.attempts >= settings.job_max_attempts
        if exhausted or stored is None or not Path(stored).is_file():
            log.error("dry run %s: no verdict (%s)", dry_run_id,
                      "interrupted too often" if exhausted else "its file is missing")
            _finish(dry_run, DryRunStatus.ECHEC, None)
            if stored is not None:
                Path(stored).unlink(missing_ok=True)
            return DryRunStatus.ECHEC
        dry_run.status = DryRunStatus.EN_COURS
        lease = dt.timedelta(seconds=settings.job_lease_seconds)
        stake(dry_run, now, lease)
        name = dry_run.file_name
    try:
        with Heartbeat(ctx.sessions, DryRun, dry_run_id, lease):
            found = check(settings, name, Path(stored))
    except Exception:
        log.exception("dry run %s: the check failed; released for another attempt", dry_run_id)
        with unit_of_work(ctx.sessions, immediate=True) as session:
            session.execute(sa.update(DryRun).where(
                DryRun.id == dry_run_id, DryRun.status == DryRunStatus.EN_COURS).values(
                status=DryRunStatus.EN_ATTENTE, worker=None, lease_expires_at=None))
        raise
    with unit_of_work(ctx.sessions, immediate=True) as session:
        dry_run = session.get(DryRun, dry_run_id, with_for_update=True)
        if dry_run is None:  # expired and cleaned up meanwhile
            return None
        _finish(dry_run, DryRunStatus.TERMINE, found)
    Path(stored).unlink(missing_ok=True)
    return DryRunStatus.TERMINE


def _finish(dry_run: DryRun, status: DryRunStatus, found: dict[str, Any] | None) -> None:
    dry_run.status = status
    dry_run.verdict = found
    dry_run.finished_at = utcnow()
    dry_run.lease_expires_at = None
    dry_run.storage_path = None


def recover(sessions: sessionmaker[Session]) -> list[int]:
    """Dry runs to queue again: waiting and never started, or abandoned mid-file."""
    now = utcnow()
    with unit_of_work(sessions) as session:
        waiting = list(session.scalars(sa.select(DryRun.id).where(
            DryRun.status == DryRunStatus.EN_ATTENTE,
            DryRun.received_at < now - RECEIVED_GRACE).order_by(DryRun.id)))
        running = session.scalars(sa.select(DryRun).where(
            DryRun.status == DryRunStatus.EN_COURS).order_by(DryRun.id)).all()
        return waiting + [r.id for r in running if is_abandoned(r, now)]


def leftovers(now: dt.datetime) -> list[Leftovers]:
    """Expired dry runs (`passport cleanup`); the upload of one no job checked goes with
    the storage's leftovers (`passport.deposits.storage.leftover_dry_runs`)."""
    from passport.cleanup import Leftovers

    return [Leftovers("expired dry runs", DryRun.id, DryRun.expires_at < now)]
