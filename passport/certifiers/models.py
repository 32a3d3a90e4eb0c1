"""Certifiers (by BCR), their CDC contracts, and mandates given to third-party depositors."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from passport.db import Base, utcnow


class Certifier(Base):
    """A certification body, identified by its 8-character BCR."""

    __tablename__ = "certifiers"

    bcr: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    name: Mapped[str | None] = mapped_column(sa.String(255))
    siret: Mapped[str | None] = mapped_column(sa.String(14))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CertifierContract(Base):
    """A CDC contract (``idContrat``) a certifier files under."""

    __tablename__ = "certifier_contracts"

    certifier_bcr: Mapped[str] = mapped_column(sa.ForeignKey("certifiers.bcr"), primary_key=True)
    contract_id: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Mandate(Base):
    """Permission for a third party (``déposant``) to file on behalf of a certifier."""

    __tablename__ = "mandates"

    depositor_bcr: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    certifier_bcr: Mapped[str] = mapped_column(sa.ForeignKey("certifiers.bcr"), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
