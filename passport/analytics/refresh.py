"""Building and keeping the aggregates up to date.

A full refresh (``passport analytics refresh``) rebuilds the lineage keys, every file's
outcome and every cell. The incremental refresh recomputes the outcomes of the training
files of a few holders (those of a processed deposit, or of imported training files) and
applies the difference to the cells, so the aggregates stay exact without a full rebuild.
Both run under one lock (PostgreSQL advisory lock; SQLite's write lock), so two deposits
finishing together never count a file twice.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from ingestion.bulk import BulkWriter
from passport.analytics.models import (
    DELAY_COLUMNS,
    DIMENSIONS,
    MAX_DELAY_MONTHS,
    AnalyticsState,
    FileOutcome,
    LineageKey,
    cells,
)
from passport.db import analyze, membership, table_of, unit_of_work, utcnow
from passport.records.models import Passage
from passport.referentials.models import Certification, Sheet
from passport.training.models import TrainingFile, TrainingStatus

log = logging.getLogger(__name__)

#: Key of the PostgreSQL advisory lock that serialises refreshes.
LOCK_KEY = 0x5041_5353  # "PASS"
NO_ROUTE = "NON_RENSEIGNEE"
COUNTED = (TrainingStatus.TERMINE.value, TrainingStatus.ABANDON.value)
Vector = list[int]  # cohort, abandoned, d0 … d36


def _vectors() -> defaultdict[tuple[Any, ...], Vector]:
    """Cell vectors by cell key, zero until added to."""
    return defaultdict(lambda: [0] * (2 + len(DELAY_COLUMNS)))


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` + ``months`` calendar months, the day clipped to the month's end
    (31 January + 1 month = 28 or 29 February)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def delay_months(exit_date: dt.date, award: dt.date) -> int:
    """The smallest whole number of months m ≥ 0 with ``award ≤ exit + m months``: an award
    counts within a window of W months exactly when this is ≤ W."""
    months = max(0, (award.year - exit_date.year) * 12 + award.month - exit_date.month)
    if award > add_months(exit_date, months):
        months += 1
    return months


@dataclass
class Outcome:
    """Where a file counts, and how it ended."""

    training_file_id: int
    cert_type: str
    cert_code: str
    siret: str
    route: str
    year: int
    abandoned: bool
    delay_months: int | None

    def counters(self) -> tuple[int, ...]:
        """The positions this file adds one to in a cell's vector (cohort, abandoned,
        d0 … d36)."""
        if self.abandoned:
            return (1,)
        if self.delay_months is not None and self.delay_months <= MAX_DELAY_MONTHS:
            return 0, 2 + self.delay_months
        return (0,)

    def cells(self) -> tuple[tuple[Any, ...], ...]:
        """The cell of this file at each grain (see `GRAINS`)."""
        t, c, s, r, y = self.cert_type, self.cert_code, self.siret, self.route, self.year
        return (("base", t, c, s, r, y), ("cert", t, c, "", "", y), ("org", "", "", s, "", y),
                ("route", "", "", "", r, y), ("all", "", "", "", "", y))


# -- computing outcomes ------------------------------------------------------------------
def _lock(db: Session) -> None:
    if db.get_bind().dialect.name == "postgresql":
        db.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK_KEY)))


def rebuild_lineage(db: Session) -> int:
    """Key every certification code of a lineage (predecessors and successors, followed
    transitively) by the lineage's smallest code; return the number of codes keyed."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(node: tuple[str, str]) -> tuple[str, str]:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def kind(numero: str) -> str:
        return "RS" if numero.startswith("RS") else "RNCP"

    for numero, before, after in db.execute(sa.select(
            Sheet.numero, Sheet.predecessors, Sheet.successors)):
        for other in [*(before or []), *(after or [])]:
            a, b = find((kind(numero), numero)), find((kind(other), other))
            if a != b:
                parent[max(a, b)] = min(a, b)
    db.execute(sa.delete(LineageKey))
    # Every code met here is linked to at least one other: all of them are keyed.
    rows = [{"cert_type": t, "cert_code": c, "lineage": ":".join(find((t, c)))}
            for t, c in parent]
    if rows:
        db.execute(sa.insert(LineageKey), rows)
    return len(rows)


