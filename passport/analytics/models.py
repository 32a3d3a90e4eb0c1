"""Precomputed analytics.

``analytics_file_outcomes`` holds one row per finished (``TERMINE``) or abandoned
(``ABANDON``) training file: where it counts (certification, organisation, access route,
exit year) and, for a finished file, how many months after the exit the holder was first
certified. It is internal: never returned, only summed. ``analytics_cells`` holds the sums
at five grains (the finest one and four roll-ups), so that a query adds a few thousand
rows whatever the number of files; ``analytics_periods`` holds the roll-ups' sums over
every period, so that a national listing reads one row per group. ``analytics_lineage``
maps each certification code of a lineage (predecessor / successor sheets) to one key.
``analytics_queries`` logs who asked what.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from passport.db import Base, utcnow
from passport.types import BigIntPK, json_column

#: Delays are counted in whole months after the exit, up to this many.
MAX_DELAY_MONTHS = 36
#: Month-bucket columns ``d0`` … ``d36``: finished files first certified m months after exit.
DELAY_COLUMNS = tuple(f"d{m}" for m in range(MAX_DELAY_MONTHS + 1))
#: The grains of ``analytics_cells`` and the dimensions each keeps (the others hold '').
GRAINS: dict[str, tuple[str, ...]] = {
    "base": ("cert_type", "cert_code", "siret", "route"),
    "cert": ("cert_type", "cert_code"),
    "org": ("siret",),
    "route": ("route",),
    "all": (),
}
DIMENSIONS = ("cert_type", "cert_code", "siret", "route")


class FileOutcome(Base):
    """Where a finished or abandoned training file counts, and its outcome."""

    __tablename__ = "analytics_file_outcomes"

    #: No foreign key on purpose: this is derived data, rebuilt from the training files;
    #: a key check per row made a national rebuild ten times slower.
    training_file_id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    cert_type: Mapped[str] = mapped_column(sa.String(255))
    cert_code: Mapped[str] = mapped_column(sa.String(100))
    siret: Mapped[str] = mapped_column(sa.String(14))
    route: Mapped[str] = mapped_column(sa.String(60))
    year: Mapped[int]
    abandoned: Mapped[bool]
    #: Months after the exit of the first award (0: on or before the exit); None: none yet.
    delay_months: Mapped[int | None]


#: A cell's counts, in the order of its vector (`refresh.Vector`): cohort, abandoned files,
#: d0 … d36.
VECTOR = ("cohort", "abandoned", *DELAY_COLUMNS)
#: The columns of a cell and of a period row, their id aside, in the order the refresh
#: writes and reads them.
CELL_COLUMNS = ("grain", *DIMENSIONS, "year", *VECTOR, "hidden", "secondary")
PERIOD_COLUMNS = ("grain", *DIMENSIONS, "year_from", "year_to", *VECTOR, "hidden", "secondary")


def _sums(*years: str) -> list[sa.Column[Any]]:
    """The columns cells and period rows share, around ``years`` (a cell's year, or a
    period's first and last): id, grain, dimensions, counts and disclosure flags."""
    return [
        sa.Column("id", BigIntPK, primary_key=True),
        sa.Column("grain", sa.String(5), nullable=False),
        *(sa.Column(name, sa.String(255 if name == "cert_type" else 100), nullable=False,
                    server_default="") for name in DIMENSIONS),
        *(sa.Column(name, sa.Integer, nullable=False) for name in years),
        *(sa.Column(name, sa.Integer, nullable=False, server_default="0") for name in VECTOR),
        sa.Column("hidden", sa.Integer, nullable=False, server_default="0"),
        sa.Column("secondary", sa.Integer, nullable=False, server_default="0"),
    ]


#: The sums by grain and exit year. Disclosure control of the national listings, decided
#: at refresh (roll-up grains only; ``base`` cells keep 0): bit i is set when the cell is
#: hidden in its year, at its grain, for the window ``service.WINDOWS[i]`` (``hidden``),
#: and when that is a secondary suppression (``secondary``).  Valid for
#: ``AnalyticsState.min_cell``.
cells = sa.Table(
    "analytics_cells",
    Base.metadata,
    *_sums("year"),
    sa.UniqueConstraint("grain", *DIMENSIONS, "year"),
    sa.Index(None, "grain", "siret", "year"),
    sa.Index(None, "grain", "route", "year"),
)

#: The national listings over every period of whole exit years, written at refresh from
#: the roll-up cells (``cert``, ``org``, ``route``, ``all``) and their flags: per group and
#: period [``year_from``, ``year_to``] (within the years of the cells, at most
#: ``service.MAX_YEARS`` long), the summed counts, and per window (one bit each, as in
#: ``analytics_cells``) whether the group is hidden in some year of the period
#: (``hidden``) and whether that hiding is secondary in the first such year
#: (``secondary``).  A national listing reads one row per group instead of adding its
#: years.  Valid with the flags, for ``AnalyticsState.min_cell``.
periods = sa.Table(
    "analytics_periods",
    Base.metadata,
    *_sums("year_from", "year_to"),
    sa.UniqueConstraint("grain", "year_from", "year_to", *DIMENSIONS,
                        name="uq_analytics_periods_period_group"),
)


class LineageKey(Base):
    """A certification code that belongs to a lineage, and the lineage's key."""

    __tablename__ = "analytics_lineage"

    cert_type: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    cert_code: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    lineage: Mapped[str] = mapped_column(sa.String(400))


class AnalyticsQuery(Base):
    """One analytics request: who, which parameters, when, how much came out."""

    __tablename__ = "analytics_queries"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    subject: Mapped[str] = mapped_column(sa.String(255))
    client_id: Mapped[str] = mapped_column(sa.String(100))
    endpoint: Mapped[str] = mapped_column(sa.String(40))
    parameters: Mapped[dict[str, Any]] = mapped_column(json_column())
    rows: Mapped[int]
    suppressed: Mapped[int]


class AnalyticsState(Base):
    """When the aggregates were last rebuilt (one row), and which state of them this is."""

    __tablename__ = "analytics_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    refreshed_at: Mapped[dt.datetime | None]  # last full refresh
    files: Mapped[int] = mapped_column(default=0)
    seconds: Mapped[float] = mapped_column(default=0.0)
    #: Last change of the cells, full or incremental refresh.
    updated_at: Mapped[dt.datetime | None]
    #: Random, new at every change of the cells: answers computed from one generation can
    #: be reused until the next (``service.success_rates`` caches by it).
    generation: Mapped[str | None] = mapped_column(sa.String(32))
    #: The disclosure threshold the cells' ``hidden`` flags were decided with (None: not
    #: decided yet, every answer is then worked out from the counts).
    min_cell: Mapped[int | None]
