"""What has stopped serving, removed (``passport cleanup``, daily).

Logins, codes and tokens are kept while they can still be used or give a replay away, then
`GRACE` longer (a recent trail for support); received flux files are kept
``PASSPORT_FLUX_FILE_RETENTION_DAYS`` after their processing ended (their deposits and
reports stay). The domains say what is left over (`Leftovers`); this module counts or
deletes it, in chunks each committed on its own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import QueryableAttribute, Session, sessionmaker

from passport.config import Settings
from passport.db import membership, unit_of_work, utcnow

#: How long a login request, code, token or consent code is kept once it stopped serving.
GRACE = dt.timedelta(days=7)

#: A temporary file untouched this long belongs to no running upload or validation.
TEMPORARIES_FOR = dt.timedelta(days=1)


@dataclasses.dataclass(frozen=True)
class Leftovers:
    """Rows of one kind that stopped serving: ``key`` is their primary key column."""

    label: str
    key: QueryableAttribute[Any]
    where: sa.ColumnElement[bool]

    @property
    def table(self) -> sa.Table:
        return cast("sa.Table", self.key.class_.__table__)


@dataclasses.dataclass(frozen=True)
class Swept:
    label: str
    count: int


def kinds(now: dt.datetime) -> list[Leftovers]:
    """Every kind of leftover row; each condition stands alone (a dry run counts each
    before any other went)."""
    from passport.auth.service import leftovers as auth_leftovers
    from passport.consents.service import leftovers as consent_leftovers
    from passport.deposits.dryruns import leftovers as dry_run_leftovers

    return [*auth_leftovers(now - GRACE), *consent_leftovers(now - GRACE),
            *dry_run_leftovers(now)]


def run(sessions: sessionmaker[Session], settings: Settings, *, dry_run: bool = False,
        now: dt.datetime | None = None) -> list[Swept]:
    """Count (``dry_run``) or remove every kind of leftover; what each had."""
    from passport.deposits import storage
    from passport.deposits.service import forget_files

    now = now or utcnow()
    done = [Swept(kind.label, (count if dry_run else delete)(sessions, kind))
            for kind in kinds(now)]
    if settings.flux_file_retention_days:
        before = now - dt.timedelta(days=settings.flux_file_retention_days)
        done.append(Swept(f"received files processed before {before:%Y-%m-%d}",
                          forget_files(sessions, before, dry_run=dry_run)))
    done.append(Swept("rows written under a merged passport, moved to its current one",
                      _sweep_merged(sessions, dry_run)))
    stale = [*storage.leftover_temporaries(settings.storage_dir, now - TEMPORARIES_FOR),
             *storage.leftover_dry_runs(settings.storage_dir,
                                        now - dt.timedelta(hours=settings.dry_run_keep_hours))]
    if not dry_run:
        for path in stale:
            storage.remove_temporary(path)
    done.append(Swept("temporary files of interrupted uploads and validations", len(stale)))
    return done


def count(sessions: sessionmaker[Session], kind: Leftovers) -> int:
    with unit_of_work(sessions) as db:
        return db.scalar(sa.select(sa.func.count()).select_from(kind.table)
                         .where(kind.where)) or 0


def delete(sessions: sessionmaker[Session], kind: Leftovers) -> int:
    """Remove one kind: its keys are read once, then deleted a chunk per transaction, each
    row checked again (what stopped serving does not serve again, but a check costs a key
    lookup; choosing each batch anew with ``LIMIT`` scanned the whole table per batch)."""
    with unit_of_work(sessions) as db:
        keys = db.scalars(sa.select(kind.key).where(kind.where)).all()
        chunks = list(membership(db, kind.key.expression, keys))
    deleted = 0
    for chunk in chunks:
        with unit_of_work(sessions) as db:
            result = db.execute(sa.delete(kind.table).where(chunk, kind.where))
            deleted += result.rowcount  # type: ignore[attr-defined]
    return deleted


def _sweep_merged(sessions: sessionmaker[Session], dry_run: bool) -> int:
    from passport.holders.merge import sweep

    with unit_of_work(sessions, immediate=True) as db:
        return sweep(db, dry_run=dry_run)
