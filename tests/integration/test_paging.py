"""Listings' pages: the rows and the total in one round trip, the total alone past the end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport.db import Paged, paginate
from passport.holders.models import Holder
from passport.records.models import Declaration, DeclarationKind


@contextmanager
def statements(db: Session) -> Iterator[list[str]]:
    """The SQL the session sends to the database inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = db.get_bind().engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def holders(db: Session) -> list[int]:
    """Two holders: the first with five skills (titles 0 … 4), the second with one."""
    people = [Holder(nir_hmac=f"{n}" * 64, nir_enc=b"x", nir_key_id="k") for n in (1, 2)]
    db.add_all(people)
    db.flush()
    db.add_all(Declaration(holder_id=people[0].id, kind=DeclarationKind.SKILL, title=str(n),
                           skills=[]) for n in range(5))
    db.add(Declaration(holder_id=people[1].id, kind=DeclarationKind.SKILL, title="other",
                       skills=[]))
    db.flush()
    return [p.id for p in people]


def query(holder_id: int) -> Any:
    return sa.select(Declaration).where(Declaration.holder_id == holder_id)


@pytest.mark.parametrize(("page", "titles"), [(1, ["0", "1"]), (2, ["2", "3"]), (3, ["4"]),
                                              (4, []), (9, [])])
def test_each_page_counts_the_whole_listing(db: Session, holders: list[int], page: int,
                                            titles: list[str]) -> None:
    with statements(db) as sent:
        listed = paginate(db, query(holders[0]), Declaration.title, page=page, page_size=2)
    assert [d.title for d in listed.items] == titles
    assert (listed.page, listed.page_size, listed.total) == (page, 2, 5)
    # The total rides on the page's rows; only a page past the end asks for it apart.
    assert len(sent) == (1 if titles else 2), sent


def test_an_empty_listing_is_one_round_trip(db: Session, holders: list[int]) -> None:
    with statements(db) as sent:
        listed = paginate(db, query(-1), Declaration.id, page=1, page_size=10)
    assert (listed.items, listed.total) == ([], 0)
    assert len(sent) == 1


def test_statements_built_once_take_parameters(db: Session, holders: list[int]) -> None:
    paged = Paged.of(sa.select(Declaration.title).where(
        Declaration.holder_id == sa.bindparam("holder_id")), Declaration.title.desc())
    first = paged.page(db, 1, 3, {"holder_id": holders[0]})
    assert first == ([("4",), ("3",), ("2",)], 5)
    assert paged.page(db, 1, 3, {"holder_id": holders[1]}) == ([("other",)], 1)
    assert paged.page(db, 5, 3, {"holder_id": holders[0]}) == ([], 5)
