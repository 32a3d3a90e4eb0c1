"""Database foundations: declarative base, column types, engine and unit of work.

Entry points (an HTTP request, a CLI command, a job) own the transaction through
`unit_of_work`; services and the ingestion loader only ``flush()``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


#: Bound parameters per IN (...) list: well below SQLite's and PostgreSQL's limits.
IN_CHUNK = 900


def chunked(items: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    """Successive slices of at most ``size`` items (for IN lists and bulk statements)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


#: Splits the strings of a `membership` test sent as one text: a control character XML
#: never carries; a value holding it sends its chunk as an array instead.
UNIT_SEPARATOR = "\x1f"


def _joined(chunk: Sequence[Any]) -> str | None:
    """The strings of ``chunk`` as one text for ``string_to_array``, or None when they
    are not all strings, or a value would split or vanish (the empty string: PostgreSQL
    splits '' into no element at all)."""
    if not all(isinstance(value, str) for value in chunk) or "" in chunk:
        return None
    joined = UNIT_SEPARATOR.join(chunk)
    return joined if joined.count(UNIT_SEPARATOR) == len(chunk) - 1 else None


def membership(
    session: Session, column: sa.ColumnElement[Any], values: Iterable[Any]
) -> Iterator[sa.ColumnElement[bool]]:
    """``column IN (values)`` as a few conditions to run one after another.

    PostgreSQL gets ``column IN (SELECT unnest(:array))``: one bound parameter,
    `PG_CHUNK` values a time (an ``IN`` list of hundreds of parameters costs more to plan
    than to run).  Strings go as one text split by the server (``string_to_array``): psycopg
    quotes each element of a text array through a regular expression, 20× slower for
    5,000 values.  The values are a subquery, not ``column = ANY(:array)``: with ``ANY``
    the planner weighs thousands of index descents against one scan of the table, and
    picked the scan (and a hash join over a scan of the holders) for tables of a hundred
    thousand rows; as a subquery the values drive a nested loop over the index (the
    directory lookup of a batch of 2,000 passages: 42 → 23 ms).  A lookup that must never
    scan, whatever the statistics say, probes row by row: `ingestion.loader.stored_keys`.
    SQLite gets plain ``IN`` lists within its parameter limit.
    """
    ordered = sorted(set(values))
    if session.get_bind().dialect.name == "postgresql":
        for chunk in chunked(ordered, PG_CHUNK):
            yield column.in_(sa.select(sa.func.unnest(pg_array(column, chunk))))
    else:
        for chunk in chunked(ordered):
            yield column.in_(chunk)


#: Values per PostgreSQL array parameter (`membership`, `pg_array`).
PG_CHUNK = 5000


def pg_array(column: sa.ColumnElement[Any], values: Sequence[Any]) -> sa.ColumnElement[Any]:
    """``values`` as one PostgreSQL array of ``column``'s type (see `membership`)."""
    joined = _joined(values)
    if joined is not None:
        return sa.func.string_to_array(sa.bindparam(None, joined, type_=sa.Text), UNIT_SEPARATOR)
    from sqlalchemy.dialects.postgresql import ARRAY

    return sa.bindparam(None, list(values), type_=ARRAY(column.type))


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass
class Page:
    """One page of a listing, with the listing's total."""

    items: list[Any]
    page: int
    page_size: int
    total: int


@dataclass(frozen=True)
class Paged:
    """A listing's statements: a page of rows with the total riding on each row as a
    window count (one round trip), and the total alone, run only for a page past the end.

    Build it once per query shape where a listing is read often (building a statement costs
    more than running it); its parameters are the query's own, ``limit`` and ``offset``.
    """

    rows: Any
    total: Any

    @classmethod
    def of(cls, query: Any, *order: Any) -> Paged:
        return cls(query.add_columns(sa.func.count().over().label("total")).order_by(*order)
                   .limit(sa.bindparam("limit")).offset(sa.bindparam("offset")),
                   sa.select(sa.func.count()).select_from(query.subquery()))

    def page(self, db: Session, page: int, page_size: int,
             params: dict[str, Any] | None = None) -> tuple[list[tuple[Any, ...]], int]:
        """The rows of one page (without the count) and the total."""
        params = params or {}
        rows = db.execute(self.rows, {**params, "limit": page_size,
                                      "offset": (page - 1) * page_size}).all()
        if rows:
            return [tuple(row)[:-1] for row in rows], int(rows[0][-1])
        return [], (db.scalar(self.total, params) or 0) if page > 1 else 0


def paginate(db: Session, query: Any, *order: Any, page: int, page_size: int) -> Page:
    """A page of a one-entity query built for this request (its filters vary)."""
    rows, total = Paged.of(query, *order).page(db, page, page_size)
    return Page([row[0] for row in rows], page, page_size, total)


