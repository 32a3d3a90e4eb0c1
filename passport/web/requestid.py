"""Every HTTP request gets an id: the caller's ``X-Request-ID`` when it is a sensible one
(a load balancer's), else a new one; it goes back in the same response header, in the
problem documents and in every log line of the request (`passport.logs`)."""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, request

from passport.logs import REQUEST_ID

HEADER = "X-Request-ID"
#: What an incoming id may look like: short, and nothing that could forge a log line.
_ACCEPTED = re.compile(r"[A-Za-z0-9._:=+/-]{8,128}")


def current() -> str | None:
    """The id of the request being answered (None outside a request)."""
    return REQUEST_ID.get()


def init_app(app: Flask) -> None:
    """Register the hooks (first, so that every other hook's logs carry the id)."""

    @app.before_request
    def _assign() -> None:
        given = request.headers.get(HEADER, "")
        REQUEST_ID.set(given if _ACCEPTED.fullmatch(given) else uuid.uuid4().hex)

    @app.after_request
    def _send(response: Response) -> Response:
        if request_id := REQUEST_ID.get():
            response.headers[HEADER] = request_id
        return response

    @app.teardown_request
    def _forget(_exc: BaseException | None) -> None:
        REQUEST_ID.set(None)  # a worker thread's next logs belong to no request
