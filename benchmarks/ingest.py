"""Ingestion benchmark: end to end vs a bare lxml streaming parse + XSD validation.

    python -m benchmarks.ingest [--sizes 10000,100000,200000] [--databases sqlite,postgresql]
                                [--postgres-url URL] [--out benchmarks/out]

For each size, a compact demo data set is generated once (cached in --out).  For each
database, a fresh database is migrated and loaded with the identity directory and the
training files; then, in separate processes so that peak memory is each run's own:

* **bare**: ``iterparse`` with the compiled XSD over the file, freeing each passage — the
  floor any streaming validator pays;
* **end to end**: `passport.deposits.service.process` — gate, parse, schema, rules,
  NIRisation, duplicates, bulk writes, report, one commit: until the certifier's report is
  there.  The reader process a worker starts once (`ingestion.pipeline.start_reader`) is
  started before the clock and timed apart ("reader start").  The follow-up every deposit
  then gets (`service.follow_up`: planner statistics
  of the tables it grew, the analytics of its holders' training files) is timed apart
  ("then follow-up"); peak RSS covers both.

It prints passages/s, the ratio end-to-end / bare rate, and peak RSS (the loading process,
and the reader child process that parses while the parent writes).  ``make bench`` runs it
with a throwaway PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.memory import peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent


class _ChildSampler(threading.Thread):
    """Peak RSS of this process's children (the reader process), sampled every 20 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mb = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._done.wait(0.02):
            for child in me.children(recursive=True):
                try:
                    self.peak_mb = max(self.peak_mb, child.memory_info().rss / 2**20)
                except psutil.Error:
                    continue

    def stop(self) -> float:
        self._done.set()
        self.join()
        return self.peak_mb


def bare(path: str) -> dict[str, float]:
    """Child: the bare streaming parse + validation, timed."""
    from lxml import etree

    from ingestion.parser import HARDENED, PASSAGE
    from ingestion.schema import compiled

    schema = compiled("1.1.5")
    started = time.perf_counter()
    count = 0
    for _, el in etree.iterparse(path, events=("end",), tag=PASSAGE, schema=schema, **HARDENED):
        count += 1
        el.clear(keep_tail=True)
        parent = el.getparent()
        while el.getprevious() is not None:
            del parent[0]
    return {"seconds": time.perf_counter() - started, "passages": count, "rss_mb": peak_rss_mb()}


def end_to_end(path: str, database_url: str) -> dict[str, float]:
    """Child: one real ingestion through the deposit service, timed."""
    from ingestion.pipeline import Source, start_reader
    from passport.config import Settings
    from passport.db import make_engine, make_session_factory, unit_of_work
    from passport.deposits import service
    from passport.nir import NirVault

    settings = Settings.from_env({**os.environ, "PASSPORT_DATABASE_URL": database_url})
    factory = make_session_factory(make_engine(database_url))
    file = Path(path)
    sampler = _ChildSampler()
    sampler.start()
    # A worker process starts its reader process once, at its own start (passport.worker),
    # and every file it loads reuses it: timed apart ("reader start").
    started = time.perf_counter()
    start_reader(settings.flux_schema, wait=True)
    reader_start = time.perf_counter() - started
    started = time.perf_counter()
    sha256, size = service.file_digest(file)
    with unit_of_work(factory) as session:
        deposit_id = service.receive(session, file_name=file.name, sha256=sha256, size=size).id
    deposit = service.process(factory, deposit_id, Source(file), vault=NirVault(settings),
                              options=settings.ingest_options(), then_follow_up=False)
    assert deposit is not None
    seconds = time.perf_counter() - started
    # The follow-up every processed deposit gets once committed, timed on its own: the
    # statistics of the tables it grew, the analytics of its holders' training files.
    service.follow_up(factory, deposit)
    return {"seconds": seconds, "follow_up_seconds": time.perf_counter() - started - seconds,
            "reader_start_seconds": reader_start,
            "status": deposit.status.value,
            "passages": deposit.passages_total, "ok": deposit.passages_ok,
            "ko": deposit.passages_ko, "rss_mb": peak_rss_mb(), "reader_rss_mb": sampler.stop()}


