"""Scheduled jobs record their last run (passport.maintenance), and GET /metrics tells when
each last succeeded or failed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session, sessionmaker

from passport.cli import main
from passport.config import Settings
from passport.db import unit_of_work, utcnow
from passport.journal.models import JournalEntry
from passport.maintenance import TASKS, MaintenanceRun, last_runs, recorded
from tests.api.test_journal import _fill, _holder
from tests.helpers import undeletable_received_file
from tests.integration.test_metrics import SCRAPE, environment, value


def runs(committed: sessionmaker[Session]) -> dict[str, MaintenanceRun]:
    with unit_of_work(committed) as db:
        return {run.task: run for run in last_runs(db)}


def scrape(make_app: Any, database_url: str, tmp_path: Path) -> str:
    app = make_app(Settings.from_env(environment(database_url, tmp_path)))
    return str(app.test_client().get("/metrics", headers=SCRAPE).get_data(as_text=True))


def test_never_run_jobs_read_as_never_succeeded(make_app: Any, database_url: str, tmp_path: Path,
                                                committed: sessionmaker[Session]) -> None:
    text = scrape(make_app, database_url, tmp_path)
    for task in TASKS:
        assert value(text, "passport_maintenance_last_success_timestamp_seconds",
                     task=task) == 0
        assert value(text, "passport_maintenance_last_run_ok", task=task) is None


def test_verify_records_its_success_then_a_broken_chain(
        cli: CliRunner, make_app: Any, database_url: str, tmp_path: Path,
        committed: sessionmaker[Session]) -> None:
    with unit_of_work(committed) as db:
        holder_id = _holder(db)
        _fill(db, holder_id, [3, 2])
    before = time.time()
    assert cli.invoke(main, ["journal", "verify"]).exit_code == 0
    first = runs(committed)["journal_verify"]
    assert first.last_ok is True and first.last_failure_at is None
    assert first.last_success_at is not None
    text = scrape(make_app, database_url, tmp_path)
    assert value(text, "passport_maintenance_last_run_ok", task="journal_verify") == 1
    succeeded = value(text, "passport_maintenance_last_success_timestamp_seconds",
                      task="journal_verify")
    assert succeeded is not None and before - 1 <= succeeded <= time.time() + 1
    # Someone forges an entry: the next verification fails, and says so.
    with unit_of_work(committed) as db:
        db.add(JournalEntry(holder_id=holder_id, seq=3, occurred_at=utcnow(),
                            kind="share.viewed", actor_type="recipient", details={},
                            prev_hash="f" * 64, hash="e" * 64))
    assert cli.invoke(main, ["journal", "verify"]).exit_code == 1
    second = runs(committed)["journal_verify"]
    assert second.last_ok is False and second.last_success_at == first.last_success_at
    assert second.last_failure == "1 broken chain(s) among 3 entries"
    text = scrape(make_app, database_url, tmp_path)
    assert value(text, "passport_maintenance_last_run_ok", task="journal_verify") == 0
    assert value(text, "passport_maintenance_last_success_timestamp_seconds",
                 task="journal_verify") == succeeded
    failed = value(text, "passport_maintenance_last_failure_timestamp_seconds",
                   task="journal_verify")
    assert failed is not None and failed >= succeeded


def test_each_scheduled_command_records_its_run(cli: CliRunner,
                                                committed: sessionmaker[Session]) -> None:
    for args in (["cleanup", "--dry-run"], ["journal", "purge", "--dry-run"]):
        assert cli.invoke(main, args).exit_code == 0, args
    assert runs(committed) == {}, "a dry run is not a run"
    for args in (["cleanup"], ["journal", "purge"], ["journal", "verify"],
                 ["analytics", "refresh"]):
        result = cli.invoke(main, args)
        assert result.exit_code == 0, (args, result.output)
    assert {task: run.last_ok for task, run in runs(committed).items()} == dict.fromkeys(
        TASKS, True)


def test_a_job_that_fails_records_why(cli: CliRunner, committed: sessionmaker[Session],
                                      tmp_path: Path) -> None:
    undeletable_received_file(committed, tmp_path)
    result = cli.invoke(main, ["cleanup"])
    assert result.exit_code == 1 and result.stderr.startswith("Error: storage: ")
    run = runs(committed)["cleanup"]
    assert run.last_ok is False and run.last_success_at is None
    assert run.last_failure is not None and run.last_failure.startswith("IsADirectoryError")


def test_an_exception_out_of_the_block_is_the_failure(committed: sessionmaker[Session]) -> None:
    with pytest.raises(RuntimeError), recorded(committed, "analytics_refresh"):
        raise RuntimeError("the refresh could not finish")
    run = runs(committed)["analytics_refresh"]
    assert run.last_ok is False
    assert run.last_failure == "RuntimeError: the refresh could not finish"
    with pytest.raises(ValueError, match="unknown scheduled task"), recorded(committed, "x"):
        pass
