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
)
from passport.analytics.stats import quartiles_months, wilson
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

    @property
    def successes(self) -> int:
        return sum(self.delays)

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


def _years(db: Session, query: Query) -> tuple[int, int]:
    low, high = db.execute(sa.select(sa.func.min(cells.c.year), sa.func.max(cells.c.year))
                           .where(cells.c.grain == "all")).one()
    year_from = query.year_from if query.year_from is not None else low
    year_to = query.year_to if query.year_to is not None else high
    if year_from is None or year_to is None:
        return 0, -1  # nothing computed yet: an empty answer
    if query.year_from is None and year_to - year_from >= MAX_YEARS:
        year_from = year_to - MAX_YEARS + 1
    if year_from > year_to:
        raise AnalyticsInputError("periode_invalide", f"from ({year_from}) is after to ({year_to})")
    if year_to - year_from >= MAX_YEARS:
        raise AnalyticsInputError("periode_trop_longue",
                                  f"a period covers at most {MAX_YEARS} exit years")
    return year_from, year_to


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


def _figures_of(db: Session, query: Query, years: tuple[int, int],
                *conditions: sa.ColumnElement[bool]) -> dict[tuple[Any, ...], Figures]:
    """Cohort, abandoned files and the delay histogram by group over the whole period
    (of the groups meeting ``conditions``)."""
    dims = [cells.c[d] for d in GROUPS[query.group_by]] or [cells.c.year]
    statement = _filtered(
        sa.select(*dims, _total(cells.c.cohort), _total(cells.c.abandoned),
                  *(_total(cells.c[d]) for d in DELAY_COLUMNS[:query.window_months + 1]))
        .where(cells.c.year.between(*years), *conditions).group_by(*dims), query)
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
    for key, cell in period.items():
        if not safe(cell, min_cell):
            reasons.setdefault(key, "primary")
    for key in complement(period, set(reasons), min_cell):
        reasons.setdefault(key, "secondary")
    return not safe(_sum(period.values()), min_cell)


def _decided(query: Query, min_cell: int, state: AnalyticsState | None) -> bool:
    """Whether the yearly decisions of this query were taken at refresh: a national
    listing (no filter) at the threshold the flags were decided with."""
    return (state is not None and state.min_cell == min_cell and not query.certification
            and not query.organisation and query.window_months in WINDOWS)


Key = tuple[Any, ...]


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


def _national(db: Session, query: Query, years: tuple[int, int], min_cell: int) -> Listing:
    """A national listing from the decisions taken at refresh: per group, the period's
    cohort and successes and the first year the group is hidden in (with why); the period
    rule; then the full figures of the published groups only, and the total from the
    cells of the ``all`` grain (every group's cells add up to them). The same answer as
    `_listing` (a property test checks it), without reading each group's years."""
    bit = 1 << WINDOWS.index(query.window_months)
    dims = [cells.c[d] for d in GROUPS[query.group_by]] or [cells.c.year]
    delays = [cells.c[d] for d in DELAY_COLUMNS[:query.window_months + 1]]
    successes = sum(delays[1:], start=delays[0])
    # The first year hidden, doubled, plus one when that hiding is secondary (None: never).
    first_hidden = sa.func.min(sa.case(
        (cells.c.hidden.bitwise_and(bit) != 0,
         cells.c.year * 2 + sa.case((cells.c.secondary.bitwise_and(bit) != 0, 1), else_=0))))
    in_period = cells.c.year.between(*years)
    statement = _filtered(
        sa.select(*dims, first_hidden, _total(cells.c.cohort), _total(successes))
        .where(in_period).group_by(*dims), query)
    width = len(dims)
    cohorts: dict[Key, int] = {}
    period: dict[Key, Cell] = {}
    reasons: dict[Key, str] = {}
    for row in db.connection().execute(statement).all():
        key = tuple(row[:width])
        cohorts[key] = row[width + 1]
        if row[width + 1] > 0:
            period[key] = (row[width + 1], row[width + 2])
        if row[width] is not None:
            reasons[key] = "secondary" if row[width] % 2 else "primary"
    # Each year's total is the cell of the ``all`` grain.
    yearly = db.connection().execute(
        sa.select(cells.c.cohort, cells.c.abandoned, *delays)
        .where(cells.c.grain == "all", in_period)).all()
    total_hidden = any(not safe((row[0], sum(row[2:])), min_cell) for row in yearly if row[0])
    total_hidden |= _suppress_period(period, reasons, min_cell)
    total = Figures.added(Figures(row[0], row[1], list(row[2:])) for row in yearly)
    published = {key for key in period if key not in reasons}
    figures: dict[Key, Figures] = {}
    for condition in (membership(db, dims[-1], {key[-1] for key in published})
                      if published else ()):
        figures.update((key, f) for key, f in _figures_of(db, query, years, condition).items()
                       if key in published)
    return Listing(cohorts, reasons, figures, total, total_hidden)


def _figures(figures: Figures | None, min_cell: int) -> dict[str, Any]:
    if figures is None:
        return {"cohort": None, "successes": None, "rate": None, "interval": None,
                "abandoned": None, "abandonment_rate": None, "delay_months": None}
    successes = figures.successes
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
        "delay_months": quartiles_months(figures.delays),
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
    years = _years(db, query)
    if years[0] > years[1]:  # nothing computed yet
        listing = Listing({}, {}, {}, Figures(0, 0, []), False)
    elif _decided(query, min_cell, state):
        listing = _national(db, query, years, min_cell)
    else:
        listing = _listing(db, query, years, min_cell)
    # The rows: groups with finished files in the period (a group with only abandoned
    # files counts in the total's abandonment figure, not as a row).
    keys = sorted(key for key, cohort in listing.cohorts.items() if cohort > 0)
    found = bool(keys)
    labels = _labels(db, query, keys)
    rows = []
    for key in keys:
        reason = listing.reasons.get(key)
        rows.append({"group": _group(query, key, labels), "suppressed": reason is not None,
                     "suppression": reason,
                     **_figures(None if reason else listing.figures[key], min_cell)})
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
