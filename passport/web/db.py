"""One database session per request; the request wrapper owns the transaction.

Views that write are decorated with `transactional`, which commits when the view returns
(before the response is serialised) and rolls back when it raises.  A write left
uncommitted at the end of the request is rolled back; a transaction that only read ends
with a commit, which is the same to the database but keeps psycopg's prepared statements
(it forgets them all on every rollback).

On PostgreSQL a request's statements are prepared on the server once they ran
``database_prepare_threshold`` times on a connection: the next runs skip parsing and
planning (planning the passport's sections cost more than running them). Only requests
prepare: a job running on the same engine (the in-process deposit queue) never does, so
that a bulk load never reuses a plan made while its table was still empty.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from flask import Flask, current_app, g, has_request_context
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from passport.db import begin_immediate

F = TypeVar("F", bound=Callable[..., Any])


#: Set on a connection's info when its transaction sent a statement that may write.
WROTE = "passport.wrote"
#: A session's info: the connection of its current transaction.
CONNECTION = "passport.connection"
#: Statements sent as text that do not write (anything else counts as a write).
_READS = ("SELECT", "SHOW", "EXPLAIN", "BEGIN")


def init_app(app: Flask, engine: Engine, factory: sessionmaker[Session],
             prepare_threshold: int) -> None:
    """Register the session factory, the end-of-request cleanup and the engine's hooks
    that note writes and let requests prepare their statements."""
    app.extensions["passport.sessions"] = factory
    threshold = prepare_threshold or None

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.info[WROTE] = False
        dbapi: Any = conn.connection.dbapi_connection
        if hasattr(dbapi, "prepare_threshold"):  # psycopg
            dbapi.prepare_threshold = threshold if has_request_context() else None

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _note_write(conn: Connection, _cursor: Any, statement: str, _parameters: Any,
                    context: Any, executemany: bool) -> None:
        if _may_write(statement, context, executemany):
            conn.info[WROTE] = True

    @sa.event.listens_for(factory, "after_begin")
    def _began(session: Session, _transaction: Any, conn: Connection) -> None:
        session.info[CONNECTION] = conn

    @app.teardown_appcontext
    def _close(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            end(session, failed=_exc is not None)
            session.close()


def _may_write(statement: str, context: Any, executemany: bool) -> bool:
    if context is None or executemany:
        return True
    if context.is_text:
        return not statement.lstrip()[:7].upper().startswith(_READS)
    return bool(context.isinsert or context.isupdate or context.isdelete)


def end(session: Session, *, failed: bool = False) -> None:
    """End a request's transaction: commit it when it only read, roll it back when it
    wrote (its view did not commit: it failed, or forgot), holds unflushed changes, broke
    (a statement failed) or the request ``failed``."""
    if session.get_transaction() is None:
        return
    if failed or not _only_read(session):
        session.rollback()
    else:
        session.commit()


def _only_read(session: Session) -> bool:
    """Whether the session's transaction is healthy and has written nothing, nor holds
    changes to write."""
    transaction = session.get_transaction()
    conn = session.info.get(CONNECTION)
    return not (transaction is None or conn is None or not transaction.is_active
                or session.new or session.dirty or session.deleted
                or conn.info.get(WROTE, True))


def lock_for_writing(session: Session) -> None:
    """SQLite: a view about to write takes the write lock first (``BEGIN IMMEDIATE``,
    waiting up to the busy timeout). A deferred transaction that read, then writes after
    another request committed fails at once with "database is locked" (SQLite cannot
    move its snapshot), so two journaled requests for one holder failed one of them. The
    transaction the token check began, which only read, is committed first."""
    if session.get_bind().dialect.name != "sqlite":
        return
    if session.in_transaction():
        if not _only_read(session):
            return
        session.commit()
    begin_immediate(session)


def session() -> Session:
    """The session of the current request (created on first use)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["passport.sessions"]()
    return cast(Session, g.db_session)


def transactional(view: F) -> F:
    """Commit the request's session when the view succeeds; roll back when it raises."""
    return committing()(view)


def committing(*kept: type[BaseException]) -> Callable[[F], F]:
    """Like `transactional`, but also commit when the view raises one of ``kept``: what a
    refused attempt must leave behind (a counted try, a lock, its journal entry)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            lock_for_writing(session())
            try:
                result = view(*args, **kwargs)
            except kept:
                session().commit()
                raise
            except BaseException:
                session().rollback()
                raise
            session().commit()
            return result

        return cast(F, wrapper)

    return decorate
