"""The benchmark scripts run from a fresh checkout: each, on a tiny input, completes and
prints figures that describe what it measured (the scripts are how anyone checks the
figures in docs/benchmarks.md; one that only ran on its author's cached files went unseen).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = os.environ.get("PASSPORT_TEST_DATABASE_URL")


#: The three load benchmarks measure PostgreSQL only.
postgres_only = pytest.mark.skipif(
    not POSTGRES, reason="PostgreSQL only: runs in the suite's PostgreSQL pass")


def bench(name: str, out: Path, *args: str, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    """Run ``benchmarks.NAME`` with its results written to ``out``."""
    return subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *args, "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env=env if env is not None else os.environ)


def measured(name: str, out: Path, results: str, *args: str,
             env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], Any]:
    """Run a benchmark that must succeed; return its run and the figures it saved."""
    done = bench(name, out, *args, env=env)
    assert done.returncode == 0, done.stderr
    return done, json.loads((out / results).read_text())


def json_lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.fixture
def bench_databases() -> Iterator[None]:
    """Drop the databases a benchmark created on the test cluster (PostgreSQL runs)."""
    before = _databases()
    yield
    if POSTGRES:
        admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in _databases() - before:
                conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


def _databases() -> set[str]:
    if not POSTGRES:
        return set()
    admin = sa.create_engine(POSTGRES)
    with admin.connect() as conn:
        names = set(conn.scalars(sa.text("SELECT datname FROM pg_database")))
    admin.dispose()
    return names


def test_ingest_benchmark_measures_the_generated_flux(tmp_path: Path,
                                                       bench_databases: None) -> None:
    databases = "sqlite,postgresql" if POSTGRES else "sqlite"
    done, saved = measured("ingest", tmp_path, "ingest-results.json", "--sizes", "2000",
                           "--databases", databases)
    rows = json_lines(done.stdout)
    assert [row["database"] for row in rows] == databases.split(",")
    for row in rows:
        # The generated 2,000-passage file, not one of the demo's small showcase files.
        assert row["passages"] == 2000
        assert row["ok"] + row["ko"] == 2000  # type: ignore[operator]
        assert 0 < row["ko"] < 400  # type: ignore[operator]
        assert 0 < row["ratio"] < 1.5  # type: ignore[operator]
        assert row["rss_mb"] > 20 and row["reader_rss_mb"] > 10  # type: ignore[operator]
    assert "| 2,000 | sqlite | " in done.stdout
    assert saved == rows


def test_referentials_benchmark_imports_every_sheet(tmp_path: Path) -> None:
    done = bench("referentials", tmp_path, "--sizes", "300")
    assert done.returncode == 0, done.stderr
    [row] = json_lines(done.stdout)
    assert row["sheets"] == 300 and row["peak_rss_mb"] > 20  # type: ignore[operator]
    assert not list(tmp_path.glob("*.sqlite3"))  # its databases removed


def test_cleanup_benchmark_removes_the_ended_logins_only(tmp_path: Path) -> None:
    done, rows = measured("cleanup", tmp_path, "cleanup-results.json", "--sizes", "200")
    assert rows == [{**rows[0], "logins": 200, "database": "sqlite", "tokens": 600,
                     "tokens_removed": 300, "codes_removed": 100, "tokens_left": 300,
                     "codes_left": 100}]
    assert "| 200 | sqlite | 600 | " in done.stdout
    assert not list(tmp_path.glob("*.sqlite3"))


def test_reencrypt_benchmark_moves_every_value_to_the_new_key(tmp_path: Path) -> None:
    done, rows = measured("reencrypt", tmp_path, "reencrypt-results.json", "--sizes", "300")
    assert rows == [{**rows[0], "people": 300, "database": "sqlite", "values": 600}]
    assert rows[0]["values_per_s"] > 0
    assert "| 300 | sqlite | 600 | " in done.stdout
    assert not list(tmp_path.glob("*.sqlite3"))


def test_imports_benchmark_imports_the_extract_twice(tmp_path: Path) -> None:
    done, rows = measured("imports", tmp_path, "imports-results.json", "--sizes", "200")
    [row] = rows
    assert (row["people"], row["database"], row["identities"]) == (200, "sqlite", 200)
    assert row["training_files"] > 0 and row["identities_again_per_s"] > 0
    assert "| 200 | sqlite | identities | 200 | " in done.stdout
    assert not list(tmp_path.glob("*.sqlite3"))


def test_cv_benchmark_times_sealed_pdfs(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done, rows = measured("cv", tmp_path, "cv-results.json", "--sizes", "10,50", "--runs", "2",
                          env={**os.environ, "TMPDIR": str(scratch)})
    assert not list(scratch.iterdir())  # its database removed
    assert [row["items"] for row in rows] == [10, 50]
    # More items, more pages; every timing a positive figure.
    assert 1 <= rows[0]["pages"] < rows[1]["pages"]
    assert all(0 < row["p50_ms"] <= row["max_ms"] for row in rows)
    assert "10 items: p50 " in done.stdout


def test_analytics_benchmark_needs_postgresql(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PASSPORT_TEST_DATABASE_URL"}
    done = bench("analytics", tmp_path, "--files", "100", env=env)
    assert done.returncode == 1
    assert "--postgres-url (or PASSPORT_TEST_DATABASE_URL) is needed" in done.stderr


@postgres_only
def test_analytics_benchmark_on_postgresql(tmp_path: Path, bench_databases: None) -> None:
    _, summary = measured("analytics", tmp_path, "analytics-results.json", "--files", "3000",
                          "--runs", "3")
    assert summary["files"] == summary["passages"] == 3000
    assert summary["cells"] > 0 and summary["incremental_files"] > 0
    assert 0 < summary["query_p50_ms"] <= summary["query_p99_ms"]


@postgres_only
def test_http_load_benchmark_serves_every_scenario(tmp_path: Path, bench_databases: None
                                                   ) -> None:
    _, report = measured("http_load", tmp_path, "http_load.json", "--holders", "2000",
                         "--passages", "2000", "--duration", "2", "--sample", "50")
    assert report["setup"]["passages_stored"] > 1500
    results = report["results"]
    assert set(results) == {"health", "holder passport", "advisor read"}
    for name, result in results.items():
        # Every request answered 2xx: the holders' tokens and the advisor's consents work.
        assert result["requests"] > 20 and result["errors"] == 0, (name, result)
        assert 0 < result["p50_ms"] <= result["p99_ms"]
    assert 0 < results["holder passport"]["rps_ratio_to_health"] < 2


@postgres_only
def test_deposit_load_benchmark_checks_every_deposit(tmp_path: Path, bench_databases: None
                                                     ) -> None:
    done, results = measured("deposits_load", tmp_path, "deposits-load-results.json",
                             "--files", "2", "--passages", "2000", "--clients", "2",
                             "--workers", "1,2")
    assert [r["workers"] for r in results] == [1, 2]
    for result in results:
        # Its own checks: each deposit in the state its manifest expects, no passage lost
        # or stored twice.
        assert result["deposits"] == 2 and result["passages"] == 4000
        assert result["problems"] == []
    assert "ratio 2 workers / 1 worker: " in done.stdout