def insert_missing(session: Session, table: sa.Table, *keys: str) -> Any:
    """``INSERT … ON CONFLICT (keys) DO NOTHING``: rows another transaction inserted
    meanwhile (two deposits creating the same holder at once) are left alone instead of
    failing the whole load; read the ids back afterwards.  Without ``keys``, a conflict on
    any unique constraint is left alone."""
    elements = list(keys) or None
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=elements)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing(index_elements=elements)


def read_or_insert(session: Session, query: Any, insert: Callable[[], Any], *,
                   what: str, attempts: int = 10) -> Any:
    """What ``query`` reads, inserted first when missing: ``insert()`` gives an
    `insert_missing` statement, so that a row another transaction made meanwhile (the
    same first use twice at once, or by chance the same random value) is left alone and
    read back; a fresh ``insert()`` per attempt draws new random values."""
    for _attempt in range(attempts):
        if (found := session.scalar(query)) is not None:
            return found
        session.execute(insert())
    raise RuntimeError(f"{what}: still missing after {attempts} inserts")


def table_of(model: type[Any]) -> sa.Table:
    """A mapped class's Table (typed: ``Model.__table__`` is only a FromClause to mypy)."""
    return cast(sa.Table, model.__table__)


class Base(DeclarativeBase):
    """Declarative base of every model, with the constraint naming convention."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime()}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" listener below emit BEGIN, not pysqlite's heuristics.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable in WAL mode across process crashes (only an OS crash may lose
    # the last commits), which is the guarantee the all-or-nothing ingestion needs.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # 8 MiB of page cache instead of 2: a large ingestion updates indexes at random places;
    # measured ~15% faster on 100,000 passages for ~8 MB of memory.
    cursor.execute("PRAGMA cache_size=-8192")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with our per-backend connection settings."""
    url_obj = sa.engine.make_url(url)
    if url_obj.get_backend_name() == "sqlite":
        if url_obj.database and url_obj.database != ":memory:":
            from pathlib import Path

            Path(url_obj.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; emit it ourselves so that a
        # transaction really spans every statement of a unit of work.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(
            "BEGIN IMMEDIATE" if conn.get_execution_options().get("sqlite_immediate")
            else "BEGIN"))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if url_obj.get_backend_name() == "postgresql":
        # No automatic server-side prepared statements: psycopg prepares a query after five
        # runs and PostgreSQL may then keep a generic plan made while a table was still
        # empty (the ingestion's duplicate check went from 3 s to 170 s on 100,000 rows).
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("prepare_threshold", None)
        kwargs["connect_args"] = connect_args
    return sa.create_engine(url, **kwargs)


def analyze(session: Session, *tables: str) -> None:
    """Refresh planner statistics after a bulk load (PostgreSQL; SQLite plans without)."""
    if session.get_bind().dialect.name == "postgresql":
        session.flush()
        for table in tables:
            session.execute(sa.text(f"ANALYZE {table}"))


def analyze_grown(session: Session, table: str, added: int) -> bool:
    """Refresh ``table``'s planner statistics when ``added`` rows (just committed by a
    load) are more than a tenth of what they count — autovacuum's own threshold, which it
    would act on only a minute later, after the load's follow-up queries were planned on
    a table it believed nearly empty (PostgreSQL; SQLite plans without statistics).
    Returns whether it ran."""
    if added <= 0 or session.get_bind().dialect.name != "postgresql":
        return False
    counted = session.scalar(sa.text("SELECT reltuples FROM pg_class WHERE oid = "
                                     "CAST(:table AS regclass)"), {"table": table})
    if counted is not None and counted >= 0 and added <= 50 + 0.1 * counted:
        return False
    analyze(session, table)
    return True


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that never expire loaded objects on commit (views serialise after commit)."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def begin_immediate(session: Session) -> None:
    """Begin the session's transaction with SQLite's write lock taken at once (``BEGIN
    IMMEDIATE``, waiting for it up to the busy timeout); on PostgreSQL an ordinary begin."""
    session.connection(execution_options={"sqlite_immediate": True})


@contextmanager
def unit_of_work(factory: sessionmaker[Session], *, immediate: bool = False
                 ) -> Iterator[Session]:
    """Open a session, commit when the block succeeds, roll back when it raises.

    ``immediate``: the block reads then writes while other processes may write (deposit
    jobs). On SQLite the transaction then takes the write lock at once (``BEGIN
    IMMEDIATE``, waiting for it up to the busy timeout) instead of failing when another
    writer committed after its first read; PostgreSQL needs nothing of the sort.
    """
    session = factory()
    if immediate:
        begin_immediate(session)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
