"""Building and keeping the aggregates up to date.

A full refresh (``passport analytics refresh``) rebuilds the lineage keys, every file's
outcome, every cell and every period. The incremental refresh recomputes the outcomes of
the training files of a few holders (those of a processed deposit, or of imported training
files), applies the difference to the cells, and writes again the periods of the groups
that moved, so the aggregates stay exact without a full rebuild.
Both run under one lock (PostgreSQL advisory lock; SQLite's write lock), so two deposits
finishing together never count a file twice.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import time
import uuid
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from ingestion.bulk import BulkWriter
from passport.analytics.models import (
    CELL_COLUMNS,
    DELAY_COLUMNS,
    DIMENSIONS,
    MAX_DELAY_MONTHS,
    PERIOD_COLUMNS,
    VECTOR,
    AnalyticsState,
    FileOutcome,
    LineageKey,
    cells,
    periods,
)
from passport.analytics.service import FlaggedCell, Key, bounds, national_flags, national_periods
from passport.config import ANALYTICS_MIN_CELL
from passport.db import analyze, chunked, membership, table_of, unit_of_work, utcnow
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

    def add_to(self, vectors: defaultdict[tuple[Any, ...], Vector], sign: int = 1) -> None:
        """Count this file in (or, with ``sign`` −1, out of) its cell at every grain."""
        counters = self.counters()
        for key in self.cells():
            vector = vectors[key]
            for i in counters:
                vector[i] += sign

    def cells(self) -> tuple[tuple[Any, ...], ...]:
        """The cell of this file at each grain (see `GRAINS`)."""
        t, c, s, r, y = self.cert_type, self.cert_code, self.siret, self.route, self.year
        return (("base", t, c, s, r, y), ("cert", t, c, "", "", y), ("org", "", "", s, "", y),
                ("route", "", "", "", r, y), ("all", "", "", "", "", y))


#: The columns of an ``analytics_file_outcomes`` row: `Outcome`'s fields, in their order
#: (rows read back become ``Outcome(*row)``); `outcome_row` gives their values.
OUTCOME_COLUMNS = tuple(f.name for f in fields(Outcome))
outcome_row: Callable[[Outcome], tuple[Any, ...]] = attrgetter(*OUTCOME_COLUMNS)


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
    """Each counted file and its first award: the earliest non-withdrawn passage of its
    holder, on or after the entry, for the certification or one of its lineage.

    The holder's passages are joined directly (by ``holder_id``, indexed) and the lineage
    test is inside the ``min``: as a subquery of awards, SQLite materialised every passage
    of the store for each batch of files an incremental refresh reads."""
    tf, p, c = table_of(TrainingFile), table_of(Passage), table_of(Certification)
    lt, lp = table_of(LineageKey).alias("lt"), table_of(LineageKey).alias("lp")
    trained = sa.func.coalesce(lt.c.lineage,
                               tf.c.certification_type + ":" + tf.c.certification_code)
    obtained = sa.func.coalesce(lp.c.lineage, c.c.type + ":" + c.c.code)
    query = (
        sa.select(tf.c.id, tf.c.certification_type, tf.c.certification_code,
                  tf.c.siret_organisme, tf.c.modalite_acces, tf.c.date_sortie, tf.c.statut,
                  sa.func.min(sa.case((obtained == trained, p.c.date_debut_validite))))
        .select_from(
            tf.outerjoin(lt, sa.and_(lt.c.cert_type == tf.c.certification_type,
                                     lt.c.cert_code == tf.c.certification_code))
            .outerjoin(p, sa.and_(
                p.c.holder_id == tf.c.holder_id, p.c.withdrawn_at.is_(None),
                sa.or_(tf.c.date_entree.is_(None), p.c.date_debut_validite >= tf.c.date_entree)))
            .outerjoin(c, c.c.id == p.c.certification_id)
            .outerjoin(lp, sa.and_(lp.c.cert_type == c.c.type, lp.c.cert_code == c.c.code)))
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
    statement = statement.on_conflict_do_update(
        index_elements=["grain", *DIMENSIONS, "year"],
        set_={name: cells.c[name] + statement.excluded[name] for name in VECTOR})
    for start in range(0, len(rows), 2000):
        db.execute(statement, rows[start:start + 2000])
    return len(rows)


@dataclass
class RefreshResult:
    files: int
    cells: int
    seconds: float


def _outcome_writer(db: Session) -> BulkWriter:
    return BulkWriter(db, FileOutcome.__tablename__, OUTCOME_COLUMNS)


def full_refresh(db: Session, min_cell: int | None = None) -> RefreshResult:
    """Rebuild lineage keys, outcomes and cells from the training files and passages, and
    decide the national listings' disclosure at ``min_cell`` (default: the threshold of
    the last refresh)."""
    started = time.perf_counter()
    _lock(db)
    rebuild_lineage(db)
    db.execute(sa.delete(table_of(FileOutcome)))
    db.execute(sa.delete(cells))
    db.execute(sa.delete(periods))
    writer = _outcome_writer(db)
    totals = _vectors()
    batch: list[tuple[Any, ...]] = []
    files = 0
    for outcome in outcomes(db):
        files += 1
        batch.append(outcome_row(outcome))
        outcome.add_to(totals)
        if len(batch) >= 10_000:
            writer.write(batch)
            batch.clear()
    writer.write(batch)
    if min_cell is None:
        state = db.get(AnalyticsState, 1)
        min_cell = state.min_cell if state is not None and state.min_cell else ANALYTICS_MIN_CELL
    written = write_cells(db, totals, min_cell)
    seconds = time.perf_counter() - started
    _record(db, files, seconds, min_cell)
    analyze(db, "analytics_file_outcomes", "analytics_cells", "analytics_periods")
    log.info("analytics: full refresh of %s files into %s cells in %.1f s", files, written,
             seconds)
    return RefreshResult(files, written, seconds)


def write_cells(db: Session, totals: dict[Key, Vector], min_cell: int) -> int:
    """Write the cells of an empty ``analytics_cells`` (a plain bulk insert, COPY on
    PostgreSQL), with the national listings' disclosure decided at ``min_cell``, and their
    periods in an empty ``analytics_periods``."""
    flags = national_flags({k: v for k, v in totals.items() if k[0] != "base"}, min_cell)
    writer = BulkWriter(db, "analytics_cells", CELL_COLUMNS)
    rows = [(grain, *dims, int(year), *vector, *flags.get((grain, *dims, year), (0, 0)))
            for (grain, *dims, year), vector in totals.items()]
    for start in range(0, len(rows), 10_000):
        writer.write(rows[start:start + 10_000])
    by_group: defaultdict[Key, dict[int, FlaggedCell]] = defaultdict(dict)
    for key, vector in totals.items():
        if key[0] != "base":
            by_group[key[:-1]][int(key[-1])] = (vector, *flags.get(key, (0, 0)))
    if by_group:
        years = [key[-1] for key in totals]
        _write_periods(db, by_group, (int(min(years)), int(max(years))))
    return len(rows)


#: The dimension a roll-up grain's groups are told apart by (None: one group).
_GROUP_COLUMN = {"cert": "cert_code", "org": "siret", "route": "route", "all": None}


def _write_periods(db: Session, by_group: dict[Key, dict[int, FlaggedCell]],
                   years: tuple[int, int]) -> None:
    writer = BulkWriter(db, "analytics_periods", PERIOD_COLUMNS)
    batch: list[tuple[Any, ...]] = []
    for group, first, last, vector, hidden, secondary in national_periods(by_group, years):
        batch.append((*group, first, last, *vector, hidden, secondary))
        if len(batch) >= 10_000:
            writer.write(batch)
            batch.clear()
    writer.write(batch)


def _selected(db: Session, table: sa.Table, grain: str, column: str | None,
              values: list[Any] | None) -> Iterator[sa.ColumnElement[bool]]:
    """Conditions selecting the rows of ``table`` at ``grain`` whose ``column`` is among
    ``values`` (all of the grain's rows when None)."""
    if column is None or values is None:
        yield table.c.grain == grain
        return
    for condition in membership(db, table.c[column], values):
        yield sa.and_(table.c.grain == grain, condition)


def _rewrite_periods(db: Session, groups: set[Key] | None, years: tuple[int, int]) -> None:
    """Write again, from their cells, the period rows of these roll-up groups (``(grain,
    *dimensions)``; every group when None), and of those sharing their value of
    `_GROUP_COLUMN`, over the cells' ``years``."""
    columns = [cells.c[name] for name in CELL_COLUMNS]
    by_group: defaultdict[Key, dict[int, FlaggedCell]] = defaultdict(dict)
    for grain, column in _GROUP_COLUMN.items():
        values = None if groups is None else \
            [g[1 + DIMENSIONS.index(column)] if column else "" for g in groups if g[0] == grain]
        if values == []:
            continue
        for condition in _selected(db, periods, grain, column, values):
            db.execute(sa.delete(periods).where(condition))
        for condition in _selected(db, cells, grain, column, values):
            for row in db.execute(sa.select(*columns).where(condition)):
                by_group[tuple(row[:5])][row[5]] = (row[6:-2], row[-2], row[-1])
    _write_periods(db, by_group, years)


#: Training files an incremental refresh recomputes at a time: its memory is that of a
#: chunk, whatever the size of the deposit (17,000 files at once added 14 MB to a load).
REFRESH_CHUNK = 5000


def refresh_files(db: Session, file_ids: Iterable[int], *, ordered: bool = False
                  ) -> RefreshResult:
    """Recompute these training files' outcomes and move the cells by the difference.
    ``ordered``: ``file_ids`` is a sequence already sorted and without repeats."""
    started = time.perf_counter()
    _lock(db)
    fo = table_of(FileOutcome)
    deltas = _vectors()  # bounded by the cells, not by the files
    counted = 0
    ids = file_ids if ordered and isinstance(file_ids, Sequence) else sorted(set(file_ids))
    for chunk in chunked(ids, REFRESH_CHUNK):
        for condition in membership(db, fo.c.training_file_id, chunk):
            for row in db.execute(sa.select(fo).where(condition)):
                Outcome(*row).add_to(deltas, -1)
            db.execute(sa.delete(fo).where(condition))
        fresh = list(outcomes(db, chunk))
        for outcome in fresh:
            outcome.add_to(deltas)
        # COPY on PostgreSQL (an executemany of single-row INSERTs took 1 s of the 2 s a
        # 100,000-passage deposit's refresh lasted).
        _outcome_writer(db).write([outcome_row(outcome) for outcome in fresh])
        counted += len(fresh)
    state = db.get(AnalyticsState, 1)
    written = apply_deltas(db, deltas, state.min_cell if state is not None else None)
    if state is not None:
        _changed(state)
    return RefreshResult(counted, written, time.perf_counter() - started)


def apply_deltas(db: Session, deltas: dict[Key, Vector], min_cell: int | None) -> int:
    """Add ``deltas`` to the cells; with ``min_cell`` (the threshold of the flags), decide
    again the national listings' disclosure where cells moved and write again the periods
    of the groups whose cells or flags moved. Return the number of cells written."""
    before = bounds(db)
    written = _upsert(db, deltas)
    low, high = bounds(db)
    if min_cell and low is not None and high is not None:
        moved = {key for key, vector in deltas.items() if key[0] != "base" and any(vector)}
        moved |= _decide(db, {(key[0], key[-1]) for key in moved}, min_cell)
        # A new exit year adds periods to every group.
        _rewrite_periods(db, {key[:-1] for key in moved} if (low, high) == before else None,
                         (low, high))
    return written


def _decide(db: Session, grain_years: set[tuple[str, int]], min_cell: int) -> set[Key]:
    """Decide again the national listings' disclosure in these (grain, year)s, whose cells
    changed; return the keys of the cells whose flags moved."""
    changed = []
    columns = [cells.c.id, *(cells.c[name] for name in CELL_COLUMNS)]
    for grain, year in sorted(grain_years):
        found = db.execute(sa.select(*columns).where(cells.c.grain == grain,
                                                     cells.c.year == year)).all()
        vectors = {tuple(row[1:7]): row[7:-2] for row in found}
        flags = national_flags(vectors, min_cell)
        changed += [({"cell": row[0], "hidden": new[0], "secondary": new[1]}, tuple(row[1:7]))
                    for row in found
                    if (new := flags.get(tuple(row[1:7]), (0, 0))) != tuple(row[-2:])]
    if changed:
        db.execute(sa.update(cells).where(cells.c.id == sa.bindparam("cell"))
                   .values(hidden=sa.bindparam("hidden"), secondary=sa.bindparam("secondary")),
                   [values for values, _ in changed])
    return {key for _, key in changed}


def files_touched_by(deposit_id: int) -> sa.Select[tuple[int]]:
    """The ids, in order, of the training files of the holders a deposit brought passages
    to or withdrew passages from: one query, only the file ids come back (a 200,000-passage
    deposit's holder ids took 6 MB of the load), the passages found by their deposit's
    indexes."""
    p, tf = table_of(Passage), table_of(TrainingFile)
    touched = sa.select(p.c.holder_id).where(
        sa.or_(p.c.deposit_id == deposit_id, p.c.withdrawn_by_deposit_id == deposit_id))
    return sa.select(tf.c.id).where(tf.c.holder_id.in_(touched)).order_by(tf.c.id)


def after_deposit(factory: sessionmaker[Session], deposit_id: int) -> RefreshResult | None:
    """Bring the aggregates up to date with a processed deposit (its new passages and the
    ones it withdrew). Failure is logged, not raised: the deposit stands, and the next full
    refresh repairs the aggregates."""
    try:
        with unit_of_work(factory, immediate=True) as db:
            if not _built(db):  # first: finding the holders costs seconds on a big deposit
                return None
            # Distinct and in order already, 8 bytes each (a list, its set and its sorted
            # copy took 4 MB for a 200,000-passage deposit's 35,000 files).
            files = array("q", db.scalars(files_touched_by(deposit_id)))
            if not files:
                return None
            return refresh_files(db, files, ordered=True)
    except Exception:
        log.exception("analytics: incremental refresh after deposit %s failed; "
                      "run `passport analytics refresh`", deposit_id)
        return None


#: Past this many changed training files, an import rebuilds the aggregates.
FULL_REFRESH_PAST = 100_000


@dataclass
class ChangedFiles:
    """The training files an import inserted or changed: their ids, until there are so
    many that a full refresh is cheaper (then only that it is so: memory stays flat)."""

    ids: list[int] = field(default_factory=list)
    many: bool = False

    def add(self, ids: list[int]) -> None:
        if not self.many:
            self.ids.extend(ids)
            if len(self.ids) > FULL_REFRESH_PAST:
                self.many, self.ids = True, []


def after_training_import(db: Session, changed: ChangedFiles) -> RefreshResult | None:
    """Bring the aggregates up to date with the training files an import inserted or
    changed (in its transaction): incrementally for a few, fully when they are many."""
    if not _built(db) or not (changed.ids or changed.many):
        return None
    if changed.many:
        return full_refresh(db)
    return refresh_files(db, changed.ids)


def after_merge(db: Session, holder_id: int) -> RefreshResult | None:
    """Bring the aggregates up to date with a merged passport (in the merge's transaction):
    its training files now meet the passages of both."""
    if not _built(db):
        return None
    tf = table_of(TrainingFile)
    return refresh_files(db, list(db.scalars(
        sa.select(tf.c.id).where(tf.c.holder_id == holder_id).order_by(tf.c.id))), ordered=True)


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


def _record(db: Session, files: int, seconds: float, min_cell: int) -> None:
    state = db.get(AnalyticsState, 1) or AnalyticsState(id=1)
    state.refreshed_at, state.files, state.seconds = utcnow(), files, seconds
    state.min_cell = min_cell
    _changed(state)
    db.add(state)


def _changed(state: AnalyticsState) -> None:
    state.updated_at = utcnow()
    state.generation = uuid.uuid4().hex
