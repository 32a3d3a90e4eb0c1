"""Two passports of one person made one.

A person can have had a passport under a provisional number (NIA) and another under the
NIR that replaced it — files filed under each before the identity directory linked them.
When the directory's extract says so (``nir_precedent``), everything the former passport
had moves to the current one: passages, declarations, training files, shares, consents,
logins, CVs, former numbers, earlier merges — every row with a ``holder_id``.  Its journal
cannot move (append-only, hash-chained); it stays under the former holder row, which is
renamed so that no lookup finds it again, and is read with the current holder's
(`with_merged`).  The current journal gets an entry saying what happened.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport.db import Base, table_of
from passport.holders.models import Holder, HolderMerge

#: Tables whose rows stay with the former holder (see the module's docstring).
STAYS = frozenset({"journal_entries"})

#: What the former holder row's pseudonym becomes: no HMAC is ever shaped so.
TOMBSTONE = "merged:{id}"


def owned_tables() -> list[sa.Table]:
    """Every table with rows belonging to a holder (read from the model, so a new one is
    never left behind)."""
    return [table for table in Base.metadata.sorted_tables
            if "holder_id" in table.c and table.name not in STAYS]


def merge(db: Session, former_id: int, current_id: int) -> dict[str, int]:
    """Move everything of ``former_id`` to ``current_id``; the rows moved, by table.

    Both holder rows are locked first, in id order (a deposit writing to either waits).
    Flushes only; the caller's transaction decides.
    """
    from passport.analytics.refresh import after_merge
    from passport.journal import service as journal

    if former_id == current_id:
        raise ValueError("a passport cannot be merged into itself")
    db.flush()
    holders = {h.id: h for h in db.scalars(
        sa.select(Holder).where(Holder.id.in_((former_id, current_id)))
        .order_by(Holder.id).with_for_update())}
    former = holders[former_id]
    moved = {}
    for table in owned_tables():
        done = db.execute(sa.update(table).where(table.c.holder_id == former_id)
                          .values(holder_id=current_id))
        if count := done.rowcount:  # type: ignore[attr-defined]
            moved[table.name] = count
    former.nir_hmac = TOMBSTONE.format(id=former_id)
    db.add(HolderMerge(former_holder_id=former_id, holder_id=current_id, moved=moved))
    journal.append(db, current_id, "passport.merged", actor_type="system",
                   actor_label="Annuaire des identités",
                   details={"passages": moved.get("passages", 0),
                            "declarations": moved.get("declarations", 0),
                            "training_files": moved.get("training_files", 0)})
    after_merge(db, current_id)
    return moved


def sweep(db: Session, *, dry_run: bool = False) -> int:
    """Move to their current holder the rows written under a merged one since its merge;
    how many.

    A deposit that found its holders before a merge committed writes its passages after
    it, under the former holder (its foreign key still holds): `passport cleanup` brings
    them over each day. Each table is one statement over the few merged holders.
    """
    from passport.analytics.refresh import after_merge

    merges = table_of(HolderMerge).alias("m")  # holder_merges is swept too
    moved, touched = 0, set[int]()
    for table in owned_tables():
        stray = table.c.holder_id.in_(sa.select(merges.c.former_holder_id))
        current = (sa.select(merges.c.holder_id)
                   .where(merges.c.former_holder_id == table.c.holder_id).scalar_subquery())
        receiving = list(db.scalars(sa.select(current).where(stray).distinct()))
        if not receiving:
            continue
        if dry_run:
            moved += db.scalar(sa.select(sa.func.count()).select_from(table).where(stray)) or 0
            continue
        touched.update(receiving)
        done = db.execute(sa.update(table).where(stray).values(holder_id=current))
        moved += done.rowcount  # type: ignore[attr-defined]
    for holder_id in sorted(touched):
        after_merge(db, holder_id)
    return moved


def with_merged(db: Session, holder_id: int) -> list[int]:
    """The holder and every holder merged into it (whose journals are its own too)."""
    merges = table_of(HolderMerge)
    return [holder_id, *db.scalars(
        sa.select(merges.c.former_holder_id).where(merges.c.holder_id == holder_id)
        .order_by(merges.c.former_holder_id))]
