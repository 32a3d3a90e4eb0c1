"""Journal entries: append-only, hash-chained per holder."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from passport.db import Base, utcnow
from passport.types import BigIntPK, json_column


class JournalEntry(Base):
    """One event in a holder's journal.

    ``hash`` = SHA-256 of the previous entry's hash and this entry's canonical content;
    changing or removing an entry breaks every later link (`passport journal verify`).
    """

    __tablename__ = "journal_entries"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    holder_id: Mapped[int] = mapped_column(sa.ForeignKey("holders.id"))
    #: Position in the holder's chain, from 1.
    seq: Mapped[int]
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: What happened (see `passport.journal.service.KINDS`).
    kind: Mapped[str] = mapped_column(sa.String(40))
    #: ``holder``, ``advisor``, ``recipient`` (of a share) or ``system``.
    actor_type: Mapped[str] = mapped_column(sa.String(20))
    #: Who, coarse and readable by the holder (never an IP address, never a token).
    actor_label: Mapped[str | None] = mapped_column(sa.String(300))
    share_id: Mapped[int | None]
    consent_id: Mapped[int | None]
    details: Mapped[dict[str, Any]] = mapped_column(json_column(), default=dict)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))

    __table_args__ = (
        sa.UniqueConstraint("holder_id", "seq"),
        sa.Index(None, "holder_id", "occurred_at"),
    )


class JournalPurgePermit(Base):
    """While a row exists (inside the purge's own transaction), the database lets the
    retention purge delete old journal entries; every other UPDATE or DELETE is refused
    by a trigger (see the 0004 migration)."""

    __tablename__ = "journal_purge_permits"

    id: Mapped[int] = mapped_column(primary_key=True)
    granted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
