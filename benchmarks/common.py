"""What several benchmarks need."""

from __future__ import annotations

import uuid

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
