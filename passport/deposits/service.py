"""Deposit life cycle: receive a file, claim it, process it, record the outcome.

Each step is its own transaction, so the bookkeeping survives a failed load: claiming
commits ``EN_COURS``; the load commits passages, receipt, report and final status together;
a rejection rolls the load back, then commits ``REJETE`` with its report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import socket
import threading
from array import array
from collections.abc import MutableSequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ingestion.errors import FileProblem, FileRejected
from ingestion.loader import (
    IngestOptions,
    Progress,
    StoredParts,
    check_authority,
    discard_report_parts,
    ingest,
)
from ingestion.parser import FluxHeader
from ingestion.pipeline import Source
from ingestion.report import Report
from ingestion.validate import positioned
from passport.db import analyze_grown, unit_of_work, utcnow
from passport.deposits import storage
from passport.deposits.models import (
    Deposit,
    DepositReport,
    DepositStat,
    DepositStatus,
    DryRun,
    DryRunStatus,
)
from passport.holders.models import Holder
from passport.holders.service import discard_unused
from passport.nir import NirVault
from passport.records.models import Passage, PassageKey

log = logging.getLogger(__name__)

#: How long a claim protects a deposit from being picked up again by someone else.
DEFAULT_LEASE = dt.timedelta(minutes=30)

#: How long a deposit's follow-up waits for a table to refresh its statistics.
STATISTICS_LOCK_WAIT = dt.timedelta(seconds=5)


def file_digest(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def worker_id() -> str:
    """``host:pid`` of this process, recorded on the deposits it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_abandoned(claimed: Deposit | DryRun, now: dt.datetime) -> bool:
    """True when nobody is processing a deposit (or a queued dry run) marked EN_COURS any
    more. On this host the claiming process is checked directly (alive: still processing,
    however long; gone: abandoned); a claim from another host holds until its lease runs
    out (the claimant renews it while it works)."""
    host, _, pid = (claimed.worker or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return claimed.lease_expires_at is None or claimed.lease_expires_at < now


def stake(claimed: Deposit | DryRun, now: dt.datetime, lease: dt.timedelta) -> None:
    """Record this process's claim (the caller sets the status ``EN_COURS``): who, since
    when, until when unless renewed, one more attempt."""
    claimed.worker = worker_id()
    claimed.started_at = now
    claimed.attempts += 1
    claimed.lease_expires_at = now + lease


def receive(
    session: Session,
    *,
    file_name: str,
    sha256: str,
    size: int,
    source: str = "cli",
    submitted_by: str | None = None,
    storage_path: str | None = None,
) -> Deposit:
    """Record a received file (status ``RECU``); reuse an abandoned claim on the same bytes.

    A run killed mid-file leaves its deposit ``EN_COURS`` with a lease; once the lease has
    expired, receiving the same bytes again resumes that deposit instead of adding another.
    """
    now = utcnow()
    candidates = session.scalars(
        sa.select(Deposit)
        .where(
            Deposit.sha256 == sha256,
            Deposit.submitted_by.is_(None) if submitted_by is None
            else Deposit.submitted_by == submitted_by,
            Deposit.status.in_([DepositStatus.RECU, DepositStatus.EN_COURS]),
        )
        .order_by(Deposit.id.desc())
    )
    stale = next(
        (d for d in candidates if d.status == DepositStatus.RECU or is_abandoned(d, now)), None
    )
    if stale is not None:
        stale.status = DepositStatus.RECU
        stale.file_name = file_name
        if storage_path:
            stale.storage_path = storage_path
        return stale
    deposit = Deposit(
        file_name=file_name,
        sha256=sha256,
        size_bytes=size,
        source=source,
        submitted_by=submitted_by,
        storage_path=storage_path,
        status=DepositStatus.RECU,
        received_at=now,
    )
    session.add(deposit)
    session.flush()
    return deposit


def claim(session: Session, deposit_id: int, lease: dt.timedelta = DEFAULT_LEASE) -> Deposit | None:
    """Mark a deposit ``EN_COURS`` for this worker, unless someone else holds a live claim."""
    now = utcnow()
    deposit = session.get(Deposit, deposit_id, with_for_update=True)
    if deposit is None or deposit.status.is_final:
        return None
    if deposit.status == DepositStatus.EN_COURS and not is_abandoned(deposit, now):
        return None
    deposit.status = DepositStatus.EN_COURS
    stake(deposit, now, lease)
    return deposit


class Heartbeat:
    """Renews a claim's lease while its deposit (or queued dry run) is processed: a worker
    on another host then knows it is alive. Best effort, and not on SQLite: a load's own
    write transaction holds the lock there, and on the one host SQLite serves, the process
    check of `is_abandoned` makes the lease moot."""

    def __init__(self, factory: sessionmaker[Session], table: type[Deposit] | type[DryRun],
                 row_id: int, lease: dt.timedelta) -> None:
        self.factory, self.table, self.row_id, self.lease = factory, table, row_id, lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{row_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        if self.factory.kw["bind"].dialect.name != "sqlite":
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        me, table = worker_id(), self.table
        running = DepositStatus.EN_COURS if table is Deposit else DryRunStatus.EN_COURS
        while not self._stop.wait(self.lease.total_seconds() / 3):
            try:
                with unit_of_work(self.factory, immediate=True) as session:
                    session.execute(sa.update(table).where(
                        table.id == self.row_id, table.worker == me, table.status == running,
                    ).values(lease_expires_at=utcnow() + self.lease))
            except sa.exc.SQLAlchemyError as exc:  # the next beat will try again
                log.warning("%s %s: lease renewal failed (%s)", table.__tablename__,
                            self.row_id, type(exc).__name__)


def _finish(deposit: Deposit, status: DepositStatus, report: Report, session: Session) -> None:
    deposit.status = status
    deposit.finished_at = utcnow()
    deposit.lease_expires_at = None
    existing = session.get(DepositReport, deposit.id)
    if existing is None:
        session.add(DepositReport(deposit_id=deposit.id, summary=report.summary()))
    else:
        existing.summary = report.summary()


def process(
    factory: sessionmaker[Session],
    deposit_id: int,
    source: Source,
    *,
    vault: NirVault,
    options: IngestOptions,
    progress: Progress | None = None,
    lease: dt.timedelta = DEFAULT_LEASE,
    max_attempts: int | None = None,
    then_follow_up: bool = True,
) -> Deposit | None:
    """Process a received deposit; return it in its final state (None if not claimable).

    After ``max_attempts`` claims that never finished (a worker killed by the file, again
    and again), the deposit is rejected instead of tried once more.  Once the deposit is
    committed, its `follow_up` runs unless ``then_follow_up`` is false (the caller then
    runs it: the ingestion benchmark times the two apart).
    """
    with unit_of_work(factory, immediate=True) as session:
        current = session.get(Deposit, deposit_id)
        exhausted = (max_attempts is not None and current is not None
                     and not current.status.is_final and current.attempts >= max_attempts
                     and (current.status != DepositStatus.EN_COURS
                          or is_abandoned(current, utcnow())))
        claimed = None if exhausted else claim(session, deposit_id, lease)
    if exhausted:
        return reject(factory, deposit_id, [FileProblem(
            "traitement_interrompu",
            f"Le traitement de ce fichier s'est interrompu {max_attempts} fois sans aboutir "
            "(arrêt brutal du processus qui le lisait) : il est rejeté. Vérifiez le fichier "
            "ou contactez l'assistance avec le numéro de traitement.")])
    if claimed is None:
        return None
    # Ids of the holders the load creates as it goes (8 bytes each: a list of ints took
    # 36 per holder, 3 MB of a 100,000-passage load's memory).
    created: MutableSequence[int] = array("q")
    try:
        with Heartbeat(factory, Deposit, deposit_id, lease), unit_of_work(factory, immediate=True) as session:
            deposit = session.get(Deposit, deposit_id)
            assert deposit is not None
            result = ingest(session, deposit, source, vault, options, progress, created)
            header, report = result.header, result.report
            _record_header(deposit, header)
            deposit.passages_total = report.counts["passages"]
            deposit.passages_ok = report.counts["ok"]
            deposit.passages_ko = report.counts["ko"]
            deposit.warnings_count = report.counts["warnings"]
            deposit.error_code = None
            deposit.error_message = None
            month = deposit.received_at.strftime("%Y-%m")
            session.add_all(DepositStat(
                deposit_id=deposit.id, emitter_bcr=header.emitter_bcr,
                certifier_bcr=header.certifier_bcr, month=month, **row)
                for row in result.stats)
            _finish(deposit, result.status, report, session)
        log.info(
            "deposit %s processed: %s (%s OK, %s KO)",
            deposit_id, result.status.value, deposit.passages_ok, deposit.passages_ko,
        )
        if then_follow_up:
            follow_up(factory, deposit, new_holders=len(created))
        return deposit
    except FileRejected as exc:
        discard_unused(factory, created)
        problems = positioned(
            exc, source, max_bytes=options.max_bytes, schema_version=options.schema_version,
        )
        return reject(factory, deposit_id, problems, exc.header)
    except BaseException:
        discard_unused(factory, created)
        raise


def follow_up(factory: sessionmaker[Session], deposit: Deposit, new_holders: int = 0) -> None:
    """What a processed deposit needs once committed: planner statistics for the tables it
    grew by more than a tenth (`analyze_grown`: the analytics' next query, planned on a
    passages table PostgreSQL still believed empty, scanned all of it for each 5,000
    training files), then the analytics (`after_deposit`).  ``new_holders``: how many
    holders the load created.  Both are upkeep: a failure is logged, never raised (the
    deposit stands), and the statistics wait at most `STATISTICS_LOCK_WAIT` for a table
    another maintenance task holds (a manual VACUUM, an index build)."""
    from passport.analytics.refresh import after_deposit

    try:
        with unit_of_work(factory) as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(sa.text("SELECT set_config('lock_timeout', :wait, true)"),
                                {"wait": f"{STATISTICS_LOCK_WAIT.total_seconds() * 1000:.0f}"})
            for table in (Passage.__tablename__, PassageKey.__tablename__):
                analyze_grown(session, table, deposit.passages_ok or 0)
            analyze_grown(session, Holder.__tablename__, new_holders)
    except sa.exc.SQLAlchemyError:
        log.exception("statistics refresh after deposit %s failed (autovacuum will do it)",
                      deposit.id)
    after_deposit(factory, deposit.id)


def release(factory: sessionmaker[Session], deposit_id: int) -> None:
    """Give back this worker's claim after an unexpected failure: the deposit waits for
    another attempt (bounded by ``max_attempts``)."""
    with unit_of_work(factory, immediate=True) as session:
        session.execute(sa.update(Deposit).where(
            Deposit.id == deposit_id, Deposit.status == DepositStatus.EN_COURS,
            Deposit.worker == worker_id(),
        ).values(status=DepositStatus.RECU, lease_expires_at=None))


def _record_header(deposit: Deposit, header: FluxHeader) -> None:
    deposit.emitter_bcr = header.emitter_bcr
    deposit.certifier_bcr = header.certifier_bcr
    deposit.contract_id = header.contract_id
    deposit.id_flux = header.id_flux
    deposit.horodatage = header.horodatage
    deposit.action = header.action or "CREATION"


def _attributable(session: Session, header: FluxHeader, submitted_by: str | None) -> bool:
    """Whether a rejected file's header may be recorded on its deposit: read in full, its
    values within the columns' sizes (the file may break the schema right there), and its
    emitter entitled to file for that certifier — a file from an emitter the certifier did
    not mandate is not the certifier's to see, though it names it."""
    if not header.complete:
        return False
    columns = Deposit.__table__.c
    values = {"emitter_bcr": header.emitter_bcr, "certifier_bcr": header.certifier_bcr,
              "contract_id": header.contract_id, "id_flux": header.id_flux,
              "horodatage": header.horodatage, "action": header.action}
    if not all(_fits(columns[name], value) for name, value in values.items()):
        return False
    try:
        check_authority(session, header, submitted_by)
    except FileRejected:
        return False
    return True


def _fits(column: sa.ColumnElement[Any], value: str | None) -> bool:
    size = column.type.length if isinstance(column.type, sa.String) else None
    return value is None or size is None or len(value) <= size


def reject(
    factory: sessionmaker[Session], deposit_id: int, problems: list[FileProblem],
    header: FluxHeader | None = None,
) -> Deposit:
    """Record a whole-file rejection with its report (nothing of the file is stored).
    ``header``: the file's as read, if it was; recorded when `_attributable` (the deposit
    is then its certifier's to see and count, as a processed one)."""
    with unit_of_work(factory, immediate=True) as session:
        deposit = session.get(Deposit, deposit_id)
        assert deposit is not None
        if header is not None and _attributable(session, header, deposit.submitted_by):
            _record_header(deposit, header)
        discard_report_parts(session, deposit_id)
        deposit.error_code = problems[0].code
        deposit.error_message = problems[0].message
        deposit.passages_total = deposit.passages_ok = deposit.passages_ko = 0
        report = Report(
            file_name=deposit.file_name,
            id_traitement=deposit.id,
            status=DepositStatus.REJETE.value,
            errors=problems,
            counts={"passages": 0, "ok": 0, "ko": 0, "warnings": 0},
        )
        _finish(deposit, DepositStatus.REJETE, report, session)
    log.info("deposit %s rejected: %s", deposit_id, problems[0].code)
    return deposit


def load_report(session: Session, deposit_id: int) -> Report | None:
    """The stored report of a deposit, if it has one.  Its outcomes are read from the
    database part after part as it renders, on a connection of their own."""
    stored = session.get(DepositReport, deposit_id)
    if stored is None:
        return None
    bind = session.get_bind()
    assert isinstance(bind, sa.Engine)
    return Report.stored(stored.summary, StoredParts(bind, deposit_id))


def forget_files(factory: sessionmaker[Session], before: dt.datetime, *,
                 dry_run: bool = False, batch: int = 500) -> int:
    """Delete the stored copies of the files whose processing ended before ``before`` (the
    deposits and their reports stay); how many files went (or would go). A copy another
    deposit still needs (the same bytes received again, from another uploader or after a
    rejection) stays until that one is done with it too."""
    final = [s for s in DepositStatus if s.is_final]
    done = sa.and_(Deposit.status.in_(final), Deposit.finished_at < before,
                   Deposit.storage_path.is_not(None))
    removed = 0
    after = 0
    seen: set[str] = set()  # dry run: a copy shared by deposits of different batches
    while True:
        with unit_of_work(factory) as session:
            rows = session.execute(
                sa.select(Deposit.id, Deposit.storage_path).where(done, Deposit.id > after)
                .order_by(Deposit.id).limit(batch)).all()
            if not rows:
                return removed
            after = rows[-1].id
            ids = [row.id for row in rows]
            paths = {row.storage_path for row in rows}
            # The batch's own deposits are done, so `not done` leaves them out.
            needed = set(session.scalars(sa.select(Deposit.storage_path).where(
                Deposit.storage_path.in_(paths), sa.not_(done))))
            if dry_run:
                removed += sum(1 for path in paths - needed - seen if Path(path).exists())
                seen |= paths
                continue
            session.execute(sa.update(Deposit).where(Deposit.id.in_(ids))
                            .values(storage_path=None))
            removed += sum(storage.remove_stored(Path(path), before) for path in paths - needed)
