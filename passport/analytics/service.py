"""Success rates from the precomputed cells, with statistical disclosure control.

Rules (docs/analytics.md has the reasoning and examples):

* **primary suppression**: a cell whose cohort, successes or failures (cohort − successes)
  is under ``min_cell`` is suppressed;
* **periods are whole exit years**, and a cell over several years is published only if each
  of its years is published at the same grouping and filters: the difference between two
  overlapping periods is then a sum of published years, never a hidden one;
* **secondary suppression**, in each year and over the period: the query's total can be
  known (it is another query's cell), so the suppressed cells must never be one alone nor
  add up to an unsafe sum; the smallest published cells are suppressed too until they do.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport.analytics.models import (
    DELAY_COLUMNS,
    GRAINS,
    AnalyticsQuery,
    AnalyticsState,
    cells,
    periods,
)
from passport.analytics.stats import quartiles, wilson
from passport.db import membership
from passport.errors import InvalidInput
from passport.referentials import service as referentials

log = logging.getLogger(__name__)

WINDOWS = (6, 12, 18, 24, 36)
GROUPS: dict[str, tuple[str, ...]] = {
    "certification": ("cert_type", "cert_code"),
    "organisation": ("siret",),
    "access_route": ("route",),
    "year": (),
}
MAX_YEARS = 10


class AnalyticsInputError(InvalidInput):
    """Analytics parameters that cannot be answered as asked."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


