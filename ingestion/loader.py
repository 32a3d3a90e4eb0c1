"""Load one flux file into the holder-centric store, all or nothing.

`ingest` streams the file through the gate, the parser and the rules, resolves holders in
batches, writes the accepted passages in bulk and builds the report.  It only flushes: the
caller owns the transaction and commits once, after `ingest` returned, so a crash at any
point leaves nothing of the file.  A file-level problem raises `FileRejected`; the caller
rolls back and records the rejection (see `passport.deposits.service`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, MutableSequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ingestion import DEFAULT_MAX_BYTES, DEFAULT_SUBPROCESS_MIN_BYTES
from ingestion.bulk import BulkWriter
from ingestion.errors import FileProblem, FileRejected
from ingestion.nirisation import Found, Nirisation
from ingestion.parser import (
    CertificationContext,
    FluxHeader,
    NeedsPrescan,
    Prescan,
    open_gated,
    prescan,
)
from ingestion.pipeline import Batch, Item, Source, heap_frozen, read_checked
from ingestion.referential import ReferentialCheck
from ingestion.report import Report, ReportBuilder
from ingestion.rules import VALUE_COLUMNS, Problem
from ingestion.stats import StatsBuilder
from passport.certifiers.models import Certifier, CertifierContract, Mandate
from passport.db import (
    PG_CHUNK,
    chunked,
    insert_missing,
    membership,
    pg_array,
    table_of,
    utcnow,
)
from passport.deposits.models import Deposit, DepositReportPart, DepositStatus, FluxReceipt
from passport.holders.service import holder_ids
from passport.nir import NirVault
from passport.records.models import Passage, PassageKey
from passport.referentials.models import Certification, Sheet

log = logging.getLogger(__name__)

Progress = Callable[[int], None]

#: Passage columns written by the bulk insert: ours, the rules' `VALUE_COLUMNS`, the time.
PASSAGE_COLUMNS = (
    "holder_id", "deposit_id", "certification_id", "emitter_bcr", "certifier_bcr",
    "contract_id", "nature_deposant", *VALUE_COLUMNS, "created_at",
)


@dataclass(frozen=True)
class IngestOptions:
    """Knobs of one ingestion run."""

    schema_version: str = "1.1.5"
    batch_size: int = 2000
    max_bytes: int = DEFAULT_MAX_BYTES
    #: Files at least this big are read in a child process (None: always in-process).
    subprocess_min_bytes: int | None = DEFAULT_SUBPROCESS_MIN_BYTES
    #: Referential remarks (unknown code, certifier not on the sheet…) are KO, not warnings.
    referential_strict: bool = False


@dataclass
class IngestResult:
    """What `ingest` produced (already flushed, not committed)."""

    header: FluxHeader
    report: Report
    status: DepositStatus
    #: Per-certification counts (see `ingestion.stats`).
    stats: list[dict[str, Any]]


def duplicate_problem(emitter: str, id_technique: str) -> Problem:
    """The CDC's own message for a passage already stored (spec §7)."""
    return Problem(
        "doublon",
        f"Le passage certification avec le bcr émetteur {emitter} et l'id technique partenaire "
        f"{id_technique} existe déjà en base",
        f"The passage with emitter BCR {emitter} and technical id {id_technique} already exists",
    )


def unknown_for_withdrawal(emitter: str, id_technique: str) -> Problem:
    """A SUPPRESSION naming a passage we do not hold."""
    return Problem(
        "suppression_inconnu",
        f"Aucun passage certification avec le bcr émetteur {emitter} et l'id technique "
        f"partenaire {id_technique} n'existe en base",
        f"No passage with emitter BCR {emitter} and technical id {id_technique} exists",
    )


def _reject(code: str, message: str) -> FileRejected:
    return FileRejected([FileProblem(code, message, kind="METIER")])


