"""Input no part of the service can store: NUL characters.

PostgreSQL text cannot hold U+0000, so a NUL in a query parameter, a path segment or a JSON
string reached the database as a 500 ("PostgreSQL text fields cannot contain NUL"; found
by the contract test on PostgreSQL).  It is refused first, with ``422 nul_character``.
Flux uploads are bytes and have their own gate (``encoding``); their bodies are not read
here.
"""

from __future__ import annotations

from flask import Flask, Response, request

from passport.web.errors import problem

_TEXT_BODIES = ("application/json", "application/x-www-form-urlencoded")


def _nul_in_request() -> str | None:
    if "\x00" in request.path:
        return "path"
    if any("\x00" in key or "\x00" in value for key, value in request.args.items(multi=True)):
        return "query"
    mimetype = request.mimetype
    if mimetype in _TEXT_BODIES or mimetype.endswith("+json"):
        body = request.get_data(cache=True)
        if b"\x00" in body or b"\\u0000" in body:
            return "body"
    return None


def init_app(app: Flask) -> None:
    @app.before_request
    def _refuse_nul() -> Response | None:
        where = _nul_in_request()
        if where is None:
            return None
        return problem(422, "nul_character", "NUL character",
                       f"The request's {where} contains a NUL character (U+0000), which no "
                       "field accepts.")