def _child(*args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "benchmarks.ingest", *args], check=True,
                         capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def _database(kind: str, work: Path, postgres_url: str | None, label: str) -> str:
    if kind == "sqlite":
        path = work / f"bench-{label}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    if not postgres_url:
        raise SystemExit("--postgres-url (or PASSPORT_TEST_DATABASE_URL) is needed for postgresql")
    # Imported here: the measured children must not carry the harness's imports (requests
    # alone is 6 MB of resident memory that no ingesting process has).
    from benchmarks.common import new_postgres_database

    return new_postgres_database(postgres_url, f"bench_{label}")


def _prepare(database_url: str, data: Path) -> float:
    from passport.config import Settings
    from passport.db import make_engine, make_session_factory, unit_of_work
    from passport.holders.service import import_identities
    from passport.migrate import upgrade
    from passport.nir import NirVault
    from passport.training.service import import_training_files

    upgrade(database_url)
    vault = NirVault(Settings.from_env({}))
    factory = make_session_factory(make_engine(database_url))
    started = time.perf_counter()
    with unit_of_work(factory) as session:
        import_identities(session, data / "identities.csv", vault)
        import_training_files(session, data / "training_files.csv", vault)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,200000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=os.environ.get("PASSPORT_TEST_DATABASE_URL"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = bare(*rest) if kind == "bare" else end_to_end(*rest)
        print(json.dumps(result))
        return

    from passport.demo.generate import generate

    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        data = args.out / f"data-{size}"
        if not (data / "manifest.json").exists():
            generate(data, holders=max(2000, min(size // 2, 100_000)), passages=size,
                     per_file=size, seed=size, compact=True)
        manifest = json.loads((data / "manifest.json").read_text())
        # The demo data set also holds its small showcase files: take the generated one.
        [flux] = [str(data / f["file"]) for f in manifest["files"] if f["passages"] == size]
        megabytes = os.path.getsize(flux) / 1e6
        for kind in args.databases.split(","):
            url = _database(kind, args.out, args.postgres_url, f"{size}")
            prepare = _prepare(url, data)
            # The machine's speed drifts (a shared VM): bare runs around the real one, median.
            bares = [_child("--child", "bare", flux)]
            run = _child("--child", "e2e", flux, url)
            bares += [_child("--child", "bare", flux) for _ in range(2)]
            base = sorted(bares, key=lambda b: b["seconds"])[1]
            assert run["passages"] == size, run
            row = {
                "passages": size, "database": kind, "file_mb": round(megabytes, 1),
                "e2e_s": round(run["seconds"], 2),
                "follow_up_s": round(run["follow_up_seconds"], 2),
                "reader_start_s": round(run["reader_start_seconds"], 2),
                "e2e_per_s": round(size / run["seconds"]),
                "bare_s": round(base["seconds"], 2),
                "bare_per_s": round(size / base["seconds"]),
                "ratio": round(base["seconds"] / run["seconds"], 2),
                "rss_mb": round(run["rss_mb"]), "reader_rss_mb": round(run["reader_rss_mb"]),
                "bare_rss_mb": round(base["rss_mb"]), "import_s": round(prepare, 1),
                "ok": run["ok"], "ko": run["ko"],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    (args.out / "ingest-results.json").write_text(json.dumps(rows, indent=2))
    print()
    print("| passages | db | file MB | end to end s | passages/s | bare s | bare passages/s | "
          "ratio | then follow-up s | reader start s | peak RSS MB (loader / reader) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['passages']:,} | {r['database']} | {r['file_mb']} | {r['e2e_s']} | "
              f"{r['e2e_per_s']:,} | {r['bare_s']} | {r['bare_per_s']:,} | {r['ratio']} | "
              f"{r['follow_up_s']} | {r['reader_start_s']} | {r['rss_mb']} / "
              f"{r['reader_rss_mb']} |")


if __name__ == "__main__":
    main()
