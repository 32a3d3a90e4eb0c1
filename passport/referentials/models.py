"""Certifications, as named by the flux (type + code), enriched from the referential."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from passport.db import Base, utcnow


class Certification(Base):
    """A certification a passage refers to; title and level come from the referential."""

    __tablename__ = "certifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(255))
    code: Mapped[str] = mapped_column(sa.String(100))
    title: Mapped[str | None] = mapped_column(sa.Text)
    level: Mapped[str | None] = mapped_column(sa.String(20))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.UniqueConstraint("type", "code"),)
