"""Success rates: hand-computed figures on a small population (tests/analytics.py), the
incremental refresh against the full one, and disclosure control."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from passport.analytics import service
from passport.analytics.models import DELAY_COLUMNS, DIMENSIONS, AnalyticsState, cells, periods
from passport.analytics.refresh import (
    Outcome,
    _vectors,
    add_months,
    apply_deltas,
    delay_months,
    full_refresh,
    write_cells,
)
from passport.analytics.service import Cell, Query, complement, safe, success_rates
from passport.analytics.stats import quantile_months, wilson
from passport.config import Settings
from passport.db import unit_of_work
from passport.records.models import Passage
from tests.analytics import ORG_A, ORG_B, build, rows_by

Factory = sessionmaker[Session]


# -- pure parts ------------------------------------------------------------------------------
@pytest.mark.parametrize(("exit_date", "award", "months"), [
    ("2024-01-31", "2024-01-31", 0), ("2024-01-31", "2023-12-01", 0),
    ("2024-01-31", "2024-02-29", 1), ("2024-01-31", "2024-03-01", 2),
    ("2024-01-31", "2025-01-31", 12), ("2024-01-31", "2025-02-01", 13),
    ("2023-03-31", "2023-04-30", 1), ("2023-03-15", "2023-03-16", 1),
])
def test_delay_in_months_follows_the_calendar(exit_date: str, award: str, months: int) -> None:
    assert delay_months(dt.date.fromisoformat(exit_date), dt.date.fromisoformat(award)) == months


def test_add_months_clips_to_the_month_end() -> None:
    assert add_months(dt.date(2023, 1, 31), 1) == dt.date(2023, 2, 28)
    assert add_months(dt.date(2024, 11, 30), 3) == dt.date(2025, 2, 28)


def test_wilson_interval_by_hand() -> None:
    # p = 0.4, n = 5, z² = 3.8415: centre 0.78415 / 1.76829 = 0.44345,
    # half-width 1.10841 × sqrt(0.048 + 0.038415) = 0.32583.
    low, high = wilson(2, 5)
    assert low == pytest.approx(0.1176, abs=1e-4) and high == pytest.approx(0.7693, abs=1e-4)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0


def test_delay_quartiles_nearest_rank() -> None:
    histogram = [0, 1] + [0] * 10 + [1]  # one award after 1 month, one after 12
    assert [quantile_months(histogram, q) for q in (0.25, 0.5, 0.75)] == [1, 1, 12]
    assert quantile_months([0, 0], 0.5) is None


def counts(cohort: int, successes: int) -> Cell:
    return cohort, successes


def test_primary_rule_needs_cohort_successes_and_failures() -> None:
    assert safe(counts(40, 20), 20)
    assert not safe(counts(19, 5), 20)    # cohort
    assert not safe(counts(100, 19), 20)  # successes
    assert not safe(counts(100, 81), 20)  # failures: 19 people failed


def test_secondary_suppression_protects_a_lone_cell_from_the_total() -> None:
    cells_by_org = {"A": counts(100, 60), "B": counts(50, 30), "C": counts(15, 5)}
    # C alone hidden: total − A − B gives it back; B (the smallest other) goes too, and
    # B + C (65, 35 successes, 30 failures) is safe.
    assert complement(cells_by_org, {"C"}, 20) == {"B", "C"}
    # Nothing hidden: nothing more to hide.
    assert complement(cells_by_org, set(), 20) == set()
    # Two hidden cells whose sum is still unsafe: a third goes.
    small = {"A": counts(100, 60), "B": counts(60, 30), "C": counts(10, 5), "D": counts(12, 6)}
    assert complement(small, {"C", "D"}, 20) == {"B", "C", "D"}


def test_a_hidden_year_hides_the_period_at_the_same_grouping() -> None:
    found = {("D",): {2023: counts(50, 25), 2024: counts(10, 5)},
             ("E",): {2023: counts(60, 30), 2024: counts(60, 30)},
             ("F",): {2023: counts(70, 35), 2024: counts(70, 35)}}
    reasons, total_hidden = service._suppress(found, (2023, 2024), 20)
    # D's period (60, 30) would pass alone, but 2023–2024 minus 2023 would give its 2024.
    # In 2024, D is hidden (primary) and E (the smallest other) with it (secondary).
    assert reasons == {("D",): "primary", ("E",): "secondary"}
    assert not total_hidden


# -- on the database -------------------------------------------------------------------------
@pytest.fixture
def population(committed: Factory, settings: Settings, tmp_path: Path) -> Factory:
    build(committed, settings, tmp_path)
    return committed


def rates(factory: Factory, min_cell: int = 1, **query: Any) -> dict[str, Any]:
    with unit_of_work(factory) as db:
        return success_rates(db, Query(**query), min_cell)


def test_hand_computed_rates(population: Factory) -> None:
    result = rates(population, year_from=2024, year_to=2024)
    by_code = rows_by(result, "certification")
    cyber = by_code["RNCP37488"]
    # f1 (1 month) and f2 (the window's edge) succeed; f3 (13 months), f4 (before the
    # entry) and f5 (withdrawn) do not; f8 abandoned; f9 still in training.
    assert (cyber["cohort"], cyber["successes"], cyber["rate"]) == (5, 2, 0.4)
    assert cyber["interval"]["low"] == pytest.approx(0.1176, abs=1e-4)
    assert cyber["interval"]["high"] == pytest.approx(0.7693, abs=1e-4)
    assert (cyber["abandoned"], cyber["abandonment_rate"]) == (1, round(1 / 6, 4))
    assert cyber["delay_months"] == {"q1": 1, "median": 1, "q3": 12}
    assert cyber["group"]["title"]  # the sheet's title, from the referential
    # Lineage: f6 trained for RNCP34762 and obtained its successor RNCP39568.
    old = by_code["RNCP34762"]
    assert (old["cohort"], old["successes"], old["rate"]) == (2, 1, 0.5)
    assert old["delay_months"]["median"] == 5
    assert result["total"]["cohort"] == 7 and result["total"]["successes"] == 3


def test_the_window_moves_the_edge(population: Factory) -> None:
    wider = rows_by(rates(population, year_from=2024, year_to=2024, window_months=18),
                    "certification")
    assert wider["RNCP37488"]["successes"] == 3  # f3, 13 months after, now counts
    narrow = rows_by(rates(population, year_from=2024, year_to=2024, window_months=6),
                     "certification")
    assert narrow["RNCP37488"]["successes"] == 1


def test_groupings_and_filters(population: Factory) -> None:
    by_org = rows_by(rates(population, year_from=2024, year_to=2024, group_by="organisation"),
                     "organisation")
    assert {k: (r["cohort"], r["successes"]) for k, r in by_org.items()} == {
        ORG_A: (5, 2), ORG_B: (2, 1)}
    routes = rows_by(rates(population, year_from=2024, year_to=2024, group_by="access_route",
                           min_cell=1), "access_route")
    assert set(routes) == {"VAE", "NON_RENSEIGNEE"}
    only = rates(population, certification="RNCP34762", year_from=2024, year_to=2024,
                 group_by="organisation")
    assert [r["group"]["organisation"] for r in only["rows"]] == [ORG_B]
    filtered = rates(population, organisation=ORG_A, group_by="year")
    assert {r["group"]["year"] for r in filtered["rows"]} == {2023, 2024}


def test_suppression_on_real_cells(population: Factory) -> None:
    # By year, min cell 1: 2023 has one file and one success (0 failures): hidden; 2024
    # alone would then give it back from the total: hidden too.
    by_year = rows_by(rates(population, group_by="year"), "year")
    assert by_year[2023]["suppression"] == "primary"
    assert by_year[2024]["suppression"] == "secondary"
    for row in by_year.values():
        assert row["cohort"] is None and row["rate"] is None and row["interval"] is None
    # At the default threshold (20) every cell of this small population is hidden.
    default = rates(population, min_cell=20, year_from=2024, year_to=2024)
    assert all(r["suppressed"] for r in default["rows"]) and default["total"]["suppressed"]


def counted_cells(factory: Factory) -> list[tuple[Any, ...]]:
    """Every cell that counts a file, without its id."""
    with unit_of_work(factory) as db:
        columns = [c for c in cells.c if c.name != "id"]
        return sorted(tuple(r) for r in db.execute(sa.select(*columns).where(
            (cells.c.cohort + cells.c.abandoned) > 0)))


def test_incremental_refresh_equals_a_full_one(population: Factory) -> None:
    incremental = counted_cells(population)
    assert incremental  # the imports and deposits filled the cells as they came
    with unit_of_work(population) as db:
        full_refresh(db)
    assert counted_cells(population) == incremental


def test_an_incremental_refresh_in_chunks_moves_the_cells_as_one(
        population: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    from passport.analytics import refresh
    from passport.records.models import Passage
    from passport.training.models import TrainingFile

    monkeypatch.setattr(refresh, "REFRESH_CHUNK", 2)
    with unit_of_work(population) as db:
        db.execute(sa.update(Passage).values(withdrawn_at=sa.func.now()))  # no award left
        result = refresh.refresh_files(db, db.scalars(sa.select(TrainingFile.id)).all())
    assert result.files == 9  # every counted file, over five chunks
    incremental = counted_cells(population)
    with unit_of_work(population) as db:
        awards = sum((cells.c[d] for d in DELAY_COLUMNS[1:]), start=cells.c.d0)
        assert db.scalar(sa.select(sa.func.sum(awards)).where(cells.c.grain == "all")) == 0
    with unit_of_work(population) as db:
        full_refresh(db)
    assert counted_cells(population) == incremental


def query_plan(db: Session, statement: sa.Select[Any]) -> str:
    """The plan the database picks for ``statement``; on PostgreSQL with the ways of
    reading a whole table made a last resort — sequential scans and full index scans (a
    test table is small enough for either to win over a lookup; since a deposit's
    follow-up refreshes the statistics, the planner knows it)."""
    sql = str(statement.compile(db.get_bind(), compile_kwargs={"literal_binds": True}))
    if db.get_bind().dialect.name == "postgresql":
        db.execute(sa.text("SET LOCAL enable_seqscan = off"))
        db.execute(sa.text("SET LOCAL enable_indexscan = off"))
        return "\n".join(db.scalars(sa.text(f"EXPLAIN {sql}")))
    return "\n".join(row[-1] for row in db.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}")))


def test_a_deposit_s_follow_up_finds_its_passages_by_index(population: Factory) -> None:
    """The analytics follow-up of a deposit reads the passages it brought or withdrew by
    the deposit's indexes: a scan of every passage of the store per deposit, before."""
    from passport.analytics.refresh import files_touched_by
    from passport.deposits.models import Deposit
    from passport.training.models import TrainingFile

    with unit_of_work(population) as db:
        awards, withdrawal = db.scalars(sa.select(Deposit.id).order_by(Deposit.id)).all()
        withdrawn_from = db.scalar(sa.select(Passage.holder_id).where(
            Passage.withdrawn_by_deposit_id == withdrawal))
        holders = set(db.scalars(sa.select(Passage.holder_id).where(Passage.deposit_id == awards)))
        assert db.scalars(files_touched_by(withdrawal)).all() == db.scalars(
            sa.select(TrainingFile.id).where(TrainingFile.holder_id == withdrawn_from)
            .order_by(TrainingFile.id)).all()
        assert db.scalars(files_touched_by(awards)).all() == db.scalars(
            sa.select(TrainingFile.id).where(TrainingFile.holder_id.in_(holders))
            .order_by(TrainingFile.id)).all()
        plan = query_plan(db, files_touched_by(awards))
    if population.kw["bind"].dialect.name == "postgresql":
        assert "Seq Scan on passages" not in plan, plan
        assert "ix_passages_deposit_id" in plan and "ix_passages_withdrawn_by_deposit_id" in plan
    else:
        assert "SCAN passages" not in plan, plan
        assert "USING INDEX ix_passages_deposit_id" in plan
        assert "USING INDEX ix_passages_withdrawn_by_deposit_id" in plan


