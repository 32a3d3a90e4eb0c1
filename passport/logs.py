"""Logging of the ``passport`` processes: text or JSON lines, each with the id of the HTTP
request it belongs to (``-`` outside a request).

The id is the request's ``X-Request-ID`` (a load balancer's, so that one id follows the
request through every tier) or one made up; it is sent back in the same header and in
every problem document, so that a certifier's "I got a 500" comes with the line to look
for.  No web framework here: the web tier sets the id (`passport.web.requestid`), jobs and
commands log without one.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

from passport.nir import masked

#: The id of the HTTP request being answered in this context, if any.
REQUEST_ID: ContextVar[str | None] = ContextVar("passport_request_id", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
FORMATS = ("text", "json")


class RequestIdFilter(logging.Filter):
    """Give every record the ``request_id`` of its context."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True


class _Masking(logging.Formatter):
    """A formatted line with any NIR masked: the code never logs one (and the test suite's
    privacy scan reads every record to prove it), but an exception's message or a library's
    may quote a value of a file — a flux's ``identifiantNational``, an identity extract's
    line.  Masked in the whole line, traceback included (nir.md: never in a log)."""

    def format(self, record: logging.LogRecord) -> str:
        return masked(super().format(record))


class _MaskingJson(_Masking, JsonFormatter):
    pass


def formatter(kind: str) -> logging.Formatter:
    """The formatter of ``PASSPORT_LOG_FORMAT`` (``text`` or ``json``), NIRs masked."""
    if kind == "json":
        # One object a line: time, level, logger, message, request_id, and any ``extra``.
        return _MaskingJson("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                            rename_fields={"asctime": "time", "levelname": "level",
                                           "name": "logger"})
    if kind != "text":
        raise ValueError(f"PASSPORT_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {kind!r}")
    return _Masking(TEXT_FORMAT)


def configure(level: str, kind: str = "text", log_file: str | None = None,
              stream: TextIO | None = None) -> None:
    """Log to ``stream`` (stderr) and, if given, to ``log_file`` too."""
    chosen = formatter(kind)
    handlers: list[logging.Handler] = [logging.StreamHandler(stream)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8", delay=True))
    for handler in handlers:
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(chosen)
    logging.basicConfig(level=level, handlers=handlers)
