"""`passport.db.membership`: the same rows whichever way the values travel."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport.analytics.models import LineageKey
from passport.db import _joined, membership, table_of

#: Values a naive join, an array literal or a CSV split would get wrong.
TRICKY = ["", "a", "a,b", '"quoted"', "{braces}", "back\\slash", "NULL", "é ü ß", "x\x1fy",
          " space ", "semi;colon", "'apostrophe'"]


def test_membership_finds_exactly_the_values(db: Session) -> None:
    stored = [*TRICKY, *(f"v{i:05d}" for i in range(6_000))]  # more than one chunk
    db.execute(sa.insert(LineageKey), [
        {"cert_type": "RNCP", "cert_code": str(i), "lineage": value}
        for i, value in enumerate(stored)])
    column = table_of(LineageKey).c.lineage

    def found(wanted: list[str]) -> list[str]:
        return sorted(value for condition in membership(db, column, wanted)
                      for value in db.scalars(sa.select(column).where(condition)))

    assert found(TRICKY) == sorted(TRICKY)
    assert found(stored) == sorted(stored)
    assert found(["", "a"]) == ["", "a"]
    assert found([""]) == [""]  # alone, "" would split into no element at all
    assert found(["a", "x\x1fy"]) == ["a", "x\x1fy"]  # the separator inside a value
    assert found(["absent", "v00042"]) == ["v00042"]
    assert found([]) == []


def test_strings_travel_as_one_text_when_they_can(db: Session, is_postgres: bool) -> None:
    assert _joined(["a", "b"]) == "a\x1fb"
    assert _joined([""]) is None
    assert _joined(["a", "x\x1fy"]) is None
    assert _joined([1, 2]) is None
    column = table_of(LineageKey).c.lineage
    sql = [str(condition.compile(dialect=db.get_bind().dialect))
           for condition in membership(db, column, ["a", "b"])]
    assert ("string_to_array" in sql[0]) == is_postgres