def test_bad_periods_are_refused(population: Factory) -> None:
    with pytest.raises(service.AnalyticsInputError, match="after"):
        rates(population, year_from=2025, year_to=2024)
    with pytest.raises(service.AnalyticsInputError, match="at most 10"):
        rates(population, year_from=2000, year_to=2024)


def test_cli_refresh_and_lineage_changes(population: Factory, cli: CliRunner,
                                         tmp_path: Path) -> None:
    from passport.cli import main
    from tests.referentials import RNCP_XML

    result = cli.invoke(main, ["analytics", "refresh"])
    assert result.exit_code == 0, result.output
    assert "10 training files" not in result.stderr  # f9 is still in training
    assert "9 training files" in result.stderr
    # An export where RNCP39568 no longer replaces RNCP34762: the lineage changed, the
    # aggregates follow (f6's award no longer counts for RNCP34762).
    unlinked = tmp_path / "export_fiches_RNCP_V4_1_2026-11-20.xml"
    unlinked.write_text(RNCP_XML.read_text().replace(
        ">RNCP39568</ID_FICHE_NOUVELLE_CERTIFICATION>",
        ">RNCP00001</ID_FICHE_NOUVELLE_CERTIFICATION>").replace(
        ">RNCP34762</ID_FICHE_ANCIENNE_CERTIFICATION>",
        ">RNCP00002</ID_FICHE_ANCIENNE_CERTIFICATION>"))
    imported = cli.invoke(main, ["referentials", "import", "rncp", str(unlinked)])
    assert imported.exit_code == 0, imported.output
    assert "lineages changed: analytics rebuilt" in imported.stderr
    old = rows_by(rates(population, year_from=2024, year_to=2024), "certification")["RNCP34762"]
    assert old["suppressed"]  # 0 successes out of 2: hidden
    assert rates(population, year_from=2024, year_to=2024, min_cell=0)["total"]["successes"] == 2


