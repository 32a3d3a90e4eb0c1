"""Input no part of the service can store or render: NUL and other forbidden characters.

PostgreSQL text cannot hold U+0000, so a NUL in a query parameter, a path segment or a JSON
string reached the database as a 500 ("PostgreSQL text fields cannot contain NUL"; found
by the contract test on PostgreSQL).  It is refused first, with ``422 nul_character``.

The other characters no output can carry (`passport.text`) are refused the same way,
``422 invalid_character``: stored, they broke what is made of the text later (a
CV's PDF metadata is XML: a name with U+0002 made its generation a 500; found by `make
fuzz-api`).  Flux uploads are bytes and have their own gate (``encoding``); their bodies
are not read here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, request

from passport.text import FORBIDDEN
from passport.web.errors import problem

_TEXT_BODIES = ("application/json", "application/x-www-form-urlencoded")


def _body_texts() -> Iterator[str]:
    mimetype = request.mimetype
    if mimetype == "application/x-www-form-urlencoded":
        for key, value in request.form.items(multi=True):
            yield key
            yield value
    elif mimetype == "application/json" or mimetype.endswith("+json"):
        yield from _strings(request.get_json(silent=True, cache=True))


def _strings(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


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


def _forbidden_in_request() -> str | None:
    if FORBIDDEN.search(request.path):
        return "path"
    if any(FORBIDDEN.search(key) or FORBIDDEN.search(value)
           for key, value in request.args.items(multi=True)):
        return "query"
    if any(FORBIDDEN.search(text) for text in _body_texts()):
        return "body"
    return None


def init_app(app: Flask) -> None:
    @app.before_request
    def _refuse_forbidden_characters() -> Response | None:
        where = _nul_in_request()
        if where is not None:
            return problem(422, "nul_character", "NUL character",
                           f"The request's {where} contains a NUL character (U+0000), which "
                           "no field accepts.")
        where = _forbidden_in_request()
        if where is not None:
            return problem(422, "invalid_character", "Invalid character",
                           f"The request's {where} contains a control character (other than "
                           "tab, line feed and carriage return), U+FFFE, U+FFFF or a lone "
                           "surrogate, which no field accepts.")
        return None
