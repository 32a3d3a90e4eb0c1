"""When each scheduled job last ran, and how it went.

The scheduled commands (docs/operations.md: ``passport cleanup``, ``passport journal
purge``, ``passport journal verify``, ``passport analytics refresh``) run from cron or a
scheduler that nobody watches until something piles up.  Each records its last start,
success and failure here, in its own transaction (a failure rolls back the job's work,
not the record of it); ``GET /metrics`` turns them into figures to alert on: a job that
stopped running, a journal whose chains no longer verify.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from passport.db import Base, unit_of_work, utcnow

log = logging.getLogger(__name__)

#: The jobs that record their runs.
TASKS = ("cleanup", "journal_purge", "journal_verify", "analytics_refresh")


class MaintenanceRun(Base):
    """The last run of one scheduled job."""

    __tablename__ = "maintenance_runs"

    task: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    last_started_at: Mapped[dt.datetime]
    last_success_at: Mapped[dt.datetime | None]
    last_failure_at: Mapped[dt.datetime | None]
    #: What the last failure said (ours: counts and kinds, never personal data).
    last_failure: Mapped[str | None] = mapped_column(sa.String(500))
    #: Whether the last run that ended succeeded.
    last_ok: Mapped[bool | None]


@dataclass
class Run:
    """The run being recorded: a job may describe its failure before raising."""

    task: str
    failure: str | None = None


@contextmanager
def recorded(sessions: sessionmaker[Session], task: str) -> Iterator[Run]:
    """Record a run of ``task`` around the block: started, then succeeded or failed (an
    exception out of the block, or a failure the job set on the `Run`)."""
    if task not in TASKS:
        raise ValueError(f"unknown scheduled task {task!r}")
    run = Run(task)
    _save(sessions, task, started=utcnow())
    try:
        yield run
    except BaseException as exc:
        _save(sessions, task, ok=False, failure=run.failure or _describe(exc))
        raise
    if run.failure is not None:
        _save(sessions, task, ok=False, failure=run.failure)
    else:
        _save(sessions, task, ok=True)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:500]


def _save(sessions: sessionmaker[Session], task: str, *, started: dt.datetime | None = None,
          ok: bool | None = None, failure: str | None = None) -> None:
    try:
        with unit_of_work(sessions, immediate=True) as db:
            row = db.get(MaintenanceRun, task, with_for_update=True)
            if row is None:
                row = MaintenanceRun(task=task, last_started_at=started or utcnow())
                db.add(row)
            if started is not None:
                row.last_started_at = started
            if ok is not None:
                row.last_ok = ok
                if ok:
                    row.last_success_at = utcnow()
                else:
                    row.last_failure_at = utcnow()
                    row.last_failure = failure
    except sa.exc.SQLAlchemyError:
        # The job's own work matters more than its record; the metrics will show it stale.
        log.warning("could not record the run of %s", task, exc_info=True)


def last_runs(db: Session) -> list[MaintenanceRun]:
    """Every job's last run, by task name."""
    return list(db.scalars(sa.select(MaintenanceRun).order_by(MaintenanceRun.task)))
