"""Deposits (received flux files), their reports, and the idFlux already received."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from passport.db import Base, utcnow
from passport.types import BigIntPK, enum_column, json_column


class DepositStatus(enum.Enum):
    """Life cycle of a deposit: ``RECU → EN_COURS → TRAITE | TRAITE_AVEC_ERREURS | REJETE``."""

    RECU = "RECU"
    EN_COURS = "EN_COURS"
    TRAITE = "TRAITE"
    TRAITE_AVEC_ERREURS = "TRAITE_AVEC_ERREURS"
    REJETE = "REJETE"

    @property
    def is_final(self) -> bool:
        """True once processing is over, whatever the outcome."""
        return self in (DepositStatus.TRAITE, DepositStatus.TRAITE_AVEC_ERREURS, DepositStatus.REJETE)


class Deposit(Base):
    """A received flux file and where its processing stands."""

    __tablename__ = "deposits"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(sa.String(255))
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    #: BCR of the authenticated client that uploaded the file (API) or None (CLI).
    submitted_by: Mapped[str | None] = mapped_column(sa.String(8), index=True)
    source: Mapped[str] = mapped_column(sa.String(10), default="cli")
    storage_path: Mapped[str | None] = mapped_column(sa.String(1024))
    emitter_bcr: Mapped[str | None] = mapped_column(sa.String(8), index=True)
    certifier_bcr: Mapped[str | None] = mapped_column(sa.String(8), index=True)
    contract_id: Mapped[str | None] = mapped_column(sa.String(20))
    id_flux: Mapped[str | None] = mapped_column(sa.String(50))
    horodatage: Mapped[str | None] = mapped_column(sa.String(40))
    action: Mapped[str | None] = mapped_column(sa.String(12))
    status: Mapped[DepositStatus] = mapped_column(
        enum_column(DepositStatus), default=DepositStatus.RECU, index=True
    )
    passages_total: Mapped[int] = mapped_column(default=0)
    passages_ok: Mapped[int] = mapped_column(default=0)
    passages_ko: Mapped[int] = mapped_column(default=0)
    warnings_count: Mapped[int] = mapped_column(default=0)
    error_code: Mapped[str | None] = mapped_column(sa.String(40))
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(default=0)
    #: Who holds the claim: ``host:pid`` of the processing process.
    worker: Mapped[str | None] = mapped_column(sa.String(100))
    lease_expires_at: Mapped[dt.datetime | None]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]

    __table_args__ = (
        # The same bytes from the same uploader are one deposit (NULL: the command line),
        # until it is rejected: a file sent again after a rejection is processed again
        # (the registry may have been completed, the stored copy lost).
        sa.Index("uq_deposits_submitted_by_sha256", "submitted_by", "sha256", unique=True,
                 sqlite_where=sa.text("status != 'REJETE'"),
                 postgresql_where=sa.text("status != 'REJETE'")),
    )


class DepositReport(Base):
    """The processing report of a deposit (see `ingestion.report`): a summary here, the
    per-passage outcomes in `DepositReportPart`."""

    __tablename__ = "deposit_reports"

    deposit_id: Mapped[int] = mapped_column(sa.ForeignKey("deposits.id"), primary_key=True)
    version: Mapped[int] = mapped_column(sa.SmallInteger, default=1)
    summary: Mapped[dict[str, Any]] = mapped_column(json_column())
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DepositReportPart(Base):
    """One part of a report's per-passage outcomes: a compressed stream of JSON lines cut
    in parts of 64 KiB, ``seq`` from 0.  The load writes each part inside its transaction as
    soon as it is full, so that a report of 200,000 passages is never whole in memory."""

    __tablename__ = "deposit_report_parts"

    deposit_id: Mapped[int] = mapped_column(sa.ForeignKey("deposits.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)


class FluxReceipt(Base):
    """An ``idFlux`` processed for an emitter: the same idFlux again rejects the file."""

    __tablename__ = "flux_receipts"

    emitter_bcr: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    id_flux: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    deposit_id: Mapped[int] = mapped_column(sa.ForeignKey("deposits.id"))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DepositStat(Base):
    """Counts of one processed deposit for one certification (the certifier's statistics:
    received, accepted, refused by family of reason)."""

    __tablename__ = "deposit_stats"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    deposit_id: Mapped[int] = mapped_column(sa.ForeignKey("deposits.id"), index=True)
    emitter_bcr: Mapped[str] = mapped_column(sa.String(8))
    certifier_bcr: Mapped[str] = mapped_column(sa.String(8))
    #: Month of receipt, ``YYYY-MM``.
    month: Mapped[str] = mapped_column(sa.String(7))
    certification_type: Mapped[str] = mapped_column(sa.String(255))
    certification_code: Mapped[str] = mapped_column(sa.String(100))
    received: Mapped[int]
    ok: Mapped[int]
    ko_nirisation: Mapped[int]
    ko_duplicate: Mapped[int]
    ko_rules: Mapped[int]
    ko_other: Mapped[int]
    ko_by_code: Mapped[dict[str, int]] = mapped_column(json_column())

    __table_args__ = (
        sa.Index(None, "certifier_bcr", "month"),
        sa.Index(None, "emitter_bcr", "month"),
    )


class DryRunStatus(enum.Enum):
    """Life cycle of a queued dry run: ``EN_ATTENTE → EN_COURS → TERMINE | ECHEC``."""

    EN_ATTENTE = "EN_ATTENTE"
    EN_COURS = "EN_COURS"
    TERMINE = "TERMINE"
    #: No verdict: interrupted ``PASSPORT_JOB_MAX_ATTEMPTS`` times (a file that kills its
    #: worker), or its upload was lost.
    ECHEC = "ECHEC"

    @property
    def is_final(self) -> bool:
        return self in (DryRunStatus.TERMINE, DryRunStatus.ECHEC)


class DryRun(Base):
    """A dry run queued by an anonymous client (``Prefer: respond-async``): the uploaded
    file until it is checked, then its verdict until ``expires_at``.  Reached only through
    its token, of which only the SHA-256 is kept."""

    __tablename__ = "dry_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    file_name: Mapped[str] = mapped_column(sa.String(255))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    #: The uploaded file, removed once checked.
    storage_path: Mapped[str | None] = mapped_column(sa.String(1024))
    status: Mapped[DryRunStatus] = mapped_column(
        enum_column(DryRunStatus), default=DryRunStatus.EN_ATTENTE, index=True)
    #: The verdict (the synchronous answer's body) once ``TERMINE``.
    verdict: Mapped[dict[str, Any] | None] = mapped_column(json_column())
    attempts: Mapped[int] = mapped_column(default=0)
    worker: Mapped[str | None] = mapped_column(sa.String(100))
    lease_expires_at: Mapped[dt.datetime | None]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    #: Who queued it: a keyed hash of the client's address (`passport.ratelimit.client_key`),
    #: to bound what one client has waiting; never the address.
    client_key: Mapped[str | None] = mapped_column(sa.String(80), index=True)
