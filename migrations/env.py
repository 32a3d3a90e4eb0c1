"""Alembic environment: the database URL comes from `passport.config.Settings`."""

from __future__ import annotations

from alembic import context

from passport import models
from passport.config import Settings
from passport.db import make_engine

config = context.config
target_metadata = models.Base.metadata


def _render_item(type_: str, obj: object, autogen_context) -> str | bool:  # type: ignore[no-untyped-def]
    """Render our column types with plain SQLAlchemy ones, so migrations never import models."""
    from passport.db import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _url() -> str:
    return config.attributes.get("database_url") or Settings.from_env().database_url


def run_migrations_offline() -> None:
    """Emit SQL without a connection (``alembic upgrade --sql``)."""
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate through a live connection, with lock and statement timeouts on PostgreSQL."""
    connection = config.attributes.get("connection")
    if connection is None:
        engine = make_engine(_url())
        with engine.connect() as conn:
            _run(conn)
        engine.dispose()
    else:
        _run(connection)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    is_postgres = connection.dialect.name == "postgresql"
    if is_postgres:
        # Fail fast instead of queueing behind live traffic (Warehouse does the same).
        connection.exec_driver_sql("SET lock_timeout = '4s'")
        connection.exec_driver_sql("SET statement_timeout = '5min'")
        # Settings of the session, kept; the transaction they opened is closed so that
        # Alembic owns the migrations' own (an `autocommit_block` commits it).
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=not is_postgres,
        compare_type=True,
        # One transaction per migration, as Alembic advises where one builds an index
        # outside any (0013 on PostgreSQL).
        transaction_per_migration=True,
        render_item=_render_item,
    )
    if is_postgres:
        _migrate(connection)
        return
    # A batch operation rebuilds the table (copy, drop, rename); with foreign keys enforced
    # the drop fails while other tables' rows point at it. The pragma only takes effect
    # outside a transaction; the keys are checked once all is done.
    _sqlite_foreign_keys(connection, False)
    try:
        _migrate(connection)
    finally:
        _sqlite_foreign_keys(connection, True)
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    connection.commit()
    if broken:
        raise RuntimeError(f"foreign keys broken by the migration: {broken[:5]}")


def _migrate(connection) -> None:  # type: ignore[no-untyped-def]
    with context.begin_transaction():
        context.run_migrations()
    if connection.in_transaction():
        connection.commit()


def _sqlite_foreign_keys(connection, on: bool) -> None:  # type: ignore[no-untyped-def]
    if connection.in_transaction():  # nothing of the migrations' (each commits its own)
        connection.rollback()
    connection.connection.driver_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
