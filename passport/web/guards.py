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

from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any

from flask import Flask, Response, request

from passport.text import FORBIDDEN
from passport.web.errors import problem


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


def _forbidden_in_request() -> tuple[str, bool] | None:
    """Where the first forbidden character is (path, query, body) and whether a NUL is
    there; None when the request is clean.  One walk over each text."""
    places: tuple[tuple[str, Iterable[str]], ...] = (
        ("path", (request.path,)),
        ("query", chain.from_iterable(request.args.items(multi=True))),
        ("body", _body_texts()),
    )
    for where, texts in places:
        found = False
        for text in texts:
            if FORBIDDEN.search(text):
                if "\x00" in text:
                    return where, True
                found = True
        if found:
            return where, False
    return None


def init_app(app: Flask) -> None:
    @app.before_request
    def _refuse_forbidden_characters() -> Response | None:
        found = _forbidden_in_request()
        if found is None:
            return None
        where, nul = found
        if nul:
            return problem(422, "nul_character", "NUL character",
                           f"The request's {where} contains a NUL character (U+0000), which "
                           "no field accepts.")
        return problem(422, "invalid_character", "Invalid character",
                       f"The request's {where} contains a control character (other than tab, "
                       "line feed and carriage return), U+FFFE, U+FFFF or a lone surrogate, "
                       "which no field accepts.")
