"""URL converters."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, Map

#: The largest id a BIGINT (PostgreSQL) or INTEGER (SQLite) column holds.
MAX_ID = 2**63 - 1
#: The largest id of an INTEGER column on PostgreSQL (the ``deposits`` table's).
MAX_ID32 = 2**31 - 1


class IdConverter(IntegerConverter):
    """``<int:…>`` path segments that fit a 64-bit column: a larger number is an unknown
    object (404), never a database overflow (500). Found by schemathesis."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


class Id32Converter(IdConverter):
    """``<id32:…>``: ids of a 32-bit column (PostgreSQL INTEGER); a larger number is 404.
    Found by the contract test on PostgreSQL (``integer out of range``: a 500)."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID32)
        super().__init__(url_map, *args, **kwargs)


def object_id(**kwargs: Any) -> Any:
    """An object id in a request body: 1 to `MAX_ID` (larger ones are refused with 422,
    not sent to the database)."""
    from marshmallow import fields, validate

    return fields.Integer(strict=True, validate=validate.Range(1, MAX_ID), **kwargs)
