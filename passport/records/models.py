"""Accepted passages (one per certification obtained, as filed by a certifier).

Every holder-owned table carries ``holder_id`` (the future Citus distribution column);
the key that must be unique across holders, (emitter BCR, ``idTechnique``), lives in its
own table, `PassageKey`, so that it can stay a reference table when passages are sharded.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from passport.db import Base, utcnow
from passport.types import BigIntPK, enum_column, json_column


class Passage(Base):
    """A certification passage of a holder, with every field of the flux."""

    __tablename__ = "passages"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    holder_id: Mapped[int] = mapped_column(sa.ForeignKey("holders.id"))
    # No index on certification_id or certifier_bcr: every index costs the bulk load, and
    # no query reads passages by them yet (add one with the query that needs it).  The one on
    # deposit_id serves the analytics follow-up of every deposit (~1 µs a loaded row; it
    # replaced a scan of the whole table per deposit).  No foreign key to certifications:
    # each costs ~5 µs per row of a bulk load, and the loader creates the certification in
    # the same transaction; holder and deposit keep theirs, as the last guard on who owns a
    # passage and where it came from.
    deposit_id: Mapped[int] = mapped_column(sa.ForeignKey("deposits.id"))
    certification_id: Mapped[int]
    emitter_bcr: Mapped[str] = mapped_column(sa.String(8))
    certifier_bcr: Mapped[str] = mapped_column(sa.String(8))
    contract_id: Mapped[str] = mapped_column(sa.String(20))
    nature_deposant: Mapped[str | None] = mapped_column(sa.String(20))
    id_technique: Mapped[str] = mapped_column(sa.String(255))
    url_preuve: Mapped[str | None] = mapped_column(sa.String(255))
    libelle_option: Mapped[str | None] = mapped_column(sa.String(255))
    obtention_certification: Mapped[str] = mapped_column(sa.String(20))
    donnee_certifiee: Mapped[bool]
    date_debut_examen: Mapped[dt.date | None]
    date_fin_examen: Mapped[dt.date | None]
    modalite_passage_examen: Mapped[str | None] = mapped_column(sa.String(20))
    code_postal_centre_examen: Mapped[str | None] = mapped_column(sa.String(9))
    date_debut_validite: Mapped[dt.date]
    date_fin_validite: Mapped[dt.date | None]
    presence_niveau_langue_euro: Mapped[bool]
    niveau_langue_europeen: Mapped[str | None] = mapped_column(sa.String(11))
    presence_niveau_numerique_euro: Mapped[bool]
    score_general: Mapped[int | None]
    digcomp_resultats: Mapped[list[dict[str, Any]] | None] = mapped_column(json_column())
    scoring: Mapped[str | None] = mapped_column(sa.String(255))
    mention_validee: Mapped[str | None] = mapped_column(sa.String(60))
    modalite_acces: Mapped[str | None] = mapped_column(sa.String(60))
    voie_acces_vae: Mapped[str | None] = mapped_column(sa.String(20))
    initiative_inscription: Mapped[str | None] = mapped_column(sa.String(20))
    date_inscription: Mapped[dt.date | None]
    #: ``titulaire``, ``dossier_formation`` or ``identifiant_national``.
    identification: Mapped[str] = mapped_column(sa.String(30))
    id_dossier: Mapped[str | None] = mapped_column(sa.String(13))
    #: The civil-status block as sent (never a NIR: ``identifiantNational`` keeps the name only).
    titulaire: Mapped[dict[str, Any] | None] = mapped_column(json_column())
    verbatim: Mapped[str | None] = mapped_column(sa.String(255))
    warnings: Mapped[list[str] | None] = mapped_column(json_column())
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None]
    withdrawn_by_deposit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("deposits.id"))
    #: The holder keeps this item out of shares and CVs unless they pick it explicitly.
    hidden: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    #: Last change by the holder (hiding); None: as received.
    updated_at: Mapped[dt.datetime | None]

    __table_args__ = (
        # A holder's passport, and a SUPPRESSION's lookup from PassageKey, both start here.
        sa.Index(None, "holder_id", "emitter_bcr", "id_technique"),
        # The passages a deposit brought or withdrew (`passport.analytics.refresh`); few
        # are ever withdrawn, so that index holds only those.
        sa.Index(None, "deposit_id"),
        sa.Index(None, "withdrawn_by_deposit_id",
                 postgresql_where=sa.text("withdrawn_by_deposit_id IS NOT NULL"),
                 sqlite_where=sa.text("withdrawn_by_deposit_id IS NOT NULL")),
    )


class PassageKey(Base):
    """The (emitter BCR, ``idTechnique``) of every live passage: duplicates are refused here."""

    __tablename__ = "passage_keys"

    emitter_bcr: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    id_technique: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    # The passage (holder_id, emitter, id) carries the foreign key; here it would only be
    # paid twice on every bulk load.
    holder_id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"))


class DeclarationKind(enum.Enum):
    """What a holder may declare (always "déclaré", never "garanti")."""

    EXPERIENCE = "experience"
    TRAINING = "formation"
    DIPLOMA = "diplome"
    SKILL = "competence"
    LANGUAGE = "langue"
    VOLUNTEERING = "engagement"
    OTHER = "autre"


class Declaration(Base):
    """An item the holder entered themselves."""

    __tablename__ = "declarations"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    holder_id: Mapped[int] = mapped_column(sa.ForeignKey("holders.id"), index=True)
    kind: Mapped[DeclarationKind] = mapped_column(enum_column(DeclarationKind))
    #: Job title, training or diploma name, skill, language, role or subject.
    title: Mapped[str] = mapped_column(sa.String(200))
    #: Employer, school, awarding body or association.
    organisation: Mapped[str | None] = mapped_column(sa.String(200))
    location: Mapped[str | None] = mapped_column(sa.String(200))
    country: Mapped[str | None] = mapped_column(sa.String(2))
    start_date: Mapped[dt.date | None]
    end_date: Mapped[dt.date | None]
    description: Mapped[str | None] = mapped_column(sa.Text)
    skills: Mapped[list[str]] = mapped_column(json_column(), default=list)
    #: CECRL level for a language; self-assessed level for a skill.
    level: Mapped[str | None] = mapped_column(sa.String(20))
    url: Mapped[str | None] = mapped_column(sa.String(500))
    hidden: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ReportReason(enum.Enum):
    """Why a holder says an attested item is wrong."""

    WRONG_NAME = "wrong_name"
    WRONG_DATE = "wrong_date"
    NOT_MINE = "not_mine"
    OTHER = "other"


class ReportStatus(enum.Enum):
    """Where a holder's error report stands on the certifier's side."""

    OPEN = "ouvert"
    IN_PROGRESS = "en_cours"
    HANDLED = "traite"
    REJECTED = "rejete"


class ErrorReport(Base):
    """A holder's report of an error in an attested item, for its certifier to handle."""

    __tablename__ = "error_reports"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    holder_id: Mapped[int] = mapped_column(sa.ForeignKey("holders.id"), index=True)
    passage_id: Mapped[int] = mapped_column(sa.ForeignKey("passages.id"), index=True)
    certifier_bcr: Mapped[str] = mapped_column(sa.String(8), index=True)
    reason: Mapped[ReportReason] = mapped_column(enum_column(ReportReason))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[ReportStatus] = mapped_column(enum_column(ReportStatus),
                                                 default=ReportStatus.OPEN)
    certifier_response: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
