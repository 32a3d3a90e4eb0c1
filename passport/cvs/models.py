"""Generated CVs, kept so that the holder (and only them) can fetch them again."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from passport.db import Base, utcnow
from passport.types import BigIntPK

#: A holder keeps this many CVs; older ones are deleted when a new one is made.
KEPT_PER_HOLDER = 20


class CvDocument(Base):
    """A CV as generated: the exact bytes handed out (a signed PDF cannot be remade
    identically), with what it was made of."""

    __tablename__ = "cv_documents"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    holder_id: Mapped[int] = mapped_column(sa.ForeignKey("holders.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    format: Mapped[str] = mapped_column(sa.String(12))
    template: Mapped[str] = mapped_column(sa.String(20))
    language: Mapped[str] = mapped_column(sa.String(2))
    attested_items: Mapped[int]
    declared_items: Mapped[int]
    file_name: Mapped[str] = mapped_column(sa.String(100))
    media_type: Mapped[str] = mapped_column(sa.String(60))
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