def _outcome_query(file_filter: sa.ColumnElement[bool] | None) -> sa.Select[Any]:
    tf, p, c = table_of(TrainingFile), table_of(Passage), table_of(Certification)
    lt, lp = table_of(LineageKey).alias("lt"), table_of(LineageKey).alias("lp")
    awards = (
        sa.select(p.c.holder_id, p.c.date_debut_validite.label("award"),
                  sa.func.coalesce(lp.c.lineage, c.c.type + ":" + c.c.code).label("key"))
        .select_from(p.join(c, c.c.id == p.c.certification_id).outerjoin(
            lp, sa.and_(lp.c.cert_type == c.c.type, lp.c.cert_code == c.c.code)))
        .where(p.c.withdrawn_at.is_(None))
        .subquery("awards"))
    key = sa.func.coalesce(lt.c.lineage, tf.c.certification_type + ":" + tf.c.certification_code)
    query = (
        sa.select(tf.c.id, tf.c.certification_type, tf.c.certification_code,
                  tf.c.siret_organisme, tf.c.modalite_acces, tf.c.date_sortie, tf.c.statut,
                  sa.func.min(awards.c.award))
        .select_from(tf.outerjoin(lt, sa.and_(
            lt.c.cert_type == tf.c.certification_type,
            lt.c.cert_code == tf.c.certification_code)).outerjoin(awards, sa.and_(
                awards.c.holder_id == tf.c.holder_id, awards.c.key == key,
                sa.or_(tf.c.date_entree.is_(None), awards.c.award >= tf.c.date_entree))))
        .where(tf.c.statut.in_(COUNTED), tf.c.date_sortie.is_not(None))
        .group_by(tf.c.id, tf.c.certification_type, tf.c.certification_code,
                  tf.c.siret_organisme, tf.c.modalite_acces, tf.c.date_sortie, tf.c.statut))
    return query.where(file_filter) if file_filter is not None else query


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def _outcome(row: Sequence[Any]) -> Outcome:
    file_id, cert_type, cert_code, siret, route, exit_date, status, award = row
    exit_date = _date(exit_date)
    abandoned = status in (TrainingStatus.ABANDON, TrainingStatus.ABANDON.value)
    return Outcome(
        file_id, cert_type, cert_code, siret or "", route or NO_ROUTE, exit_date.year, abandoned,
        None if abandoned or award is None else delay_months(exit_date, _date(award)))


def outcomes(db: Session, file_ids: Iterable[int] | None = None) -> Iterator[Outcome]:
    """The outcome of the given training files (all when None), streamed."""
    if file_ids is None:
        if db.get_bind().dialect.name == "postgresql":
            # A cursor read to the end: plan for all rows (hash joins), not the first ones.
            db.execute(sa.text("SET LOCAL cursor_tuple_fraction = 1.0"))
        result = db.execute(_outcome_query(None).execution_options(
            stream_results=True, yield_per=10_000))
        yield from (_outcome(row) for row in result)
        return
    tf = table_of(TrainingFile)
    for condition in membership(db, tf.c.id, file_ids):
        yield from (_outcome(row) for row in db.execute(_outcome_query(condition)))


# -- writing cells -------------------------------------------------------------------------
def _upsert(db: Session, deltas: dict[tuple[Any, ...], Vector]) -> int:
    """Add ``deltas`` to the cells (creating missing ones), in key order (no deadlock)."""
    rows = []
    for key in sorted(deltas):
        vector = deltas[key]
        if not any(vector):
            continue
        grain, *dims, year = key
        rows.append({"grain": grain, **dict(zip(DIMENSIONS, dims, strict=True)),
                     "year": int(year), "cohort": vector[0], "abandoned": vector[1],
                     **dict(zip(DELAY_COLUMNS, vector[2:], strict=True))})
    if not rows:
        return 0
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(cells)
    counters = ("cohort", "abandoned", *DELAY_COLUMNS)
    statement = statement.on_conflict_do_update(
        index_elements=["grain", *DIMENSIONS, "year"],
        set_={name: cells.c[name] + statement.excluded[name] for name in counters})
    for start in range(0, len(rows), 2000):
        db.execute(statement, rows[start:start + 2000])
    return len(rows)


@dataclass
class RefreshResult:
    files: int
    cells: int
    seconds: float


def full_refresh(db: Session) -> RefreshResult:
    """Rebuild lineage keys, outcomes and cells from the training files and passages."""
    started = time.perf_counter()
    _lock(db)
    rebuild_lineage(db)
    db.execute(sa.delete(table_of(FileOutcome)))
    db.execute(sa.delete(cells))
    writer = BulkWriter(db, FileOutcome.__tablename__, (
        "training_file_id", "cert_type", "cert_code", "siret", "route", "year", "abandoned",
        "delay_months"))
    totals = _vectors()
    batch: list[tuple[Any, ...]] = []
    files = 0
    for outcome in outcomes(db):
        files += 1
        batch.append((outcome.training_file_id, outcome.cert_type, outcome.cert_code,
                      outcome.siret, outcome.route, outcome.year, outcome.abandoned,
                      outcome.delay_months))
        counters = outcome.counters()
        for key in outcome.cells():
            total = totals[key]
            for i in counters:
                total[i] += 1
        if len(batch) >= 10_000:
            writer.write(batch)
            batch.clear()
    writer.write(batch)
    # The cells were emptied above: a plain bulk insert (COPY), no conflict to handle.
    cell_writer = BulkWriter(db, "analytics_cells", (
        "grain", *DIMENSIONS, "year", "cohort", "abandoned", *DELAY_COLUMNS))
    rows = [(grain, *dims, int(year), *vector) for (grain, *dims, year), vector in totals.items()]
    for start in range(0, len(rows), 10_000):
        cell_writer.write(rows[start:start + 10_000])
    written = len(rows)
    seconds = time.perf_counter() - started
    _record(db, files, seconds)
    analyze(db, "analytics_file_outcomes", "analytics_cells")
    log.info("analytics: full refresh of %s files into %s cells in %.1f s", files, written,
             seconds)
    return RefreshResult(files, written, seconds)