@dataclass(frozen=True)
class Query:
    """A success-rate question, normalised."""

    group_by: str = "certification"
    certification: str | None = None
    organisation: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    window_months: int = 12

    def parameters(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: What disclosure control looks at: (cohort, successes).
Cell = tuple[int, int]


@dataclass
class Figures:
    """What a published row shows: finished and abandoned files, awards by month of delay."""

    cohort: int
    abandoned: int
    delays: list[int]

    @classmethod
    def added(cls, parts: Iterable[Figures]) -> Figures:
        """The figures of the parts together."""
        parts = list(parts)
        return cls(sum(f.cohort for f in parts), sum(f.abandoned for f in parts),
                   [sum(column) for column in zip(*(f.delays for f in parts), strict=True)])


def safe(cell: Cell, min_cell: int) -> bool:
    """Primary rule: cohort, successes and failures all reach the threshold."""
    cohort, successes = cell
    return min(cohort, successes, cohort - successes) >= min_cell


def _sum(values: Iterable[Cell]) -> Cell:
    cohort = successes = 0
    for c, s in values:
        cohort += c
        successes += s
    return cohort, successes


def complement(cells_by_key: dict[Any, Cell], suppressed: set[Any], min_cell: int) -> set[Any]:
    """Secondary suppression: grow ``suppressed`` (smallest cells first) until the hidden
    cells are not one alone and add up to a safe sum, or nothing is left to hide."""
    hidden = set(suppressed)
    cohort, successes = _sum(cells_by_key[k] for k in hidden)
    candidates: list[Any] | None = None
    while hidden and (len(hidden) == 1 or not safe((cohort, successes), min_cell)):
        if candidates is None:  # sorted once, only when needed (rarely)
            candidates = sorted((k for k in cells_by_key if k not in hidden),
                                key=lambda k: (cells_by_key[k][0], str(k)), reverse=True)
        if not candidates:
            break
        key = candidates.pop()
        hidden.add(key)
        cohort += cells_by_key[key][0]
        successes += cells_by_key[key][1]
    return hidden


def hidden_in_year(in_year: dict[Any, Cell], min_cell: int) -> tuple[set[Any], set[Any]]:
    """The yearly rule: the cells hidden for themselves (primary), and all the hidden ones
    once secondary suppression protected them."""
    primary = {key for key, cell in in_year.items() if not safe(cell, min_cell)}
    return primary, complement(in_year, primary, min_cell)


def national_flags(vectors: Mapping[tuple[Any, ...], Sequence[int]], min_cell: int
                   ) -> dict[tuple[Any, ...], tuple[int, int]]:
    """The per-year disclosure decisions of the national listings, for every window.

    ``vectors`` maps cell keys ``(grain, *dimensions, year)`` of one or more roll-up grains
    (whole years: every cell of a grain and year, since the decisions of a year depend on
    all its cells) to ``(cohort, abandoned, d0 … d36)``.  Returns, per cell with a cohort,
    the bit masks ``(hidden, secondary)`` of ``analytics_cells``: the same decisions as the
    yearly pass of `_suppress` for a query without filters at that grain."""
    years: dict[tuple[Any, Any], list[tuple[tuple[Any, ...], Sequence[int]]]] = defaultdict(list)
    for key, vector in vectors.items():
        if vector[0] > 0:
            years[key[0], key[-1]].append((key, vector))
    flags: dict[tuple[Any, ...], tuple[int, int]] = {}
    for in_year in years.values():
        successes = {key: list(accumulate(vector[2:])) for key, vector in in_year}
        hidden = dict.fromkeys(successes, 0)
        secondary = dict.fromkeys(successes, 0)
        for bit, window in enumerate(WINDOWS):
            primary, hidden_keys = hidden_in_year(
                {key: (vector[0], successes[key][window]) for key, vector in in_year}, min_cell)
            for key in hidden_keys:
                hidden[key] |= 1 << bit
                if key not in primary:
                    secondary[key] |= 1 << bit
        flags.update((key, (hidden[key], secondary[key])) for key in hidden)
    return flags


Key = tuple[Any, ...]
#: A roll-up cell as `national_periods` takes it: its vector (cohort, abandoned, d0 … d36)
#: and its flags (hidden, secondary).
FlaggedCell = tuple[Sequence[int], int, int]


def national_periods(by_group: Mapping[Key, Mapping[int, FlaggedCell]], bounds: tuple[int, int]
                     ) -> Iterator[tuple[Key, int, int, list[int], int, int]]:
    """Each group's figures over every period within ``bounds`` (the years of the cells;
    at most `MAX_YEARS` long) in which it has a cell: ``(group, year_from, year_to, summed
    vector, hidden, secondary)``. For each window, a group is hidden over a period when it
    is hidden in one of its years, for the reason of the first such year: the period
    rows of ``analytics_periods``."""
    low, high = bounds
    # Period by period, every group's row together: the rows a listing reads are written
    # side by side (a few pages, not one page per row).
    for first in range(low, high + 1):
        running: dict[Key, tuple[list[int], int, int]] = {}
        for year in range(first, min(high, first + MAX_YEARS - 1) + 1):
            for group, by_year in by_group.items():
                cell = by_year.get(year)
                if cell is None:
                    continue
                vector, in_year, why = cell
                before = running.get(group)
                if before is None:
                    running[group] = list(vector), in_year, why & in_year
                    continue
                total, hidden, secondary = before
                running[group] = ([a + b for a, b in zip(total, vector, strict=True)],
                                  hidden | in_year,
                                  secondary | why & in_year & ~hidden)  # first hidden now
            for group, (total, hidden, secondary) in running.items():
                yield group, first, year, total, hidden, secondary


def _grain(query: Query) -> str:
    needed = set(GROUPS[query.group_by])
    if query.certification:
        needed |= {"cert_type", "cert_code"}
    if query.organisation:
        needed.add("siret")
    for grain, kept in (("all", ()), ("cert", ("cert_type", "cert_code")), ("org", ("siret",)),
                        ("route", ("route",))):
        if needed <= set(kept):
            return grain
    return "base"


def bounds(db: Session) -> tuple[int | None, int | None]:
    """The first and last exit years of the cells (None, None: nothing computed yet)."""
    low, high = db.execute(sa.select(sa.func.min(cells.c.year), sa.func.max(cells.c.year))
                           .where(cells.c.grain == "all")).one()
    return low, high


def _years(db: Session, query: Query) -> tuple[tuple[int, int], tuple[int, int]]:
    """The query's period, and the same within the years of the cells (what it covers)."""
    low, high = bounds(db)
    year_from = query.year_from if query.year_from is not None else low
    year_to = query.year_to if query.year_to is not None else high
    if low is None or high is None or year_from is None or year_to is None:
        return (0, -1), (0, -1)  # nothing computed yet: an empty answer
    if query.year_from is None and year_to - year_from >= MAX_YEARS:
        year_from = year_to - MAX_YEARS + 1
    if year_from > year_to:
        raise AnalyticsInputError("periode_invalide", f"from ({year_from}) is after to ({year_to})")
    if year_to - year_from >= MAX_YEARS:
        raise AnalyticsInputError("periode_trop_longue",
                                  f"a period covers at most {MAX_YEARS} exit years")
    return (year_from, year_to), (max(year_from, low), min(year_to, high))


def _filtered(statement: sa.Select[Any], query: Query) -> sa.Select[Any]:
    statement = statement.where(cells.c.grain == _grain(query))
    if query.certification:
        statement = statement.where(cells.c.cert_code == query.certification)
    if query.organisation:
        statement = statement.where(cells.c.siret == query.organisation)
    return statement


def _total(column: Any) -> Any:
    """SUM as a plain integer: PostgreSQL's SUM of integers is a numeric, which the driver
    turns into a Decimal per value (a national listing reads 60,000 of them)."""
    return sa.cast(sa.func.sum(column), sa.BigInteger)


def _fetch(db: Session, query: Query, years: tuple[int, int]
           ) -> dict[tuple[Any, ...], dict[int, Cell]]:
    """(cohort, successes) by group and exit year: what disclosure control needs."""
    grain = _grain(query)
    dims = [cells.c[d] for d in GROUPS[query.group_by]] or [cells.c.year]
    successes = sum((cells.c[d] for d in DELAY_COLUMNS[1:query.window_months + 1]),
                    start=cells.c[DELAY_COLUMNS[0]])
    if set(GRAINS[grain]) == set(GROUPS[query.group_by]):
        # The grain's cells are the groups' cells: no aggregate to compute.
        statement = sa.select(*dims, cells.c.year, cells.c.cohort, successes)
    else:
        statement = (sa.select(*dims, cells.c.year, _total(cells.c.cohort), _total(successes))
                     .group_by(*dims, cells.c.year))
    statement = _filtered(statement.where(cells.c.year.between(*years), cells.c.cohort > 0),
                          query)
    found: dict[tuple[Any, ...], dict[int, Cell]] = defaultdict(dict)
    width = len(dims)
    for row in db.connection().execute(statement).all():
        found[tuple(row[:width])][row[width]] = (row[width + 1], row[width + 2])
    return found


def _figures_of(db: Session, query: Query, years: tuple[int, int]
                ) -> dict[tuple[Any, ...], Figures]:
    """Cohort, abandoned files and the delay histogram by group over the whole period."""
    dims = [cells.c[d] for d in GROUPS[query.group_by]] or [cells.c.year]
    statement = _filtered(
        sa.select(*dims, _total(cells.c.cohort), _total(cells.c.abandoned),
                  *(_total(cells.c[d]) for d in DELAY_COLUMNS[:query.window_months + 1]))
        .where(cells.c.year.between(*years)).group_by(*dims), query)
    width = len(dims)
    return {tuple(row[:width]): Figures(row[width], row[width + 1], list(row[width + 2:]))
            for row in db.connection().execute(statement).all()}


def _suppress(found: dict[tuple[Any, ...], dict[int, Cell]], years: tuple[int, int],
              min_cell: int) -> tuple[dict[tuple[Any, ...], str], bool]:
    """Which rows are hidden and why (``primary`` or ``secondary``); whether the total is."""
    reasons: dict[tuple[Any, ...], str] = {}
    total_hidden = False
    for year in range(years[0], years[1] + 1):
        in_year = {k: by_year[year] for k, by_year in found.items() if year in by_year}
        if not in_year:
            continue
        primary, hidden = hidden_in_year(in_year, min_cell)
        for key in hidden:
            reasons.setdefault(key, "primary" if key in primary else "secondary")
        total_hidden |= not safe(_sum(in_year.values()), min_cell)
    period = {k: _sum(by_year.values()) for k, by_year in found.items()}
    total_hidden |= _suppress_period(period, reasons, min_cell)
    return reasons, total_hidden


def _suppress_period(period: dict[tuple[Any, ...], Cell], reasons: dict[tuple[Any, ...], str],
                     min_cell: int) -> bool:
    """The rule over the whole period, after the yearly ones (which filled ``reasons``):
    add to ``reasons``; return whether the period's total is hidden."""
    # `safe`, inlined (a national listing has thousands of groups).
    for key in [key for key, (cohort, successes) in period.items()
                if cohort < min_cell or successes < min_cell or cohort - successes < min_cell]:
        reasons.setdefault(key, "primary")
    for key in complement(period, set(reasons), min_cell) - reasons.keys():
        reasons[key] = "secondary"
    return not safe(_sum(period.values()), min_cell)


def _decided(query: Query, min_cell: int, state: AnalyticsState | None) -> bool:
    """Whether the yearly decisions of this query were taken at refresh: a national
    listing (no filter; by certification, organisation or access route) at the threshold
    the flags were decided with."""
    return (state is not None and state.min_cell == min_cell and not query.certification
            and not query.organisation and query.group_by != "year"
            and query.window_months in WINDOWS)



@dataclass
class Listing:
    """What a query's answer is made of, however it was worked out."""

    cohorts: dict[Key, int]  # every group met, with its finished files over the period
    reasons: dict[Key, str]  # hidden groups and why
    figures: dict[Key, Figures]  # at least every published group's
    total: Figures  # the whole query's
    total_hidden: bool


def _listing(db: Session, query: Query, years: tuple[int, int], min_cell: int) -> Listing:
    """Work the answer out from the yearly cells of each group."""
    by_year = _fetch(db, query, years)
    reasons, total_hidden = _suppress(by_year, years, min_cell)
    figures = _figures_of(db, query, years) if by_year else {}
    return Listing({key: f.cohort for key, f in figures.items()}, reasons, figures,
                   Figures.added(figures.values()), total_hidden)


@functools.cache
def _national_statements(group_by: str, window_months: int
                         ) -> tuple[sa.Select[Any], sa.Select[Any], sa.Select[Any]]:
    """The three reads of `_national` for a grouping and window, built once (the period's
    years are bound at execution): narrow rows, the total's row, full rows."""
    bit = 1 << WINDOWS.index(window_months)
    dims = [periods.c[d] for d in GROUPS[group_by]]
    delays = [periods.c[d] for d in DELAY_COLUMNS[:window_months + 1]]
    successes = sum(delays[1:], start=delays[0])
    in_period = (periods.c.year_from == sa.bindparam("year_from"),
                 periods.c.year_to == sa.bindparam("year_to"))
    grain = periods.c.grain == _grain(Query(group_by=group_by))
    return (
        sa.select(*dims, periods.c.hidden.bitwise_and(bit), periods.c.secondary.bitwise_and(bit),
                  periods.c.cohort, successes).where(grain, *in_period, periods.c.cohort > 0),
        sa.select(periods.c.hidden.bitwise_and(bit), periods.c.cohort, periods.c.abandoned,
                  *delays).where(periods.c.grain == "all", *in_period),
        sa.select(*dims, periods.c.cohort, periods.c.abandoned, *delays).where(grain, *in_period),
    )


def _national(db: Session, query: Query, years: tuple[int, int], min_cell: int) -> Listing:
    """A national listing from the period rows written at refresh (``years`` within the
    years of the cells): per group, the period's cohort and successes and whether it is
    hidden in one of the years (and why); the period rule; then the full figures of the
    published groups only, and the total from the row of the ``all`` grain. The same
    answer as `_listing` (a property test checks it), reading one row per group."""
    narrow, total_of, full = _national_statements(query.group_by, query.window_months)
    period_of = {"year_from": years[0], "year_to": years[1]}
    connection = db.connection()
    width = len(GROUPS[query.group_by])
    cohorts: dict[Key, int] = {}
    period: dict[Key, Cell] = {}
    reasons: dict[Key, str] = {}
    for row in connection.execute(narrow, period_of).all():
        key = tuple(row[:width])
        cohorts[key] = row[width + 2]
        period[key] = (row[width + 2], row[width + 3])
        if row[width]:
            reasons[key] = "secondary" if row[width + 1] else "primary"
    total_row = connection.execute(total_of, period_of).first()
    # The ``all`` row is hidden in a year exactly when that year's total is unsafe.
    total_hidden = bool(total_row and total_row[0])
    total_hidden |= _suppress_period(period, reasons, min_cell)
    total = Figures(total_row[1], total_row[2], list(total_row[3:])) if total_row else \
        Figures(0, 0, [])
    published = {key[-1] for key in period if key not in reasons}
    # The published groups' rows; all rows of the period when they are most of them (an
    # array of a thousand codes costs more to send than the rows it leaves out).
    last = periods.c[GROUPS[query.group_by][-1]]
    statements = ([full.where(condition) for condition in membership(db, last, published)]
                  if 2 * len(published) < len(period) else [full]) if published else []
    figures: dict[Key, Figures] = {}
    for statement in statements:
        for row in connection.execute(statement, period_of).all():
            key = tuple(row[:width])
            if key in period and key not in reasons:
                figures[key] = Figures(row[width], row[width + 1], list(row[width + 2:]))
    return Listing(cohorts, reasons, figures, total, total_hidden)


#: The figures of a suppressed row.
_NO_FIGURES: dict[str, Any] = dict.fromkeys((
    "cohort", "successes", "rate", "interval", "abandoned", "abandonment_rate", "delay_months"))


def _figures(figures: Figures | None, min_cell: int) -> dict[str, Any]:
    if figures is None:
        return _NO_FIGURES
    running = list(accumulate(figures.delays))
    successes = running[-1]
    low, high = wilson(successes, figures.cohort)
    started = figures.cohort + figures.abandoned
    show_abandoned = figures.abandoned >= min_cell
    return {
        "cohort": figures.cohort, "successes": successes,
        "rate": round(successes / figures.cohort, 4),
        "interval": {"low": round(low, 4), "high": round(high, 4), "level": 0.95,
                     "method": "wilson"},
        "abandoned": figures.abandoned if show_abandoned else None,
        "abandonment_rate": round(figures.abandoned / started, 4) if show_abandoned else None,
        "delay_months": quartiles(running),
    }


def _labels(db: Session, query: Query, keys: Iterable[tuple[Any, ...]]) -> dict[str, str]:
    if query.group_by != "certification":
        return {}
    return referentials.titles(db, (key[1] for key in keys))


def _group(query: Query, key: tuple[Any, ...], labels: dict[str, str]) -> dict[str, Any]:
    if query.group_by == "certification":
        return {"certification_type": key[0], "certification": key[1],
                "title": labels.get(key[1])}
    if query.group_by == "organisation":
        return {"organisation": key[0] or None}
    if query.group_by == "access_route":
        return {"access_route": key[0]}
    return {"year": int(key[0])}


#: Answers by (query, threshold), with the generation of the cells they come from.  The
#: cells only change at a refresh, which draws a new generation: an answer is reused until
#: then (a national listing costs 0.1–0.3 s to compute, a few microseconds to reuse).
#: Bounded by rows (about 1 kB each), least recently used first out.
_answers: OrderedDict[tuple[Query, int], tuple[str, dict[str, Any]]] = OrderedDict()
_answers_lock = threading.Lock()
CACHED_ROWS = 40_000


def success_rates(db: Session, query: Query, min_cell: int) -> dict[str, Any]:
    """The rows of ``query``, suppressed where disclosure control says so (a shared
    answer: read it, do not change it)."""
    state = db.get(AnalyticsState, 1)
    generation = state.generation if state is not None else None
    key = (query, min_cell)
    if generation is not None:
        with _answers_lock:
            cached = _answers.get(key)
            if cached is not None and cached[0] == generation:
                _answers.move_to_end(key)
                return cached[1]
    result = _compute(db, query, min_cell, state)
    if generation is not None:
        with _answers_lock:
            _answers[key] = (generation, result)
            rows = sum(len(answer["rows"]) + 1 for _, answer in _answers.values())
            while rows > CACHED_ROWS and len(_answers) > 1:
                _, (_, evicted) = _answers.popitem(last=False)
                rows -= len(evicted["rows"]) + 1
    return result


def _compute(db: Session, query: Query, min_cell: int, state: AnalyticsState | None
             ) -> dict[str, Any]:
    years, covered = _years(db, query)
    if covered[0] > covered[1]:  # nothing computed yet, or a period without any cell
        listing = Listing({}, {}, {}, Figures(0, 0, []), False)
    elif _decided(query, min_cell, state):
        listing = _national(db, query, covered, min_cell)
    else:
        listing = _listing(db, query, years, min_cell)
    # The rows: groups with finished files in the period (a group with only abandoned
    # files counts in the total's abandonment figure, not as a row).
    keys = sorted(key for key, cohort in listing.cohorts.items() if cohort > 0)
    found = bool(keys)
    labels = _labels(db, query, keys)
    rows = []
    reasons, figures = listing.reasons, listing.figures
    for key in keys:
        reason = reasons.get(key)
        rows.append({"group": _group(query, key, labels), "suppressed": reason is not None,
                     "suppression": reason,
                     **(_NO_FIGURES if reason else _figures(figures[key], min_cell))})
    total_hidden = listing.total_hidden
    return {
        "parameters": {**query.parameters(), "year_from": years[0] if found else query.year_from,
                       "year_to": years[1] if found else query.year_to},
        "min_cell": min_cell,
        "rows": rows,
        "total": {"suppressed": total_hidden and found,
                  **_figures(None if total_hidden or not found else listing.total, min_cell)},
        "refreshed_at": state.refreshed_at if state else None,
        "updated_at": state.updated_at if state else None,
    }


def record(db: Session, *, subject: str, client_id: str, endpoint: str, query: Query,
           result: dict[str, Any]) -> None:
    """Log an analytics request (who, what, when; never a person's data)."""
    suppressed = sum(1 for row in result["rows"] if row["suppressed"])
    db.add(AnalyticsQuery(subject=subject, client_id=client_id, endpoint=endpoint,
                          parameters=query.parameters(), rows=len(result["rows"]),
                          suppressed=suppressed))
    log.info("analytics %s by %s: %s (%s rows, %s suppressed)", endpoint, subject,
             query.parameters(), len(result["rows"]), suppressed)


def csv_rows(result: dict[str, Any]) -> Iterator[list[Any]]:
    """The result as CSV rows, header first, the total last."""
    group_columns = list(result["rows"][0]["group"]) if result["rows"] else ["group"]
    yield [*group_columns, "cohort", "successes", "rate", "ci_low", "ci_high", "abandoned",
           "abandonment_rate", "delay_q1_months", "delay_median_months", "delay_q3_months",
           "suppressed"]
    for row in [*result["rows"], {**result["total"], "group": {}}]:
        interval, delays = row["interval"] or {}, row["delay_months"] or {}
        group = [row["group"].get(c) for c in group_columns] if row["group"] else \
            ["TOTAL", *[None] * (len(group_columns) - 1)]
        yield [*group, row["cohort"], row["successes"], row["rate"], interval.get("low"),
               interval.get("high"), row["abandoned"], row["abandonment_rate"],
               delays.get("q1"), delays.get("median"), delays.get("q3"),
               "true" if row["suppressed"] else "false"]
