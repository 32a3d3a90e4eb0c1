"""Status list entries: each attested item issued as a credential gets a random index in a
status list; the bit at that index says whether the item was withdrawn."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from passport.db import Base, utcnow
from passport.types import BigIntPK


class StatusEntry(Base):
    """The status list index of an attested item (one per passage, kept for good)."""

    __tablename__ = "credential_status_entries"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    passage_id: Mapped[int] = mapped_column(sa.ForeignKey("passages.id"), unique=True)
    list_id: Mapped[int]
    index: Mapped[int]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.UniqueConstraint("list_id", "index"),)
