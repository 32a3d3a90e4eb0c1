"""Every request has an id: in the ``X-Request-ID`` header, the problem documents and the
log lines of the request; logs as text or JSON lines."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from passport.config import Settings
from passport.logs import RequestIdFilter, formatter
from tests import privacy
from tests.workers import PASSPORT


@pytest.fixture
def app(make_app: Any, database_url: str, tmp_path: Path) -> Flask:
    return make_app(Settings.from_env({  # type: ignore[no-any-return]
        "PASSPORT_ENV": "test", "PASSPORT_DATABASE_URL": database_url,
        "PASSPORT_INSTANCE_DIR": str(tmp_path / "instance")}))


def test_each_answer_names_its_request(app: Flask) -> None:
    client = app.test_client()
    first, second = client.get("/health"), client.get("/health")
    ids = [r.headers["X-Request-ID"] for r in (first, second)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids) and ids[0] != ids[1]


@pytest.mark.parametrize(("given", "kept"), [
    ("lb-2f1c9a7e", True),
    ("Root=1-67891233-abcdef012345678912345678", True),
    ("short", False),
    ("x" * 129, False),
    ("has space inside", False),
    ("quote\"inside-123", False),
])
def test_a_sensible_incoming_id_is_kept(app: Flask, given: str, kept: bool) -> None:
    answered = app.test_client().get("/health", headers={"X-Request-ID": given})
    assert (answered.headers["X-Request-ID"] == given) is kept
    assert re.fullmatch(r"[A-Za-z0-9._:=+/-]{8,128}", answered.headers["X-Request-ID"])


def test_a_problem_quotes_the_request_id(app: Flask) -> None:
    refused = app.test_client().get("/api/v1/me/passport",
                                    headers={"X-Request-ID": "support-case-42"})
    assert refused.status_code == 401
    assert refused.json["request_id"] == "support-case-42" == refused.headers["X-Request-ID"]


def test_log_lines_of_a_request_carry_its_id(make_app: Any, tmp_path: Path) -> None:
    # A database that cannot be opened (a directory): the health check logs a warning.
    app = make_app(Settings.from_env({
        "PASSPORT_ENV": "test", "PASSPORT_INSTANCE_DIR": str(tmp_path),
        "PASSPORT_DATABASE_URL": f"sqlite:///{tmp_path}"}))
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(formatter("text"))
    logger = logging.getLogger("passport")
    logger.addHandler(handler)
    try:
        answer = app.test_client().get("/health")
        logging.getLogger("passport.test").warning("outside any request")
    finally:
        logger.removeHandler(handler)
    assert answer.status_code == 503
    request_id = answer.headers["X-Request-ID"]
    inside, outside = lines.getvalue().splitlines()
    assert f"[{request_id}]: health check: database unreachable" in inside
    assert outside.endswith("passport.test [-]: outside any request")


def test_json_log_lines(tmp_path: Path) -> None:
    env = {**os.environ, "PASSPORT_LOG_FORMAT": "json", "PASSPORT_LOG_LEVEL": "INFO",
           "PASSPORT_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    done = subprocess.run([PASSPORT, "db", "upgrade"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    # Log records are JSON lines; the command's own messages to its user stay text.
    records = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert records and all({"time", "level", "logger", "message", "request_id"} <= r.keys()
                           for r in records)
    assert any(r["logger"].startswith("alembic") and "upgrade" in r["message"]
               for r in records)
    assert {r["request_id"] for r in records} == {"-"}


def test_an_unknown_log_format_is_a_usage_error(tmp_path: Path) -> None:
    env = {**os.environ, "PASSPORT_LOG_FORMAT": "xml",
           "PASSPORT_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    done = subprocess.run([PASSPORT, "certifiers", "list"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "PASSPORT_LOG_FORMAT must be one of text, json, not 'xml'" in done.stderr


@pytest.mark.parametrize("kind", ["text", "json"])
def test_a_nir_never_reaches_a_log_line(kind: str) -> None:
    """The code never logs a NIR (the privacy scan reads every record); a message or a
    traceback quoting a file's value is masked in the line all the same."""
    from passport.nir import MASK

    nir = "196113155500150"
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(formatter(kind))
    logger = logging.getLogger("passport.test.masking")
    logger.addHandler(handler)
    try:
        with privacy.SESSION.paused():  # planted on purpose
            logger.warning("identifiantNational %s refused", nir)
            try:
                raise ValueError(f"bad value {nir!r}")
            except ValueError:
                logger.exception("reader failed")
    finally:
        logger.removeHandler(handler)
    lines = out.getvalue()
    assert nir not in lines
    assert lines.count(MASK) == 2 and "reader failed" in lines and "ValueError" in lines
