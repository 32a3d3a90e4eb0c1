"""Shares, their items, verification codes of attested items, rate-limit buckets."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from passport.db import Base, utcnow
from passport.types import BigIntPK, json_column


class Share(Base):
    """A link giving anyone who has it a view of chosen items, until it ends."""

    __tablename__ = "shares"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    holder_id: Mapped[int] = mapped_column(sa.ForeignKey("holders.id"), index=True)
    #: SHA-256 of the token (lookups); the token itself is kept encrypted for the holder.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    token_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)
    token_key_id: Mapped[str] = mapped_column(sa.String(32))
    label: Mapped[str | None] = mapped_column(sa.String(200))
    #: The holder's display name as shown to recipients (chosen when sharing).
    shown_name: Mapped[str | None] = mapped_column(sa.String(200))
    expires_at: Mapped[dt.datetime]
    max_views: Mapped[int | None]
    view_count: Mapped[int] = mapped_column(default=0)
    #: scrypt hash of the optional access code the recipient must type.
    access_code_hash: Mapped[str | None] = mapped_column(sa.String(255))
    failed_codes: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ShareItem(Base):
    """One shared item, and the fields the holder masked on it."""

    __tablename__ = "share_items"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    share_id: Mapped[int] = mapped_column(sa.ForeignKey("shares.id"), index=True)
    holder_id: Mapped[int] = mapped_column(sa.ForeignKey("holders.id"))
    #: ``certification`` (a passage) or ``declaration``.
    kind: Mapped[str] = mapped_column(sa.String(20))
    item_id: Mapped[int] = mapped_column(BigIntPK)
    masked_fields: Mapped[list[str]] = mapped_column(json_column(), default=list)
    position: Mapped[int] = mapped_column(default=0)


class VerificationCode(Base):
    """The short, human code of an attested item (a passage), printed in shares and CVs."""

    __tablename__ = "verification_codes"

    code: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    passage_id: Mapped[int] = mapped_column(sa.ForeignKey("passages.id"), unique=True)
    holder_id: Mapped[int] = mapped_column(sa.ForeignKey("holders.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RateBucket(Base):
    """A fixed-window counter (brute force on codes, per client or per object)."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    window_ends_at: Mapped[dt.datetime]
