"""Consents (holder → advisor organisation or advisor), requests, and receipts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from passport.db import Base, utcnow
from passport.types import BigIntPK, json_column

SECTIONS = ("certifications", "declarations", "cv")
PURPOSES = ("accompagnement_cep", "bilan_competences", "autre")


class Consent(Base):
    """A holder lets an advisor organisation (or one named advisor) read chosen sections,
    for a purpose, for a while; revocable at any time."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    holder_id: Mapped[int] = mapped_column(sa.ForeignKey("holders.id"), index=True)
    #: What the advisor API calls the holder: opaque, per consent, never a NIR.
    reference: Mapped[str] = mapped_column(sa.String(40), unique=True)
    organisation_siret: Mapped[str] = mapped_column(sa.String(14), index=True)
    advisor_email: Mapped[str | None] = mapped_column(sa.String(320))
    sections: Mapped[list[str]] = mapped_column(json_column())
    purpose: Mapped[str] = mapped_column(sa.String(40))
    purpose_text: Mapped[str | None] = mapped_column(sa.String(500))
    #: ``holder`` (granted in the passport) or ``advisor_request`` (approved request).
    given_via: Mapped[str] = mapped_column(sa.String(20))
    starts_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ConsentRequest(Base):
    """An advisor-initiated request: the holder makes a one-time code and reads it to the
    advisor, who redeems it; the holder then approves or refuses."""

    __tablename__ = "consent_requests"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    holder_id: Mapped[int] = mapped_column(sa.ForeignKey("holders.id"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    code_expires_at: Mapped[dt.datetime]
    #: ``code`` (waiting for the advisor) → ``pending`` (waiting for the holder) →
    #: ``approved`` | ``refused``.
    status: Mapped[str] = mapped_column(sa.String(20), default="code")
    organisation_siret: Mapped[str | None] = mapped_column(sa.String(14))
    advisor_email: Mapped[str | None] = mapped_column(sa.String(320))
    advisor_name: Mapped[str | None] = mapped_column(sa.String(255))
    sections: Mapped[list[str] | None] = mapped_column(json_column())
    purpose: Mapped[str | None] = mapped_column(sa.String(40))
    purpose_text: Mapped[str | None] = mapped_column(sa.String(500))
    duration_days: Mapped[int | None]
    consent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("consents.id"))
    #: The advisor's login that redeemed the code (who may follow the request).
    advisor_account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"),
                                                           index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ConsentReceipt(Base):
    """A consent receipt (Kantara CR v1.1 fields, ISO/IEC TS 27560 events), kept as issued."""

    __tablename__ = "consent_receipts"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    holder_id: Mapped[int] = mapped_column(sa.ForeignKey("holders.id"), index=True)
    consent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("consents.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(sa.ForeignKey("consent_requests.id"))
    event: Mapped[str] = mapped_column(sa.String(20))
    document: Mapped[dict[str, Any]] = mapped_column(json_column())
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
