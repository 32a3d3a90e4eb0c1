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


def test_stored_keys_probe_the_primary_key_whatever_the_statistics(db: Session) -> None:
    """The duplicate check of a batch looks each id up in ``passage_keys``' primary key.

    The keys are inserted in the test's transaction, as a load inserts its own: the table's
    statistics predate them.  With ``id_technique = ANY(...)`` (and with ``IN (SELECT
    unnest(...))``) PostgreSQL then read every key of the emitter and hashed them, for
    each batch of a load."""
    from ingestion.loader import stored_keys
    from passport.records.models import PassageKey

    emitter = "ZZ000PLN"
    db.execute(sa.insert(PassageKey), [
        {"emitter_bcr": emitter, "id_technique": f"id-{i:06d}", "holder_id": i}
        for i in range(20_000)])
    db.execute(sa.insert(PassageKey), [
        {"emitter_bcr": "ZZ000OTH", "id_technique": "id-000001", "holder_id": 7},
        {"emitter_bcr": emitter, "id_technique": "x\x1fy", "holder_id": 8}])
    wanted = ["id-000001", "id-019999", "absent", "x\x1fy", *(f"new-{i}" for i in range(2000))]

    statements: list[tuple[str, object]] = []

    def capture(conn: object, cursor: object, statement: str, parameters: object,
                context: object, executemany: bool) -> None:
        statements.append((statement, parameters))

    connection = db.connection()
    sa.event.listen(connection, "before_cursor_execute", capture)
    try:
        found = stored_keys(db, emitter, wanted)
    finally:
        sa.event.remove(connection, "before_cursor_execute", capture)
    assert found == {"id-000001": 1, "id-019999": 19_999, "x\x1fy": 8}

    postgres = db.get_bind().dialect.name == "postgresql"
    for statement, parameters in statements:
        explain = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
        plan = "\n".join(str(row[-1]) for row in
                         connection.exec_driver_sql(explain + statement, parameters))  # type: ignore[arg-type]
        assert "Scan on passage_keys" not in plan and "Bitmap" not in plan, plan
        if postgres:
            assert "Index Cond: (((emitter_bcr)::text = " in plan and "id_technique" in plan
        else:
            assert "USING" in plan and "id_technique=?" in plan, plan
