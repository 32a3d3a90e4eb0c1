"""How a request's transaction ends, and which statements a request prepares on the server.

A transaction that only read commits (the same to the database as a rollback, but psycopg
forgets its prepared statements on every rollback); one that wrote without its view
committing is rolled back, as before. Requests prepare their statements on PostgreSQL;
jobs on the same engine never do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Blueprint, Flask, jsonify
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from passport.certifiers.models import Certifier
from passport.config import Settings
from passport.errors import InvalidInput
from passport.web.db import session
from tests.oauth import bearer

MARKER = "SELECT 4242 AS request_marker"


def _prepared() -> Any:
    """The statements prepared on this request's connection (None: not PostgreSQL)."""
    if session().get_bind().dialect.name != "postgresql":
        return None
    return sorted(session().scalars(sa.text("SELECT statement FROM pg_prepared_statements")))


def _routes() -> Blueprint:
    bp = Blueprint("transactions_test", __name__)

    @bp.get("/t/read")
    def read() -> Any:
        return jsonify(holders=session().scalar(sa.text("SELECT count(*) FROM holders")))

    @bp.get("/t/stray/<how>")
    def stray(how: str) -> Any:
        """A view that writes and never commits, then fails (a handled error) or not."""
        if how == "orm":
            session().add(Certifier(bcr="STRAYORM"))
            session().flush()
        elif how == "core":
            session().execute(sa.insert(Certifier).values(bcr="STRAYCOR"))
        elif how == "text":
            session().execute(sa.text("INSERT INTO certifiers (bcr, created_at) "
                                      "VALUES ('STRAYTXT', CURRENT_TIMESTAMP)"))
        elif how == "unflushed":  # read (a transaction begins), then add, never flush
            session().scalar(sa.select(sa.func.count()).select_from(Certifier))
            session().add(Certifier(bcr="STRAYNEW"))
            return jsonify(ok=True)
        raise InvalidInput("refused after a write")

    @bp.get("/t/marker/<int:times>")
    def marker(times: int) -> Any:
        for _ in range(times):
            session().execute(sa.text(MARKER))
        return jsonify(pid=session().scalar(sa.text("SELECT pg_backend_pid()"))
                       if session().get_bind().dialect.name == "postgresql" else None,
                       prepared=_prepared())

    return bp


@pytest.fixture
def make(make_app: Callable[[Settings], Flask], auth_settings: Settings
         ) -> Callable[..., tuple[Flask, FlaskClient]]:
    def build(**changes: Any) -> tuple[Flask, FlaskClient]:
        app = make_app(dataclasses.replace(auth_settings, **changes))
        app.register_blueprint(_routes())
        return app, app.test_client()

    return build


def _endings(app: Flask, client: FlaskClient, path: str) -> tuple[int, list[str]]:
    engine = app.extensions["passport.engine"]
    seen: list[str] = []
    listeners = {name: (lambda _conn, name=name: seen.append(name))
                 for name in ("commit", "rollback")}
    for name, listener in listeners.items():
        sa.event.listen(engine, name, listener)
    try:
        status = client.get(path).status_code
    finally:
        for name, listener in listeners.items():
            sa.event.remove(engine, name, listener)
    return status, seen


def test_a_read_ends_with_a_commit(make: Callable[..., tuple[Flask, FlaskClient]]) -> None:
    app, client = make()
    assert _endings(app, client, "/t/read") == (200, ["commit"])


@pytest.mark.parametrize("how", ["orm", "core", "text", "unflushed"])
def test_a_write_the_view_did_not_commit_is_rolled_back(
    make: Callable[..., tuple[Flask, FlaskClient]], committed: sessionmaker[Session], how: str
) -> None:
    app, client = make()
    status, endings = _endings(app, client, f"/t/stray/{how}")
    assert status == (200 if how == "unflushed" else 422)
    assert endings == ["rollback"]
    with committed() as db:
        assert db.scalars(sa.select(Certifier.bcr).where(Certifier.bcr.like("STRAY%"))
                          ).all() == []


def test_requests_prepare_their_statements(
    make: Callable[..., tuple[Flask, FlaskClient]], is_postgres: bool
) -> None:
    _app, client = make(database_prepare_threshold=1)
    first = client.get("/t/marker/3").json
    if not is_postgres:  # SQLite: nothing prepared on a server
        assert first["prepared"] is None
        return
    assert MARKER in first["prepared"]
    # The read committed: the next request on the connection finds them still prepared.
    second = client.get("/t/marker/0").json
    assert second["pid"] == first["pid"]
    assert MARKER in second["prepared"]


def test_requests_prepare_nothing_when_told_so(
    make: Callable[..., tuple[Flask, FlaskClient]], is_postgres: bool
) -> None:
    _app, client = make(database_prepare_threshold=0)
    assert client.get("/t/marker/8").json["prepared"] == ([] if is_postgres else None)


def test_jobs_on_the_same_engine_prepare_nothing(
    make: Callable[..., tuple[Flask, FlaskClient]], is_postgres: bool
) -> None:
    """A deposit job run by the web process (no broker) uses the app's sessions outside
    any request: its statements (a bulk load's) are never prepared."""
    app, client = make(database_prepare_threshold=1)
    assert client.get("/t/marker/3").status_code == 200  # the connection prepared for it
    with app.extensions["passport.sessions"]() as db:
        for _ in range(8):
            db.execute(sa.text("SELECT 4343 AS job_marker"))
        if is_postgres:
            prepared = db.scalars(sa.text("SELECT statement FROM pg_prepared_statements")).all()
            assert not [s for s in prepared if "job_marker" in s]
            assert db.connection().connection.dbapi_connection.prepare_threshold is None


def test_concurrent_journaled_writes_for_one_holder(app: Flask, holder: dict[str, Any],
                                                    committed: sessionmaker[Session]) -> None:
    """Four clients adding declarations to one passport at once (each journaled): every
    request succeeds and the journal keeps one chain. On SQLite a writing view takes the
    write lock before it reads: a deferred transaction that read and then wrote after
    another's commit failed at once with "database is locked"."""
    from passport.journal import service as journal

    def add(writer: int) -> list[int]:
        client = app.test_client()
        return [client.post("/api/v1/me/declarations", headers=bearer(holder["token"]),
                            json={"kind": "competence", "title": f"Compétence {writer}-{n}"}
                            ).status_code for n in range(5)]

    with ThreadPoolExecutor(4) as pool:
        codes = [code for codes in pool.map(add, range(4)) for code in codes]
    assert codes == [201] * 20
    with committed() as db:
        assert journal.verify(db, holder["holder_id"]) == (20, [])