def lock_emitter(session: Session, emitter: str) -> None:
    """One load at a time per emitter, until the transaction ends.

    What a file does depends on what its emitter filed before: its passages are duplicates
    of stored ones, its idFlux was already received, its SUPPRESSION names passages that
    another file is still loading.  Two files of one emitter loaded side by side both
    found nothing, and the second failed on the unique keys at the end of its run (a
    traceback, a deposit retried); now the second waits for the first and decides on what
    it committed.  Files of different emitters still load in parallel.  PostgreSQL only:
    on SQLite the load holds the database's write lock already.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(f"passport:emitter:{emitter}".encode(), digest_size=8).digest()
    key = int.from_bytes(digest, "big", signed=True)
    if not session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(key))):
        log.info("waiting for another load of emitter %s to end", emitter)
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


def check_header(session: Session, header: FluxHeader, submitted_by: str | None = None) -> None:
    """File-level business checks: the uploader is the emitter, certifier registry, mandate
    (`check_authority`), idFlux already received."""
    check_authority(session, header, submitted_by)
    emitter = header.emitter_bcr
    receipt = session.get(FluxReceipt, (emitter, header.id_flux))
    if receipt is not None:
        raise _reject(
            "flux_deja_recu",
            f"Le flux {header.id_flux} a déjà été reçu de l'émetteur {emitter} le "
            f"{receipt.received_at:%d/%m/%Y à %H:%M} UTC (traitement {receipt.deposit_id}).",
        )


def check_authority(session: Session, header: FluxHeader,
                    submitted_by: str | None = None) -> None:
    """The emitter may file this flux: it is the uploader, and, when the registry has
    entries, the certifier and its contract are known and the emitter is the certifier or
    mandated by it."""
    emitter, certifier = header.emitter_bcr, header.certifier_bcr
    if submitted_by is not None and emitter != submitted_by:
        raise _reject(
            "emetteur_different",
            f"Le fichier déclare l'émetteur {emitter} mais a été déposé par {submitted_by} : "
            "un émetteur ne dépose que ses propres flux.",
        )
    if session.scalar(sa.select(sa.exists().select_from(Certifier))):
        if session.get(Certifier, certifier) is None:
            raise _reject(
                "certificateur_inconnu",
                f"Le certificateur {certifier} n'est pas référencé.",
            )
        if session.get(CertifierContract, (certifier, header.contract_id)) is None:
            raise _reject(
                "contrat_inconnu",
                f"Le contrat {header.contract_id} n'est pas référencé pour le certificateur "
                f"{certifier}.",
            )
        if emitter != certifier and session.get(Mandate, (emitter, certifier)) is None:
            raise _reject(
                "mandat_absent",
                f"L'émetteur {emitter} n'est pas mandaté par le certificateur {certifier}.",
            )


class _Run:
    """One pass over a file; restarted from scratch when the file needs a prescan."""

    def __init__(
        self,
        session: Session,
        deposit: Deposit,
        vault: NirVault,
        options: IngestOptions,
        progress: Progress | None,
        created_holders: MutableSequence[int] | None = None,
    ) -> None:
        self.session = session
        #: Holders this load created in their own transactions (PostgreSQL; see
        #: `passport.holders.service.holder_ids`), for the caller to discard on failure.
        self.created_holders = created_holders
        self.deposit = deposit
        self.options = options
        self.progress = progress
        self.nirisation = Nirisation(session, vault)
        self.report = ReportBuilder(functools.partial(_store_report_part, session, deposit.id))
        self.stats = StatsBuilder()
        self.referential: ReferentialCheck | None = None
        self.header: FluxHeader | None = None
        self._certifications: dict[tuple[str, str], int] = {}
        self._passages = BulkWriter(session, Passage.__tablename__, PASSAGE_COLUMNS)
        self._keys = BulkWriter(
            session, PassageKey.__tablename__, ("emitter_bcr", "id_technique", "holder_id")
        )

    def run(self, batches: Iterator[Batch]) -> None:
        for batch in batches:
            if self.header is None and batch.items:
                self.header = batch.header
                assert self.header.emitter_bcr is not None
                lock_emitter(self.session, self.header.emitter_bcr)
                check_header(self.session, self.header, self.deposit.submitted_by)
            if batch.items:
                if self.header.is_suppression:  # type: ignore[union-attr]
                    self._withdraw(batch.items)
                else:
                    self._create(batch.items)
            if self.progress:
                self.progress(batch.bytes_read)
        if self.header is None:  # a schema-valid flux always has a passage; defensive
            raise _reject("vide", "Le flux ne contient aucun passage.")

    def _create(self, batch: list[Item]) -> None:
        header = self.header
        assert header is not None and header.emitter_bcr is not None
        emitter = header.emitter_bcr
        outcome: list[list[Problem]] = [list(c.errors) for _, c in batch]

        # What the referentials say, when loaded: warnings, or errors in strict mode.
        if self.referential is None:
            self.referential = ReferentialCheck(self.session, header.certifier_bcr)
        remarks = [self.referential.problems(cert.type, cert.code, c.row) for cert, c in batch]
        if self.options.referential_strict:
            for i, extra in enumerate(remarks):
                outcome[i].extend(extra)
            remarks = [[] for _ in batch]

        # Duplicates: already stored for this emitter, or twice in this batch.
        candidates = [i for i, (_, c) in enumerate(batch) if not outcome[i]]
        stored = stored_keys(self.session, emitter, [batch[i][1].id_technique for i in candidates])
        seen: set[str] = set()
        for i in candidates:
            key = batch[i][1].id_technique
            if key in stored or key in seen:
                outcome[i].append(duplicate_problem(emitter, key))
            seen.add(key)

        # NIRisation for what is left.
        todo = [i for i in candidates if not outcome[i]]
        found: dict[int, Found] = {}
        identified = self.nirisation.resolve([batch[i][1].identity for i in todo])
        for i, result in zip(todo, identified, strict=True):
            if isinstance(result, Found):
                found[i] = result
            else:
                outcome[i].append(result)
        holders = self._holder_ids(found.values())

        created_at = self._passages.timestamp(utcnow())
        rows, keys = [], []
        for i, result in found.items():
            cert, checked = batch[i]
            holder_id = result.holder_id or holders[result.nir_hmac]
            prefix = (holder_id, self.deposit.id, self._certification_id(cert), emitter,
                      header.certifier_bcr, header.contract_id, cert.nature_deposant)
            rows.append((*prefix, *checked.row, created_at))
            keys.append((emitter, checked.id_technique, holder_id))
        self._passages.write(rows)
        self._keys.write(keys)
        for i, (cert, checked) in enumerate(batch):
            self.report.add(checked.id_technique, outcome[i], [*checked.warnings, *remarks[i]])
            self.stats.add(cert.type, cert.code, outcome[i])

    def _holder_ids(self, found: Iterable[Found]) -> dict[str, int]:
        wanted = {f.nir_hmac: f for f in found if f.holder_id is None}

        def encrypted(pseudonym: str) -> tuple[bytes, str]:
            f = wanted[pseudonym]
            assert f.nir_enc is not None and f.nir_key_id is not None
            return f.nir_enc, f.nir_key_id

        # NIRisation joined the holders: those without one had none a moment ago.
        return holder_ids(self.session, wanted, encrypted, created=self.created_holders,
                          known_new=True)

    def _certification_id(self, cert: CertificationContext) -> int:
        key = (cert.type or "", cert.code or "")
        cached = self._certifications.get(key)
        if cached is not None:
            return cached
        t = table_of(Certification)
        where = (t.c.type == key[0], t.c.code == key[1])
        found = self.session.scalar(sa.select(t.c.id).where(*where))
        if found is None:
            # A referential row, not data of the file: on PostgreSQL committed at once, so
            # that two loads bringing the same new codes never wait for each other.
            sheet = self.session.execute(sa.select(Sheet.title, Sheet.eqf_level).where(
                Sheet.numero == key[1], Sheet.repertoire == key[0])).first()
            insert = insert_missing(self.session, t, "type", "code").values(
                type=key[0], code=key[1], created_at=utcnow(),
                title=sheet.title if sheet else None,
                level=str(sheet.eqf_level) if sheet and sheet.eqf_level else None)
            if self.session.get_bind().dialect.name == "postgresql":
                with self.session.get_bind().engine.begin() as conn:
                    conn.execute(insert)
            else:
                self.session.execute(insert)
            found = self.session.scalar(sa.select(t.c.id).where(*where))
        assert found is not None
        self._certifications[key] = found
        return found

    # -- SUPPRESSION (1.1.5) -------------------------------------------------------
    def _withdraw(self, items: list[Item]) -> None:
        header = self.header
        assert header is not None and header.emitter_bcr is not None
        emitter = header.emitter_bcr
        k, p = table_of(PassageKey), table_of(Passage)
        live = stored_keys(self.session, emitter, [c.id_technique for _, c in items])
        now = utcnow()
        done: set[str] = set()
        for cert, checked in items:
            id_technique = checked.id_technique
            errors: list[Problem] = []
            if id_technique in live and id_technique not in done:
                done.add(id_technique)
            else:
                errors.append(unknown_for_withdrawal(emitter, id_technique))
            self.report.add(id_technique, errors, [])
            self.stats.add(cert.type, cert.code, errors)
        if not done:
            return
        self.session.execute(
            p.update()
            .where(
                p.c.holder_id == sa.bindparam("h"),
                p.c.emitter_bcr == emitter,
                p.c.id_technique == sa.bindparam("i"),
                p.c.withdrawn_at.is_(None),
            )
            .values(withdrawn_at=now, withdrawn_by_deposit_id=self.deposit.id),
            [{"h": live[i], "i": i} for i in done],
        )
        for chunk in chunked(sorted(done)):
            self.session.execute(
                k.delete().where(k.c.emitter_bcr == emitter, k.c.id_technique.in_(chunk))
            )


def stored_keys(session: Session, emitter: str, ids: Iterable[str]) -> dict[str, int]:
    """The passages of ``emitter`` among ``ids`` that are stored: id technique → holder.

    On PostgreSQL each id probes the primary key on its own (a ``LATERAL … LIMIT 1``, which
    the planner cannot turn into a scan).  During a load the statistics of ``passage_keys``
    predate the load's own rows: taking the emitter for a rare value, the planner read
    every key of the emitter loaded so far and hashed them, for each batch — quadratic in
    the size of a certifier's first file (200,000 passages: 2.0 s of the server's time in
    the duplicate checks).
    """
    k = table_of(PassageKey)
    found: dict[str, int] = {}
    if session.get_bind().dialect.name != "postgresql":
        for condition in membership(session, k.c.id_technique, ids):
            found.update(session.execute(sa.select(k.c.id_technique, k.c.holder_id).where(
                k.c.emitter_bcr == emitter, condition)).all())
        return found
    for chunk in chunked(sorted(set(ids)), PG_CHUNK):
        wanted = sa.func.unnest(pg_array(k.c.id_technique, chunk)).table_valued(
            "id").render_derived()
        stored = sa.select(k.c.holder_id).where(
            k.c.emitter_bcr == emitter, k.c.id_technique == wanted.c.id).limit(1).lateral()
        found.update(session.execute(
            sa.select(wanted.c.id, stored.c.holder_id).join_from(wanted, stored, sa.true())
        ).all())
    return found


def _store_report_part(session: Session, deposit_id: int, seq: int, data: bytes) -> None:
    session.execute(sa.insert(table_of(DepositReportPart)),
                    {"deposit_id": deposit_id, "seq": seq, "data": data})


class StoredParts:
    """The compressed outcome parts of a stored report (`ReportBuilder`), fetched one at a
    time as the report renders (one query would bring the whole report into memory with
    PostgreSQL's client-side cursor).

    ``bind``: an engine — each part is fetched on a connection taken from the pool and given
    back before the part is handed on, so that a report streamed to a slow client holds
    neither a connection nor a transaction between parts (nor does one streamed after its
    request's session is gone, as Flask's ``stream_with_context`` does) — or a connection,
    read as it is (the load's own, which sees its parts before they are committed).
    """

    def __init__(self, bind: sa.Engine | sa.Connection, deposit_id: int) -> None:
        self.bind, self.deposit_id = bind, deposit_id
        table = table_of(DepositReportPart)
        where = table.c.deposit_id == deposit_id
        self._seqs = sa.select(table.c.seq).where(where).order_by(table.c.seq)
        self._part = sa.select(table.c.data).where(where, table.c.seq == sa.bindparam("seq"))

    def _connection(self) -> contextlib.AbstractContextManager[sa.Connection]:
        bind = self.bind
        return contextlib.nullcontext(bind) if isinstance(bind, sa.Connection) else bind.connect()

    def __iter__(self) -> Iterator[bytes]:
        with self._connection() as connection:
            seqs = connection.scalars(self._seqs).all()
        for seq in seqs:
            with self._connection() as connection:
                part = connection.scalars(self._part, {"seq": seq}).one()
            yield part


def discard_report_parts(session: Session, deposit_id: int) -> None:
    """Delete the outcome parts of a deposit's earlier report, if any."""
    table = table_of(DepositReportPart)
    session.execute(table.delete().where(table.c.deposit_id == deposit_id))


def ingest(
    session: Session,
    deposit: Deposit,
    source: Source,
    vault: NirVault,
    options: IngestOptions | None = None,
    progress: Progress | None = None,
    created_holders: MutableSequence[int] | None = None,
) -> IngestResult:
    """Process one file into ``session`` (flushed, not committed); see the module docstring.

    ``created_holders``: a sequence receiving the holders created outside the load's own
    transaction (PostgreSQL), which the caller discards if the load fails.
    """
    options = options or IngestOptions()

    def batches(prescanned: Prescan | None = None) -> Iterator[Batch]:
        return read_checked(
            source,
            max_bytes=options.max_bytes,
            schema_version=options.schema_version,
            batch_size=options.batch_size,
            prescanned=prescanned,
            subprocess_min_bytes=options.subprocess_min_bytes,
        )

    discard_report_parts(session, deposit.id)
    run = _Run(session, deposit, vault, options, progress, created_holders)
    try:
        with heap_frozen():
            try:
                with session.begin_nested():
                    run.run(batches())
            except NeedsPrescan:
                log.info("deposit %s sends context after its passages: restarting with a "
                         "prescan", deposit.id)
                found = prescan(open_gated(source.open, options.max_bytes))
                run = _Run(session, deposit, vault, options, progress, created_holders)
                run.run(batches(found))
    except FileRejected as exc:
        if exc.header is None:
            exc.header = run.header
        raise
    header = run.header
    assert header is not None
    builder = run.report
    builder.finish()
    status = DepositStatus.TRAITE_AVEC_ERREURS if builder.ko else DepositStatus.TRAITE
    counts = {
        "passages": builder.ok + builder.ko,
        "ok": builder.ok,
        "ko": builder.ko,
        "warnings": builder.warnings,
        "ko_by_code": builder.ko_by_code,
    }
    report = Report(
        file_name=deposit.file_name,
        id_traitement=deposit.id,
        status=status.value,
        id_flux=header.id_flux,
        outcomes=StoredParts(session.connection(), deposit.id),
        counts=counts,
    )
    session.add(FluxReceipt(emitter_bcr=header.emitter_bcr, id_flux=header.id_flux,
                            deposit_id=deposit.id, received_at=deposit.received_at))
    return IngestResult(header, report, status, run.stats.rows())