def test_training_files_need_a_known_access_route(committed: Factory, settings: Settings,
                                                   tmp_path: Path) -> None:
    from passport.csvimport import ImportFailed
    from passport.nir import NirVault
    from passport.training.service import TRAINING_COLUMNS, import_training_files
    from tests.analytics import training_rows
    from tests.helpers import write_csv

    rows = training_rows()[:2]
    rows[1]["modalite_acces"] = "APPRENTISSAGE"
    path = write_csv(tmp_path / "t.csv", (*TRAINING_COLUMNS, "modalite_acces"), rows)
    with pytest.raises(ImportFailed, match="line 3: modalite_acces must be one of"), \
            unit_of_work(committed) as db:
        import_training_files(db, path, NirVault(settings))


def test_quartiles_in_one_pass_match_the_nearest_rank() -> None:
    from passport.analytics.stats import quartiles_months

    for histogram in ([0, 1] + [0] * 10 + [1], [3, 0, 2, 5], [0, 0, 0, 1], [7]):
        assert quartiles_months(histogram) == {
            "q1": quantile_months(histogram, 0.25), "median": quantile_months(histogram, 0.5),
            "q3": quantile_months(histogram, 0.75)}
    assert quartiles_months([0, 0]) == {"q1": None, "median": None, "q3": None}


