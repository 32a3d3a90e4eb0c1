"""One database session per request; the request wrapper owns the transaction.

Views that write are decorated with `transactional`, which commits when the view returns
(before the response is serialised) and rolls back when it raises.  Anything left
uncommitted at the end of the request is rolled back.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

F = TypeVar("F", bound=Callable[..., Any])


def init_app(app: Flask, factory: sessionmaker[Session]) -> None:
    """Register the session factory and the end-of-request cleanup."""
    app.extensions["passport.sessions"] = factory

    @app.teardown_appcontext
    def _close(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()


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
