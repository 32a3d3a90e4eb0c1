"""What several benchmarks need."""

from __future__ import annotations

import argparse
import json
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa


def new_postgres_database(postgres_url: str, prefix: str) -> str:
    """Create an empty database named ``<prefix>_<random>`` in the cluster of
    ``postgres_url`` (a superuser URL, e.g. the one ``scripts/with-postgres.sh`` exports)
    and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return sa.engine.make_url(postgres_url).set(database=name).render_as_string(False)


def sized_arguments(doc: str, sizes: str, what: str) -> argparse.Namespace:
    """The command line of a benchmark measured at several sizes, each on a fresh database:
    ``--sizes``, ``--postgres-url`` and ``--out`` (created)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--sizes", default=sizes, help=what)
    parser.add_argument("--postgres-url", help="a superuser URL: a fresh database per size")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def per_size(args: argparse.Namespace, name: str,
             measure: Callable[[str, int, Path], dict[str, Any]]) -> list[dict[str, Any]]:
    """Run ``measure(url, size, out)`` for each of ``args.sizes`` on a fresh database — a
    new one in the cluster of ``args.postgres_url`` when given, else a SQLite file in
    ``args.out``, removed afterwards — printing each row as JSON and saving them all to
    ``<out>/<name>-results.json``."""
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        sqlite = args.out / f"{name}-{size}-{uuid.uuid4().hex[:6]}.sqlite3"
        url = (new_postgres_database(args.postgres_url, f"{name}_{size}") if args.postgres_url
               else f"sqlite:///{sqlite}")
        try:
            row = measure(url, size, args.out)
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{sqlite}{suffix}").unlink(missing_ok=True)
        rows.append(row)
        print(json.dumps(row), flush=True)
    (args.out / f"{name}-results.json").write_text(json.dumps(rows, indent=2))
    return rows


def wait_http(url: str, process: subprocess.Popen[bytes] | None = None,
              timeout: float = 60) -> None:
    """Wait until ``url`` answers 200 (the service started); fail if ``process`` (the
    server) exits first or nothing answers within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"the server exited ({process.returncode}) before {url} answered")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not answer")
        time.sleep(0.2)
