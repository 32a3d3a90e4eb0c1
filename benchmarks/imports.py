"""`passport identities import` and `passport training-files import` benchmark: a demo
identity extract of N people and their CPF training files, imported into an empty store,
then the same files again (a monthly extract is mostly last month's): seconds and rows per
second of each.

    python -m benchmarks.imports [--sizes 10000,100000] [--postgres-url URL]

Without ``--postgres-url`` each size gets a fresh SQLite file; with it, a fresh database in
that cluster (a superuser URL). Generated files are cached in ``--out``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import per_size, sized_arguments
from benchmarks.memory import peak_rss_mb


def data(out: Path, people: int) -> Path:
    """The demo data set of ``people`` holders (no flux needed: a few passages), made by
    another process (this one's peak memory is the imports')."""
    directory = out / f"imports-{people}"
    if not (directory / "training_files.csv").exists():
        subprocess.run([sys.executable, "-c", "from passport.cli import main; main()", "demo",
                        "generate", "--holders", str(people), "--passages", "10",
                        "--out", str(directory)], check=True, capture_output=True)
    return directory


def measure(url: str, people: int, out: Path) -> dict[str, Any]:
    from passport.config import Settings
    from passport.db import make_engine, make_session_factory, unit_of_work
    from passport.holders.service import import_identities
    from passport.migrate import upgrade
    from passport.nir import NirVault
    from passport.training.service import import_training_files

    directory = data(out, people)
    upgrade(url)
    vault = NirVault(Settings.from_env({"PASSPORT_DATABASE_URL": url, "PASSPORT_ENV": "test",
                                        "PASSPORT_INSTANCE_DIR": str(out / "imports-instance")}))
    engine = make_engine(url)
    sessions = make_session_factory(engine)

    def timed(action: Callable[..., int], name: str) -> tuple[int, float]:
        started = time.perf_counter()
        with unit_of_work(sessions) as db:
            rows = action(db, directory / name, vault)
        return rows, time.perf_counter() - started

    row: dict[str, Any] = {"people": people, "database": engine.dialect.name}
    for label, action, name in (("identities", import_identities, "identities.csv"),
                                ("training_files", import_training_files,
                                 "training_files.csv")):
        rows, first = timed(action, name)
        _, again = timed(action, name)
        row |= {f"{label}": rows, f"{label}_s": round(first, 2),
                f"{label}_per_s": round(rows / first), f"{label}_again_s": round(again, 2),
                f"{label}_again_per_s": round(rows / again)}
    engine.dispose()
    # The high-water mark of this process: sizes run in increasing order, so a flat figure
    # across them means memory does not grow with the file.
    return row | {"peak_rss_mb": round(peak_rss_mb())}


def main() -> None:
    args = sized_arguments(__doc__, "10000,100000", "people in the extract")
    rows = per_size(args, "imports", measure)
    print("\n| people | database | import | rows | first s | rows/s | again s | rows/s "
          "| peak RSS MB |\n|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        for label in ("identities", "training_files"):
            print(f"| {r['people']:,} | {r['database']} | {label.replace('_', ' ')} "
                  f"| {r[label]:,} | {r[label + '_s']} | {r[label + '_per_s']:,} "
                  f"| {r[label + '_again_s']} | {r[label + '_again_per_s']:,} "
                  f"| {r['peak_rss_mb']} |")


if __name__ == "__main__":
    main()
