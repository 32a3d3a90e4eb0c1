"""Input no part of the service can store or render: NUL and other forbidden characters.

PostgreSQL text cannot hold U+0000, so a NUL in a query parameter, a path segment or a JSON
string reached the database as a 500 ("PostgreSQL text fields cannot contain NUL"; found
by the contract test on PostgreSQL).  It is refused first, with ``422 nul_character``.

The other characters no output can carry (`passport.text`) are refused the same way,
``422 invalid_character``: stored, they broke what is made of the text later (a
CV's PDF metadata is XML: a name with U+0002 made its generation a 500; found by `make
fuzz-api`).  Flux uploads are bytes and have their own gate (``encoding``); their bodies
are not read here.

Bodies are bounded before any of this (``PASSPORT_MAX_BODY_BYTES``, 1 MiB: a JSON body is
parsed whole, into many times its size — 30 MB of ``[]`` took 820 MB and 11 s, before the
request's token was even looked at), and JSON nested deeper than Python's parser goes is
invalid JSON (400), not an internal error.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any

from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge

from passport.text import FORBIDDEN
from passport.web.errors import problem


def _body_texts() -> Iterator[str]:
    mimetype = request.mimetype
    if mimetype == "application/x-www-form-urlencoded":
        for key, value in request.form.items(multi=True):
            yield key
            yield value
    elif mimetype == "application/json" or mimetype.endswith("+json"):
        _refuse_cut_body()
        yield from _strings(request.get_json(silent=True, cache=True))


def _refuse_cut_body() -> None:
    """A body sent without a length (chunked) is cut at the limit by werkzeug, silently:
    what reached it is refused as too large, not parsed as a truncated document."""
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(
            request.get_data(cache=True)) >= limit:
        raise RequestEntityTooLarge()


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


class JSONProvider(DefaultJSONProvider):
    """Flask's, with JSON nested too deep for the parser (``[[[[…``: a RecursionError,
    which Flask let through as a 500) a decoding error like any other."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise too_deep() from None


def too_deep() -> json.JSONDecodeError:
    """What JSON nested deeper than the parser goes is: undecodable (400)."""
    return json.JSONDecodeError("JSON nested too deeply", "[", 0)


def init_app(app: Flask) -> None:
    app.json = JSONProvider(app)

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
