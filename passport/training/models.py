"""CPF training files."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from passport.db import Base, utcnow
from passport.types import BigIntPK, enum_column


class TrainingStatus(enum.Enum):
    """Status of a CPF training file."""

    EN_COURS = "EN_COURS"
    TERMINE = "TERMINE"
    ABANDON = "ABANDON"


class TrainingFile(Base):
    """A CPF training file: who trained for which certification, where and when."""

    __tablename__ = "training_files"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    id_dossier: Mapped[str] = mapped_column(sa.String(13), unique=True)
    holder_id: Mapped[int] = mapped_column(sa.ForeignKey("holders.id"), index=True)
    nom: Mapped[str] = mapped_column(sa.String(100))
    prenom: Mapped[str] = mapped_column(sa.String(100))
    certification_type: Mapped[str] = mapped_column(sa.String(255))
    certification_code: Mapped[str] = mapped_column(sa.String(100))
    siret_organisme: Mapped[str | None] = mapped_column(sa.String(14))
    date_entree: Mapped[dt.date | None]
    date_sortie: Mapped[dt.date | None]
    statut: Mapped[TrainingStatus] = mapped_column(enum_column(TrainingStatus))
    #: The access route (the flux's ``modaliteAcces`` values), when the file says it.
    modalite_acces: Mapped[str | None] = mapped_column(sa.String(60))
    imported_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.Index(None, "certification_type", "certification_code"),)
