"""Holders keyed by NIR pseudonym, NIR aliases, and the identity directory extract."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from passport.db import Base, utcnow
from passport.types import BigIntPK, json_column


class Holder(Base):
    """A person with a passport; ``nir_hmac`` is the key of the holder-centric store."""

    __tablename__ = "holders"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    nir_hmac: Mapped[str] = mapped_column(sa.String(64), unique=True)
    nir_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)
    nir_key_id: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class NirAlias(Base):
    """A former NIR pseudonym (e.g. a provisional NIA replaced by the NIR) of a holder."""

    __tablename__ = "nir_aliases"

    nir_hmac: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    holder_id: Mapped[int] = mapped_column(sa.ForeignKey("holders.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class HolderMerge(Base):
    """A passport merged into another: the identity directory said its number was replaced
    by a number that had a passport too (`passport.holders.merge`).

    The former holder row stays, renamed, only for its journal (append-only, hash-chained:
    its entries cannot move); everything else it had now belongs to ``holder_id``.
    """

    __tablename__ = "holder_merges"

    former_holder_id: Mapped[int] = mapped_column(sa.ForeignKey("holders.id"), primary_key=True)
    holder_id: Mapped[int] = mapped_column(sa.ForeignKey("holders.id"), index=True)
    merged_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: Rows moved, by table (counts only).
    moved: Mapped[dict[str, int]] = mapped_column(json_column())


class IdentityRecord(Base):
    """One person of the identity directory extract (NIR + civil status), for NIRisation.

    ``match_key`` holds the normalised mandatory criteria (birth name, first first-name,
    birth year, sex) so that a batch of passages is matched with one indexed query.
    """

    __tablename__ = "identity_records"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    nir_hmac: Mapped[str] = mapped_column(sa.String(64), unique=True)
    nir_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)
    nir_key_id: Mapped[str] = mapped_column(sa.String(32))
    nom_naissance: Mapped[str] = mapped_column(sa.String(100))
    nom_usage: Mapped[str | None] = mapped_column(sa.String(100))
    prenom1: Mapped[str] = mapped_column(sa.String(100))
    prenom2: Mapped[str | None] = mapped_column(sa.String(100))
    prenom3: Mapped[str | None] = mapped_column(sa.String(100))
    annee_naissance: Mapped[int] = mapped_column(sa.SmallInteger)
    mois_naissance: Mapped[int | None] = mapped_column(sa.SmallInteger)
    jour_naissance: Mapped[int | None] = mapped_column(sa.SmallInteger)
    sexe: Mapped[str] = mapped_column(sa.String(1))
    code_insee_naissance: Mapped[str | None] = mapped_column(sa.String(5))
    code_pays_naissance: Mapped[str | None] = mapped_column(sa.String(3))
    match_key: Mapped[str] = mapped_column(sa.String(250), index=True)
    imported_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.CheckConstraint("sexe IN ('M', 'F')", name="sexe"),)
