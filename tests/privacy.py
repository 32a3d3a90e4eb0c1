"""Whole-suite privacy scan (a pytest plugin).

While the suite runs, everything that leaves the application towards someone who is not
the holder is scanned for NIR-shaped strings (15 characters with a valid key, see
``passport.nir.is_shaped``):

- every log record of every logger, in the test process (``passport`` and ``ingestion``
  log at DEBUG during the run, so debug messages are scanned too), and the log files of
  the child processes the tests start (``PASSPORT_LOG_FILE``, the workers' logs);
- every error body the app returns (status >= 400), and every analytics answer
  (JSON, CSV, SVG) whatever its status;
- what every CLI command printed;
- a dump of the database (every text and JSON value of every table: the NIR vault's
  column is binary) taken at the end of each test, before its data is rolled back or
  emptied.

Besides, every answer to a request that carried a credential (``Authorization``, a cookie)
must forbid keeping a copy (``Cache-Control: no-store``): such an answer is someone's data.

At the end of the run the figures go to ``artifacts/privacy-scan.json`` and any hit fails
the run, naming where it was found (the value itself is masked).  ``tests/unit/
test_privacy_scan.py`` plants NIRs to show that each of these channels is really watched.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flask
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from stdnum.fr import nir as stdnum_nir

from passport.nir import NIR_SHAPE

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
#: Answers scanned whatever their status: the analytics outputs.
ALWAYS_SCANNED = ("/api/v1/analytics",)
#: The count of answers to requests that carried a credential.
CREDENTIALED = "credentialed answers"


def nirs_in(text: str) -> list[str]:
    """The NIR-shaped values (valid key) in ``text``."""
    return [m.group(0) for m in NIR_SHAPE.finditer(text) if stdnum_nir.is_valid(m.group(0))]


def mask(nir: str) -> str:
    return nir[:3] + "*" * (len(nir) - 3)


@dataclass
class Collector:
    """Counts what was scanned and keeps where NIRs were found."""

    counts: Counter[str] = field(default_factory=Counter)
    hits: list[dict[str, str]] = field(default_factory=list)
    #: Answers to credentialed requests that a cache may keep.
    stored: list[dict[str, str]] = field(default_factory=list)
    #: The apps whose answers must not be kept: ours, not the development OIDC provider
    #: that plays FranceConnect in the same process.
    apps: tuple[str, ...] = ("passport.app",)
    _paused: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def scan(self, channel: str, where: str, text: str) -> None:
        if self._paused:
            return
        found = nirs_in(text)
        with self._lock:
            self.counts[channel] += 1
            self.hits.extend({"channel": channel, "where": where, "value": mask(n)} for n in found)

    def scan_values(self, channel: str, where: str, values: Iterable[Any]) -> None:
        """Scan the text and JSON values of database rows."""
        for value in values:
            if isinstance(value, str):
                self.scan(channel, where, value)
            elif isinstance(value, (dict, list)):
                self.scan(channel, where, json.dumps(value, ensure_ascii=False))

    @contextmanager
    def paused(self) -> Iterator[None]:
        """For the self-tests, which plant NIRs on purpose."""
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1

    # -- the channels -------------------------------------------------------------------

    def log_handler(self) -> logging.Handler:
        collector = self

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                try:
                    text = self.format(record)
                except Exception:  # a broken log call is its test's business
                    text = str(record.msg)
                collector.scan("log records", record.name, text)

        handler = Handler(logging.NOTSET)
        handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
        return handler

    def on_response(self, sender: flask.Flask, response: flask.Response, **_: Any) -> None:
        path = flask.request.path
        if sender.import_name in self.apps:
            self.check_caching(response)
        if response.status_code < 400 and not path.startswith(ALWAYS_SCANNED):
            return
        if response.is_streamed:
            return
        channel = "error bodies" if response.status_code >= 400 else "analytics answers"
        self.scan(channel, f"{flask.request.method} {path} → {response.status_code}",
                  response.get_data(as_text=True))

    def check_caching(self, response: flask.Response) -> None:
        request = flask.request
        if self._paused or not ("Authorization" in request.headers or request.cookies):
            return
        cache_control = response.headers.get("Cache-Control", "")
        with self._lock:
            self.counts[CREDENTIALED] += 1
            if "no-store" not in cache_control:
                self.stored.append({"where": f"{request.method} {request.path} → "
                                             f"{response.status_code}",
                                    "cache_control": cache_control or "(none)"})

    def dump(self, conn: sa.Connection, where: str, tables: Iterable[sa.Table]) -> None:
        """Scan every row of ``tables`` as seen by ``conn``."""
        if self._paused:
            return
        for table in tables:
            columns = [c for c in table.columns
                       if not isinstance(c.type, (sa.LargeBinary, sa.Integer, sa.Date,
                                                  sa.DateTime, sa.Boolean, sa.Numeric))]
            if not columns:
                continue
            for row in conn.execute(sa.select(*columns)):
                self.scan_values("database values", f"{table.name} ({where})", row)

    def scan_file(self, channel: str, path: Path) -> None:
        if path.exists():
            self.scan(channel, path.name, path.read_text(errors="replace"))

    def report(self) -> dict[str, Any]:
        return {"scanned": dict(sorted(self.counts.items())), "hits": self.hits,
                "stored": self.stored}


SESSION = Collector()
_handler = SESSION.log_handler()


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger().addHandler(_handler)
    for name in ("passport", "ingestion"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    flask.request_finished.connect(SESSION.on_response)
    # Child processes (CLI, servers, workers) append their logs here.
    log_dir = ARTIFACTS / "privacy"
    log_dir.mkdir(parents=True, exist_ok=True)
    child_log = log_dir / f"children-{os.getpid()}.log"
    child_log.unlink(missing_ok=True)
    os.environ["PASSPORT_LOG_FILE"] = str(child_log)
    config.stash[_CHILD_LOG] = child_log

    invoke = CliRunner.invoke

    def scanned_invoke(self: CliRunner, cli: Any, args: Any = None, **kwargs: Any) -> Any:
        result = invoke(self, cli, args, **kwargs)
        shown = args if isinstance(args, str) else " ".join(map(str, args or ()))
        SESSION.scan("CLI output", f"passport {shown}"[:80], result.output)
        return result

    CliRunner.invoke = scanned_invoke  # type: ignore[method-assign]


_CHILD_LOG = pytest.StashKey[Path]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    SESSION.scan_file("child process logs", config.stash[_CHILD_LOG])
    logging.getLogger().removeHandler(_handler)
    flask.request_finished.disconnect(SESSION.on_response)
    report = SESSION.report()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "privacy-scan.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    scanned = dict(report["scanned"])
    credentialed = scanned.pop(CREDENTIALED, 0)
    figures = ", ".join(f"{n} {what}" for what, n in scanned.items())
    if reporter is not None:
        reporter.write_line("")
        reporter.write_sep("-", f"privacy scan: {len(SESSION.hits)} NIR-shaped value(s) in "
                                f"{figures or 'nothing'}; {len(SESSION.stored)} cacheable of "
                                f"{credentialed} {CREDENTIALED}")
        for hit in SESSION.hits[:20]:
            reporter.write_line(f"  NIR {hit['value']} in {hit['channel']}: {hit['where']}")
        for answer in SESSION.stored[:20]:
            reporter.write_line(f"  cacheable answer to a credentialed request: "
                                f"{answer['where']} (Cache-Control: {answer['cache_control']})")
    if SESSION.hits or SESSION.stored:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
