"""Strict CSV reading for the imports: UTF-8, comma-separated, header line, empty = unknown."""

from __future__ import annotations

import csv
import datetime as dt
import enum
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ingestion.bulk import BulkWriter
from passport.text import forbidden_character


class ImportFailed(Exception):
    """A row (or the header) is bad; nothing of the import is kept."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


def count_rows(path: Path) -> int:
    """Data lines in the file (for the progress bar); cheap, binary."""
    with path.open("rb") as fh:
        return max(sum(1 for _ in fh) - 1, 0)


def read_rows(
    path: Path, required: Sequence[str], optional: Sequence[str] = ()
) -> Iterator[tuple[int, dict[str, str | None]]]:
    """Yield ``(line number, row)`` with empty cells as None; raise `ImportFailed`."""
    try:
        fh = path.open(encoding="utf-8", newline="")
        with fh:
            reader = csv.reader(fh, strict=True)
            try:
                header = next(reader)
            except StopIteration:
                raise ImportFailed(1, "the file is empty (a header line is expected)") from None
            header = [h.strip().lstrip("\ufeff") for h in header]
            missing = [c for c in required if c not in header]
            unknown = [c for c in header if c not in required and c not in optional]
            if missing or unknown:
                parts = []
                if missing:
                    parts.append("missing column(s): " + ", ".join(missing))
                if unknown:
                    parts.append("unknown column(s): " + ", ".join(unknown))
                raise ImportFailed(1, "; ".join(parts) + f"; expected: {','.join(required)}")
            for cells in reader:
                line = reader.line_num
                if not cells or cells == [""]:
                    continue
                if len(cells) != len(header):
                    raise ImportFailed(
                        line, f"{len(cells)} cells where the header has {len(header)}"
                    )
                if forbidden_character("\n".join(cells)) is not None:  # one search a row
                    column, character = next(
                        (c, found) for c, v in zip(header, cells, strict=True)
                        if (found := forbidden_character(v)) is not None)
                    raise ImportFailed(line, f"{column} contains the character {character}, "
                                             "which no field accepts")
                yield line, {k: (v.strip() or None) for k, v in zip(header, cells, strict=True)}
    except UnicodeDecodeError as exc:
        raise ImportFailed(0, f"the file is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise ImportFailed(0, f"malformed CSV: {exc}") from None


def require(row: dict[str, str | None], name: str, line: int) -> str:
    """A cell that may not be empty."""
    value = row.get(name)
    if value is None:
        raise ImportFailed(line, f"{name} is required")
    return value


def parse_cell(row: dict[str, str | None], name: str, line: int, parse: Callable[[str], Any]) -> Any:
    """Parse an optional cell with ``parse``; a ValueError names the column and line."""
    value = row.get(name)
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        raise ImportFailed(line, f"{name}: {exc}") from None


class Staging:
    """The rows of one import, written to a temporary table as they are read, checked
    there for keys given twice, then upserted into their table: memory stays flat however
    long the file (a national extract has tens of millions of lines; a dictionary of the
    keys seen took 200 bytes a line).

    Each batch goes in through `BulkWriter` (``COPY`` on PostgreSQL, an ``executemany`` on
    SQLite). The upsert is one
    ``INSERT … SELECT … ON CONFLICT DO UPDATE`` per block of lines, which writes a row
    again only when one of its ``compared`` columns changed (a monthly extract is mostly
    the last one): an executemany of single-row upserts took 130 µs a line on PostgreSQL.
    """

    #: Lines written to the staging table at once, and upserted at once.
    BATCH = 1000
    BLOCK = 50_000

    def __init__(self, session: Session, table: sa.Table, columns: Sequence[str],
                 key: str) -> None:
        self.session, self.target, self.key = session, table, key
        self.columns = list(columns)
        self.postgres = session.get_bind().dialect.name == "postgresql"
        # Dropped at commit on PostgreSQL; SQLite drops it after the upsert.
        options: dict[str, Any] = {"postgresql_on_commit": "DROP"} if self.postgres else {}
        self.table = sa.Table(
            f"staging_{table.name}", sa.MetaData(),
            sa.Column("line", sa.Integer, primary_key=True),
            *(sa.Column(c, table.c[c].type) for c in self.columns),
            prefixes=["TEMPORARY"], **options)
        self.table.drop(session.connection(), checkfirst=True)
        self.table.create(session.connection())
        self._writer = BulkWriter(session, self.table.name, ["line", *self.columns])
        self._pending: list[tuple[Any, ...]] = []
        self.last_line = 0

    def add(self, line: int, row: dict[str, Any]) -> None:
        """Stage one line's row (its columns: ``columns``)."""
        self._pending.append((line, *(self._encoded(row[c]) for c in self.columns)))
        self.last_line = line
        if len(self._pending) >= self.BATCH:
            self._write()

    def _encoded(self, value: Any) -> Any:
        """A value as `BulkWriter` takes it (below SQLAlchemy's type processing)."""
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, dt.datetime):
            return self._writer.timestamp(value)
        if isinstance(value, dt.date):
            return value.isoformat()
        return value

    def _write(self) -> None:
        self._writer.write(self._pending)
        self._pending = []

    def first_repeat(self) -> tuple[int, int, Any] | None:
        """The first line whose key an earlier line has: that line, the earlier one, the
        key (one sort of the staged keys, in the database)."""
        self._write()
        t = self.table
        first = sa.func.min(t.c.line).over(partition_by=t.c[self.key]).label("first")
        lines = sa.select(t.c.line, first, t.c[self.key].label("key")).subquery()
        found = self.session.execute(
            sa.select(lines.c.line, lines.c.first, lines.c.key)
            .where(lines.c.line > lines.c.first).order_by(lines.c.line).limit(1)).first()
        return (found[0], found[1], found[2]) if found else None

    def upsert(self, compared: Sequence[str], *,
               changed: Callable[[list[int]], None] | None = None) -> None:
        """Write the staged rows into their table, rewriting a row only when one of its
        ``compared`` columns changed; ``changed`` gets, block by block, the ids of the rows
        inserted or changed."""
        self._write()
        target, staged = self.target, self.table
        insert = postgresql.insert(target) if self.postgres else sqlite.insert(target)
        for start in range(0, self.last_line + 1, self.BLOCK):
            block = sa.select(*(staged.c[c] for c in self.columns)).where(
                staged.c.line >= start, staged.c.line < start + self.BLOCK)
            rows = insert.from_select(self.columns, block)
            statement: Any = rows.on_conflict_do_update(
                index_elements=[self.key],
                set_={c: rows.excluded[c] for c in self.columns if c != self.key},
                where=sa.or_(*(target.c[c].is_distinct_from(rows.excluded[c])
                               for c in compared)))
            if changed is not None:
                changed(list(self.session.execute(statement.returning(target.c.id)).scalars()))
            else:
                self.session.execute(statement)
        if not self.postgres:
            self.table.drop(self.session.connection())
