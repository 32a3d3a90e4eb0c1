"""Finding and creating holders by NIR pseudonym while other loads do the same."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from passport.db import unit_of_work, utcnow
from passport.holders.models import Holder, NirAlias
from passport.holders.service import holder_ids

KNOWN, ALIAS, RIVAL, NEW = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)


@pytest.mark.parametrize("known_new", [False, True])
def test_holders_found_created_and_raced(committed: sessionmaker[Session], engine: sa.Engine,
                                         is_postgres: bool, known_new: bool) -> None:
    """A known holder, a former number, a holder another load creates between our lookup
    and our insert (PostgreSQL), and a new one: each gets its id, and only the holders this
    load created count as created.  With ``known_new`` (the loader: NIRisation found no
    holder) the holder lookup is skipped, the rest is the same."""
    with unit_of_work(committed) as db:
        known = Holder(nir_hmac=KNOWN, nir_enc=b"\x01", nir_key_id="k")
        db.add(known)
        db.flush()
        db.add(NirAlias(nir_hmac=ALIAS, holder_id=known.id))
    rival_ids: list[int] = []

    def rival_load(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO holders") and not rival_ids:
            rival_ids.append(0)  # once
            with engine.begin() as other:
                rival_ids[0] = other.execute(sa.insert(Holder).values(
                    nir_hmac=RIVAL, nir_enc=b"\x02", nir_key_id="k", created_at=utcnow())
                    .returning(Holder.id)).scalar_one()

    created: list[int] = []
    # SQLite has one writer at a time: there, nobody can come between (the rival is new).
    if is_postgres:
        sa.event.listen(engine, "before_cursor_execute", rival_load)
    try:
        with unit_of_work(committed) as db:
            asked = [ALIAS, RIVAL, NEW] if known_new else [KNOWN, ALIAS, RIVAL, NEW]
            ids = holder_ids(db, asked, lambda p: (b"\x03\x00\xff", "k-2"), created=created,
                             known_new=known_new)
    finally:
        if is_postgres:
            sa.event.remove(engine, "before_cursor_execute", rival_load)
    with unit_of_work(committed) as db:
        stored = dict(db.execute(sa.select(Holder.nir_hmac, Holder.id)).all())
        new = db.execute(sa.select(Holder.nir_enc, Holder.nir_key_id)
                         .where(Holder.nir_hmac == NEW)).one()
    assert ids == {**({} if known_new else {KNOWN: stored[KNOWN]}), ALIAS: stored[KNOWN],
                   RIVAL: stored[RIVAL], NEW: stored[NEW]}
    assert tuple(new) == (b"\x03\x00\xff", "k-2")
    assert rival_ids == ([stored[RIVAL]] if is_postgres else [])
    # On PostgreSQL new holders are committed at once and reported, the rival's not.
    assert created == ([stored[NEW]] if is_postgres else [])
