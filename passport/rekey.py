"""The values kept encrypted for their owners, and moving them to the current key.

Rotating the encryption key (docs/operations.md) is three steps: the new key becomes
``PASSPORT_NIR_ENCRYPTION_KEY`` and the former one moves to
``PASSPORT_NIR_ENCRYPTION_OLD_KEYS`` (everything written from then on uses the new one);
``passport keys reencrypt`` rewrites what is still under a former key; once ``passport keys
status`` shows nothing left under it, the former key leaves the configuration.

Each batch is its own transaction and each row is swapped only if it still holds the value
that was read (compare and swap): a holder renumbered, an identity re-imported or a share
written meanwhile keeps what its writer wrote, and an interrupted run resumes where it
stopped.  Nothing here reads or prints a clear value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, cast

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from sqlalchemy.orm import QueryableAttribute, Session, sessionmaker

from passport.db import UNIT_SEPARATOR, unit_of_work
from passport.nir import NIR_PURPOSE, NirVault

#: Rows re-encrypted per transaction.
BATCH = 2000


class RekeyError(Exception):
    """A stored value cannot be read with the configured keys (nothing of it was changed)."""


@dataclasses.dataclass(frozen=True)
class Sealed:
    """A column of encrypted values: its row key, its key-id column, its purpose."""

    label: str
    value: QueryableAttribute[bytes]
    key_id: QueryableAttribute[str]
    purpose: bytes

    @property
    def table(self) -> sa.Table:
        return cast("sa.Table", self.value.class_.__table__)

    @property
    def row_id(self) -> sa.Column[Any]:
        return self.table.c.id


def sealed() -> list[Sealed]:
    """Every encrypted column of the store (a test checks none is left out)."""
    from passport.holders.models import Holder, IdentityRecord
    from passport.sharing.models import Share
    from passport.sharing.service import TOKEN_PURPOSE

    return [
        Sealed("holders", Holder.nir_enc, Holder.nir_key_id, NIR_PURPOSE),
        Sealed("identity_records", IdentityRecord.nir_enc, IdentityRecord.nir_key_id, NIR_PURPOSE),
        Sealed("shares", Share.token_enc, Share.token_key_id, TOKEN_PURPOSE),
    ]


@dataclasses.dataclass(frozen=True)
class KeyUse:
    """How many values of one column are under one key id."""

    label: str
    key_id: str
    count: int


def census(db: Session) -> list[KeyUse]:
    """Values by column and key id (every row is read: an operator's command, not a probe)."""
    uses: list[KeyUse] = []
    for column in sealed():
        rows = db.execute(sa.select(column.key_id, sa.func.count())
                          .group_by(column.key_id).order_by(column.key_id))
        uses.extend(KeyUse(column.label, key_id, count) for key_id, count in rows)
    return uses


def unreadable(uses: list[KeyUse], vault: NirVault) -> list[KeyUse]:
    """The values under a key id the configuration does not have."""
    return [use for use in uses if not vault.has_key(use.key_id)]


def reencrypt(sessions: sessionmaker[Session], vault: NirVault, *, batch: int = BATCH,
              progress: Callable[[int], None] | None = None,
              uses: list[KeyUse] | None = None) -> dict[str, int]:
    """Rewrite every value under a former key with the current one; how many, by column.

    Refuses before writing anything when some value is under a key id that is not
    configured (``uses``: the `census` the caller already took, else one is taken); stops
    at the first value its key cannot open (the batches before it stay done, which is
    safe: each row is whole under one key or the other).
    """
    if uses is None:
        with unit_of_work(sessions) as db:
            uses = census(db)
    missing = unreadable(uses, vault)
    if missing:
        raise RekeyError(
            "values under key id(s) the configuration does not have: "
            + ", ".join(f"{u.label} {u.key_id!r} ({u.count})" for u in missing)
            + " — add the key(s) to PASSPORT_NIR_ENCRYPTION_OLD_KEYS"
        )
    done = {}
    for column in sealed():
        done[column.label] = _reencrypt_column(sessions, vault, column, batch, progress)
    return done


def _reencrypt_column(sessions: sessionmaker[Session], vault: NirVault, column: Sealed,
                      batch: int, progress: Callable[[int], None] | None) -> int:
    table, row_id = column.table, column.row_id
    value, key_id = table.c[column.value.key], table.c[column.key_id.key]
    pending = (sa.select(row_id, value, key_id)
               .where(key_id != vault.key_id, row_id > sa.bindparam("after"))
               .order_by(row_id).limit(batch))
    after, count = 0, 0
    while True:
        # Immediate: on SQLite the batch takes the write lock before it reads (a writer
        # coming between the read and the write would otherwise fail the batch).
        with unit_of_work(sessions, immediate=True) as db:
            rows = db.execute(pending, {"after": after}).all()
            if not rows:
                return count
            swapped = [(rid, blob, _reseal(vault, column, rid, kid, blob))
                       for rid, blob, kid in rows]
            _swap(db, column, vault.key_id, swapped)
        after, count = rows[-1][0], count + len(rows)
        if progress:
            progress(len(rows))


def _swap(db: Session, column: Sealed, key_id: str, rows: list[tuple[int, bytes, bytes]]) -> None:
    """Write each new value where the row still holds the one that was read."""
    table, value = column.table, column.table.c[column.value.key]
    if db.get_bind().dialect.name != "postgresql":
        db.execute(sa.update(table)
                   .where(column.row_id == sa.bindparam("b_id"), value == sa.bindparam("b_was"))
                   .values({value: sa.bindparam("b_value"), column.key_id.key: key_id}),
                   [{"b_id": rid, "b_was": was, "b_value": new} for rid, was, new in rows])
        return
    # One statement a batch (an executemany of UPDATEs took ~90 µs a row): the columns go
    # as texts the server splits, the values as hex (no value holds the separator).
    from sqlalchemy.dialects.postgresql import ARRAY

    def split(name: str) -> sa.ColumnElement[Any]:
        return sa.func.string_to_array(sa.bindparam(name, type_=sa.Text), UNIT_SEPARATOR)

    new = sa.func.unnest(sa.cast(split("ids"), ARRAY(sa.BigInteger)), split("was"),
                         split("vals")).table_valued("id", "was", "v").render_derived("d")
    db.execute(sa.update(table)
               .where(column.row_id == new.c.id, value == sa.func.decode(new.c.was, "hex"))
               .values({value: sa.func.decode(new.c.v, "hex"), column.key_id.key: key_id}),
               {"ids": UNIT_SEPARATOR.join(str(rid) for rid, _, _ in rows),
                "was": UNIT_SEPARATOR.join(was.hex() for _, was, _ in rows),
                "vals": UNIT_SEPARATOR.join(new.hex() for _, _, new in rows)})


def _reseal(vault: NirVault, column: Sealed, row_id: int, key_id: str, blob: bytes) -> bytes:
    try:
        return vault.reencrypt(key_id, blob, column.purpose)
    except InvalidTag:
        raise RekeyError(
            f"{column.label} {row_id}: the key {key_id!r} does not open this value (another "
            f"key under that id, or a damaged value); the values before it were re-encrypted"
        ) from None

