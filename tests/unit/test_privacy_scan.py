"""The whole-suite privacy scan (tests/privacy.py) really watches each channel: a NIR
planted in a log record, an error body, an analytics answer, a CLI output, a database row
or a child's log file is found, and an encrypted or hashed one is not; an answer to a
credentialed request that a cache may keep is found too."""

from __future__ import annotations

import logging
from pathlib import Path

import click
import flask
import sqlalchemy as sa
from click.testing import CliRunner

from passport.models import Base
from tests import privacy
from tests.flux import PERSON_NIR

NIR = PERSON_NIR


def planted() -> privacy.Collector:
    """A collector of its own, so that planted NIRs never reach the session's."""
    return privacy.Collector()


def test_a_nir_in_a_log_record_is_found() -> None:
    collector = planted()
    handler = collector.log_handler()
    logger = logging.getLogger("passport.planted")
    logger.addHandler(handler)
    try:
        with privacy.SESSION.paused():
            logger.debug("holder %s", "x")
            logger.debug("holder %s", NIR)
    finally:
        logger.removeHandler(handler)
    assert collector.counts["log records"] == 2
    assert collector.hits == [{"channel": "log records", "where": "passport.planted",
                               "value": NIR[:3] + "*" * 12}]


def test_error_bodies_and_analytics_answers_are_scanned_but_not_the_holders_own() -> None:
    app = flask.Flask("planted")

    @app.get("/api/v1/me/export")
    def export() -> dict[str, str]:
        return {"nir": NIR}  # the holder's own data: allowed

    @app.get("/api/v1/analytics/success-rates")
    def analytics() -> dict[str, str]:
        return {"leak": NIR}

    @app.get("/api/v1/boom")
    def boom() -> tuple[dict[str, str], int]:
        return {"detail": f"NIR {NIR} inconnu"}, 422

    collector = planted()
    flask.request_finished.connect(collector.on_response, app)
    try:
        with privacy.SESSION.paused():
            client = app.test_client()
            for path in ("/api/v1/me/export", "/api/v1/analytics/success-rates", "/api/v1/boom"):
                client.get(path)
    finally:
        flask.request_finished.disconnect(collector.on_response, app)
    assert sorted(h["where"] for h in collector.hits) == [
        "GET /api/v1/analytics/success-rates → 200", "GET /api/v1/boom → 422"]


def test_a_cacheable_answer_to_a_credentialed_request_is_found() -> None:
    app = flask.Flask("planted")

    @app.get("/mine")
    def mine() -> tuple[dict[str, str], int, dict[str, str]]:
        return {}, 200, {"Cache-Control": "private, max-age=60"}

    @app.get("/public")
    def public() -> tuple[dict[str, str], int, dict[str, str]]:
        return {}, 200, {"Cache-Control": "public, max-age=300"}

    @app.get("/sealed")
    def sealed() -> tuple[dict[str, str], int, dict[str, str]]:
        return {}, 200, {"Cache-Control": "no-store"}

    collector = planted()
    collector.apps = ("planted",)
    flask.request_finished.connect(collector.on_response, app)
    try:
        with privacy.SESSION.paused():
            client = app.test_client()
            client.get("/mine", headers={"Authorization": "Bearer x"})
            client.get("/sealed", headers={"Authorization": "Bearer x"})
            client.get("/public")  # no credential: anyone's to cache
            client.set_cookie("share_visit", "1")
            client.get("/public")  # a cookie is a credential
    finally:
        flask.request_finished.disconnect(collector.on_response, app)
    assert collector.counts[privacy.CREDENTIALED] == 3
    assert collector.stored == [
        {"where": "GET /mine → 200", "cache_control": "private, max-age=60"},
        {"where": "GET /public → 200", "cache_control": "public, max-age=300"}]


def test_cli_output_is_scanned() -> None:
    @click.command()
    def leaky() -> None:
        click.echo(f"ligne 2 : {NIR}")

    with privacy.SESSION.paused():
        collector = planted()
        result = CliRunner().invoke(leaky, [])
        collector.scan("CLI output", "leaky", result.output)
    assert collector.hits and collector.hits[0]["channel"] == "CLI output"


def test_database_dump_finds_text_and_json_values_only(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'planted.sqlite3'}")
    meta = sa.MetaData()
    table = sa.Table("t", meta, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("note", sa.String), sa.Column("doc", sa.JSON),
                     sa.Column("sealed", sa.LargeBinary))
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [
            {"note": "rien", "doc": {}, "sealed": NIR.encode()},  # binary: the vault's column
            {"note": "ok", "doc": {"nested": [NIR]}, "sealed": b""},
            {"note": f"<{NIR}>", "doc": None, "sealed": b""},
        ])
    collector = planted()
    with engine.connect() as conn:
        collector.dump(conn, "planted", [table])
    assert [h["where"] for h in collector.hits] == ["t (planted)", "t (planted)"]
    engine.dispose()


def test_the_session_dump_covers_every_table_of_the_database(engine: sa.Engine) -> None:
    # The conftest dumps Base.metadata's tables: one made otherwise would escape the scan.
    in_database = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    assert in_database == {t.name for t in Base.metadata.sorted_tables}


def test_child_process_log_files_are_scanned(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    log.write_text(f"INFO passport.x: import de {NIR}\n")
    collector = planted()
    collector.scan_file("child process logs", log)
    assert collector.hits[0]["where"] == "child.log"


def test_a_valid_key_is_required() -> None:
    wrong_key = NIR[:13] + f"{(int(NIR[13:]) + 1) % 97:02d}"
    assert privacy.nirs_in(f"a {wrong_key} b") == []
    assert privacy.nirs_in(f"a {NIR} b") == [NIR]