def test_each_file_counts_once_at_every_grain() -> None:
    from passport.analytics.models import DIMENSIONS, GRAINS
    from passport.analytics.refresh import Outcome

    outcome = Outcome(1, "RNCP", "RNCP37488", ORG_A, "VAE", 2024, False, 3)
    keys = outcome.cells()
    assert [k[0] for k in keys] == list(GRAINS)
    for grain, *dims, year in keys:
        kept = {d for d, v in zip(DIMENSIONS, dims, strict=True) if v}
        assert kept == set(GRAINS[grain]) and year == 2024
    assert outcome.counters() == (0, 5)  # one in the cohort, one award 3 months after


def test_answers_are_reused_until_the_cells_change(population: Factory) -> None:
    from passport.analytics.models import AnalyticsState
    from passport.analytics.refresh import refresh_files
    from passport.records.models import Passage
    from passport.training.models import TrainingFile

    first = rates(population, year_from=2024, year_to=2024)
    assert rates(population, year_from=2024, year_to=2024) is first  # reused as it is
    assert rates(population, year_from=2024, year_to=2024, window_months=18) is not first
    assert rows_by(first, "certification")["RNCP37488"]["successes"] == 2
    # A withdrawal reaches the cells through an incremental refresh: a new generation.
    with unit_of_work(population) as db:
        before = db.get(AnalyticsState, 1).generation
        db.execute(sa.update(Passage).values(withdrawn_at=sa.func.now()))
        refresh_files(db, db.scalars(sa.select(TrainingFile.id)).all())
        assert db.get(AnalyticsState, 1).generation != before
    after = rates(population, year_from=2024, year_to=2024)
    assert after is not first
    # No success left: the cell is now hidden (0 successes is under the threshold of 1).
    assert rows_by(after, "certification")["RNCP37488"]["suppression"] == "primary"
    assert after["updated_at"] > first["updated_at"]
    assert after["refreshed_at"] == first["refreshed_at"]  # no full refresh since


