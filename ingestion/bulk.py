"""Bulk writes on the session's own connection and transaction, below the ORM.

The ingestion hot path writes tens of thousands of rows per second; SQLAlchemy's per-row
type processing costs more than the database itself there.  `BulkWriter` sends tuples as
they are: ``COPY … FROM STDIN`` on PostgreSQL (psycopg 3), ``executemany`` on SQLite.
Values must already be in a form both accept: dates as ISO text, JSON as text, booleans,
numbers, and timestamps from `BulkWriter.timestamp`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session


class BulkWriter:
    """Writes rows of one table, given as tuples in ``columns`` order."""

    def __init__(self, session: Session, table: str, columns: Sequence[str]) -> None:
        self.session = session
        self.table = table
        self.columns = tuple(columns)
        self.postgres = session.get_bind().dialect.name == "postgresql"
        names = ", ".join(self.columns)
        if self.postgres:
            # Table and column names are our own constants, never input.
            self._statement = f"COPY {table} ({names}) FROM STDIN"
        else:
            marks = ", ".join("?" for _ in self.columns)
            self._statement = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608

    def timestamp(self, when: dt.datetime) -> Any:
        """A UTC timestamp as this backend's column expects it (SQLAlchemy's SQLite text)."""
        if self.postgres:
            return when
        return when.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        """Insert the rows in the session's current transaction."""
        if not rows:
            return
        dbapi = self.session.connection().connection.driver_connection
        assert dbapi is not None
        if self.postgres:
            with dbapi.cursor() as cursor, cursor.copy(self._statement) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor = dbapi.cursor()
            try:
                cursor.executemany(self._statement, rows)
            finally:
                cursor.close()
