"""What several benchmarks need."""

from __future__ import annotations

import subprocess
import time
import uuid

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