def test_reused_answers_are_bounded_by_their_rows(population: Factory,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "CACHED_ROWS", 1)
    first = rates(population, year_from=2024, year_to=2024)
    assert rates(population, year_from=2024, year_to=2024) is first  # the last one stays
    rates(population, year_from=2024, year_to=2024, window_months=18)
    again = rates(population, year_from=2024, year_to=2024)
    assert again is not first and again == first  # evicted, computed again, same figures


# -- national listings decided at refresh --------------------------------------------------
outcome_rows = st.lists(st.tuples(
    st.integers(0, 3), st.integers(0, 4), st.sampled_from(["VAE", "NON_RENSEIGNEE"]),
    st.integers(2021, 2024),
    st.one_of(st.just(-1), st.integers(0, 40))),  # -1: abandoned; over 36: no award counted
    max_size=300)


#: A regular population where every national cell is published, abandonment included.
PUBLISHED = [(cert, org, "VAE", year, result) for cert in range(4) for org in range(2)
             for year in range(2021, 2025) for result in [1] * 6 + [40] * 6 + [-1] * 3]


@examples(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(files=PUBLISHED, min_cell=2, windows=[12])
@given(files=outcome_rows, min_cell=st.integers(1, 10),
       windows=st.lists(st.sampled_from(service.WINDOWS), min_size=1, max_size=2, unique=True))
def test_national_listings_decided_at_refresh_answer_as_the_full_computation(
        committed: Factory, files: list[tuple[int, int, str, int, int]], min_cell: int,
        windows: list[int]) -> None:
    """The flags and periods written at refresh give, for every national listing
    (grouping, window, period, within the years of the cells or not), the very answer
    worked out from the yearly cells: rows, reasons, figures and the total's suppression."""
    totals = _vectors()
    for n, row in enumerate(files):
        outcome(n, row).add_to(totals)
    state = AnalyticsState(id=1, min_cell=min_cell)
    with unit_of_work(committed) as db:
        db.execute(sa.delete(cells))
        db.execute(sa.delete(periods))
        write_cells(db, totals, min_cell)
        assert_decided_as_computed(db, state, windows)


#: Losing RNCP30001's 2022 success makes it primary in 2022 and RNCP30000, unchanged, its
#: secondary; over 2022–2023 the period rule alone would have hidden RNCP30002 instead.
FLAG_ONLY = [(1, 0, "VAE", 2022, 1), (1, 0, "VAE", 2022, 40),
             *[(cert, 0, "VAE", 2022, result) for cert in (0, 2) for result in (1, 40)],
             *[(0, 0, "VAE", 2023, result) for result in [1] * 5 + [40] * 5],
             *[(cert, 0, "VAE", 2023, result) for cert in (1, 2) for result in (1, 40)]]


@examples(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(files=FLAG_ONLY, dropped=1, added=[], min_cell=1)
@given(files=outcome_rows, dropped=st.integers(0, 20), added=outcome_rows.map(lambda f: f[:8]),
       min_cell=st.integers(1, 6))
def test_incremental_refreshes_keep_the_decisions_of_a_full_one(
        committed: Factory, files: list[tuple[int, int, str, int, int]], dropped: int,
        added: list[tuple[int, int, str, int, int]], min_cell: int) -> None:
    """Cells moved by the difference between two populations (a few files gone, a few
    new): the flags are those a full refresh of the second population decides, and every
    national listing read from the periods is the answer worked out from the counts."""
    before, after = _vectors(), _vectors()
    deltas = _vectors()
    for n, row in enumerate(files):
        outcome(n, row).add_to(before)
        if n >= dropped:
            outcome(n, row).add_to(after)
            continue
        outcome(n, row).add_to(deltas, -1)
    for n, row in enumerate(added, start=len(files)):
        outcome(n, row).add_to(after)
        outcome(n, row).add_to(deltas)
    state = AnalyticsState(id=1, min_cell=min_cell)

    def counted_flags(db: Session) -> dict[tuple[Any, ...], tuple[int, int]]:
        return {tuple(row[1:7]): tuple(row[7:]) for row in db.execute(sa.select(
            cells.c.id, cells.c.grain, *(cells.c[d] for d in DIMENSIONS), cells.c.year,
            cells.c.hidden, cells.c.secondary).where(cells.c.cohort > 0))}

    with unit_of_work(committed) as db:
        db.execute(sa.delete(cells))
        db.execute(sa.delete(periods))
        write_cells(db, before, min_cell)
        apply_deltas(db, deltas, min_cell)
        kept_up = counted_flags(db)
        assert_decided_as_computed(db, state, [12, 24])
        db.execute(sa.delete(cells))
        db.execute(sa.delete(periods))
        write_cells(db, after, min_cell)
        assert counted_flags(db) == kept_up


def outcome(n: int, row: tuple[int, int, str, int, int]) -> Outcome:
    cert, org, route, year, result = row
    return Outcome(n, "RNCP", f"RNCP3000{cert}", f"{org:014d}", route, year, result == -1,
                   None if result == -1 else result)


def assert_decided_as_computed(db: Session, state: AnalyticsState, windows: list[int],
                               years: tuple[tuple[int | None, int | None], ...] = (
                                   (None, None), (2022, 2023), (2024, 2024), (2019, 2022),
                                   (2026, 2027))) -> None:
    """Every national listing (grouping, window, period) read from what the refresh
    decided is the answer worked out from the yearly cells."""
    assert state.min_cell is not None
    for group_by in service.GROUPS:
        for window in windows:
            for year_from, year_to in years:
                query = Query(group_by=group_by, window_months=window,
                              year_from=year_from, year_to=year_to)
                # A listing by year reads its few cells, not the periods.
                assert service._decided(query, state.min_cell, state) == (group_by != "year")
                decided = service._compute(db, query, state.min_cell, state)
                computed = service._compute(db, query, state.min_cell, None)
                for answer in (decided, computed):
                    del answer["refreshed_at"], answer["updated_at"]
                assert decided == computed, query


def test_the_flags_follow_incremental_refreshes_and_the_threshold(
        population: Factory, cli: CliRunner) -> None:
    from passport.analytics.refresh import refresh_files
    from passport.cli import main
    from passport.records.models import Passage
    from passport.referentials.models import Certification
    from passport.training.models import TrainingFile

    def flags() -> dict[tuple[Any, ...], tuple[int, int]]:
        with unit_of_work(population) as db:
            return {tuple(r[:-2]): tuple(r[-2:]) for r in db.execute(sa.select(
                cells.c.grain, cells.c.cert_code, cells.c.siret, cells.c.route, cells.c.year,
                cells.c.hidden, cells.c.secondary).where(cells.c.cohort > 0,
                                                         cells.c.grain != "base"))}

    everything = 2 ** len(service.WINDOWS) - 1
    # The population was counted incrementally at the default threshold (20): every cell
    # of a national listing is hidden, for every window.
    assert set(flags().values()) == {(everything, 0)}
    assert cli.invoke(main, ["analytics", "refresh"], env={"PASSPORT_ANALYTICS_MIN_CELL": "1"},
                      catch_exceptions=False).exit_code == 0
    with unit_of_work(population) as db:
        assert db.get(AnalyticsState, 1).min_cell == 1
    at_one = flags()
    # By certification in 2024, window 12: RNCP37488 (5 files, 2 successes) and RNCP34762
    # (2, 1) are published at threshold 1.
    assert at_one["cert", "RNCP37488", "", "", 2024] == (0, 0)
    assert at_one["cert", "RNCP34762", "", "", 2024] == (0, 0)
    # 2023: one file, one success, no failure: hidden for every window (primary).
    assert at_one["cert", "RNCP37488", "", "", 2023] == (everything, 0)
    decided = rates(population, year_from=2024, year_to=2024)
    assert not rows_by(decided, "certification")["RNCP37488"]["suppressed"]
    # Withdrawing f6's award (RNCP39568), through an incremental refresh: RNCP34762 has no
    # success left in 2024 (primary) and RNCP37488, alone beside it, is hidden with it.
    with unit_of_work(population) as db:
        successor = db.scalar(sa.select(Certification.id).where(Certification.code == "RNCP39568"))
        db.execute(sa.update(Passage).where(Passage.certification_id == successor)
                   .values(withdrawn_at=sa.func.now()))
        refresh_files(db, db.scalars(sa.select(TrainingFile.id)).all())
    after = flags()
    assert after["cert", "RNCP34762", "", "", 2024] == (everything, 0)
    assert after["cert", "RNCP37488", "", "", 2024] == (everything, everything)
    reasons = {code: row["suppression"] for code, row in rows_by(
        rates(population, year_from=2024, year_to=2024), "certification").items()}
    assert reasons == {"RNCP34762": "primary", "RNCP37488": "secondary"}
    with unit_of_work(population) as db:
        assert_decided_as_computed(db, db.get(AnalyticsState, 1), list(service.WINDOWS))
        # A file leaving in a new exit year: every group gets that year's periods.
        moved = db.scalars(sa.select(TrainingFile).where(TrainingFile.statut == "TERMINE")
                           .order_by(TrainingFile.id).limit(1)).one()
        moved.date_sortie = dt.date(2026, 3, 1)
        db.flush()
        refresh_files(db, [moved.id])
        assert db.scalar(sa.select(sa.func.max(periods.c.year_to))) == 2026
        assert_decided_as_computed(db, db.get(AnalyticsState, 1), list(service.WINDOWS),
                                   ((None, None), (2024, 2026), (2026, 2026), (2023, 2024)))

    def counted_periods() -> set[tuple[Any, ...]]:
        with unit_of_work(population) as db:
            return {tuple(row[1:]) for row in db.execute(sa.select(periods).where(
                periods.c.cohort + periods.c.abandoned > 0))}

    kept_up = flags(), counted_periods()
    with unit_of_work(population) as db:
        full_refresh(db)  # the threshold of the last refresh is kept
    # The incremental refreshes kept flags and periods as a full refresh writes them.
    assert (flags(), counted_periods()) == kept_up


def test_without_decided_flags_listings_are_worked_out_from_the_counts(
        population: Factory) -> None:
    """As after migration 0010 on a database refreshed before it, or when the threshold
    changed since the last full refresh: the same answers, the slow way."""
    decided = rates(population, min_cell=20, year_from=2024, year_to=2024)
    with unit_of_work(population) as db:
        db.get(AnalyticsState, 1).min_cell = None
        state = db.get(AnalyticsState, 1)
        assert not service._decided(Query(year_from=2024, year_to=2024), 20, state)
    service._answers.clear()
    assert rates(population, min_cell=20, year_from=2024, year_to=2024)["rows"] == \
        decided["rows"]