def refresh_files(db: Session, file_ids: Iterable[int]) -> RefreshResult:
    """Recompute these training files' outcomes and move the cells by the difference."""
    started = time.perf_counter()
    ids = sorted(set(file_ids))
    _lock(db)
    fo = table_of(FileOutcome)
    deltas = _vectors()
    for condition in membership(db, fo.c.training_file_id, ids):
        for row in db.execute(sa.select(fo).where(condition)):
            old = Outcome(*row)
            for key in old.cells():
                for i in old.counters():
                    deltas[key][i] -= 1
        db.execute(sa.delete(fo).where(condition))
    fresh = list(outcomes(db, ids))
    for outcome in fresh:
        for key in outcome.cells():
            for i in outcome.counters():
                deltas[key][i] += 1
    if fresh:
        db.execute(sa.insert(fo), [vars(o) for o in fresh])
    written = _upsert(db, deltas)
    if (state := db.get(AnalyticsState, 1)) is not None:
        _changed(state)
    return RefreshResult(len(fresh), written, time.perf_counter() - started)


def holders_files(db: Session, holder_ids: Iterable[int]) -> list[int]:
    """The training files of these holders."""
    tf = table_of(TrainingFile)
    return [i for condition in membership(db, tf.c.holder_id, holder_ids)
            for (i,) in db.execute(sa.select(tf.c.id).where(condition))]


def after_deposit(factory: sessionmaker[Session], deposit_id: int) -> RefreshResult | None:
    """Bring the aggregates up to date with a processed deposit (its new passages and the
    ones it withdrew). Failure is logged, not raised: the deposit stands, and the next full
    refresh repairs the aggregates."""
    try:
        with unit_of_work(factory, immediate=True) as db:
            if not _built(db):  # first: finding the holders costs seconds on a big deposit
                return None
            p = table_of(Passage)
            holders = [h for (h,) in db.execute(sa.select(p.c.holder_id).distinct().where(
                sa.or_(p.c.deposit_id == deposit_id, p.c.withdrawn_by_deposit_id == deposit_id)))]
            if not holders:
                return None
            return refresh_files(db, holders_files(db, holders))
    except Exception:
        log.exception("analytics: incremental refresh after deposit %s failed; "
                      "run `passport analytics refresh`", deposit_id)
        return None


def after_training_import(db: Session, id_dossiers: Sequence[str]) -> RefreshResult | None:
    """Bring the aggregates up to date with imported training files (in the import's
    transaction): incrementally for a few, fully when the import is large."""
    if not _built(db):
        return None
    if len(id_dossiers) > 100_000:
        return full_refresh(db)
    tf = table_of(TrainingFile)
    ids = [i for condition in membership(db, tf.c.id_dossier, id_dossiers)
           for (i,) in db.execute(sa.select(tf.c.id).where(condition))]
    return refresh_files(db, ids)


def after_referential_import(db: Session) -> RefreshResult | None:
    """Rebuild the aggregates when an import changed the lineages (in its transaction)."""
    if not _built(db):
        return None

    def keys() -> dict[tuple[str, str], str]:
        return {(k.cert_type, k.cert_code): k.lineage for k in db.scalars(sa.select(LineageKey))}

    before = keys()
    rebuild_lineage(db)
    if keys() == before:
        return None
    return full_refresh(db)


def _built(db: Session) -> bool:
    """Whether a full refresh ever ran (before, there is nothing to keep up to date)."""
    return db.get(AnalyticsState, 1) is not None


def _record(db: Session, files: int, seconds: float) -> None:
    state = db.get(AnalyticsState, 1) or AnalyticsState(id=1)
    state.refreshed_at, state.files, state.seconds = utcnow(), files, seconds
    _changed(state)
    db.add(state)


def _changed(state: AnalyticsState) -> None:
    state.updated_at = utcnow()
    state.generation = uuid.uuid4().hex
