"""Identity directory import and holder resolution."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, MutableSequence, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ingestion.normalize import match_key
from passport.csvimport import ImportFailed, Staging, parse_cell, read_rows, require
from passport.db import (
    UNIT_SEPARATOR,
    analyze,
    insert_missing,
    membership,
    table_of,
    unit_of_work,
    utcnow,
)
from passport.holders.models import Holder, IdentityRecord, NirAlias
from passport.nir import InvalidNir, NirVault, validate

IDENTITY_COLUMNS = (
    "nir", "nom_naissance", "nom_usage", "prenom1", "prenom2", "prenom3", "annee_naissance",
    "mois_naissance", "jour_naissance", "sexe", "code_insee_naissance", "code_pays_naissance",
)
#: Optional: the person's former number (a provisional NIA replaced by this NIR).
OPTIONAL_IDENTITY_COLUMNS = ("nir_precedent",)
_INSEE = re.compile(r"(?:[0-9]{2}|2[AB])[0-9]{3}")
_COUNTRY = re.compile(r"(?:99)?[0-9]{3}")
BATCH = 1000


def _ranged(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise ValueError(f"{value} is not between {low} and {high}")
        return value

    return parse


def _nir(row: dict[str, str | None], name: str, line: int) -> str:
    try:
        return validate(require(row, name, line))
    except InvalidNir as exc:  # the message never repeats the number
        raise ImportFailed(line, f"{name}: {exc}") from None


#: The columns an imported identity fills (`_identity`).
IDENTITY_RECORD_COLUMNS = (
    "nir_hmac", "nir_enc", "nir_key_id", "nom_naissance", "nom_usage", "prenom1", "prenom2",
    "prenom3", "annee_naissance", "mois_naissance", "jour_naissance", "sexe",
    "code_insee_naissance", "code_pays_naissance", "match_key", "imported_at", "updated_at")


def _identity(row: dict[str, str | None], line: int, vault: NirVault) -> dict[str, Any]:
    nir = _nir(row, "nir", line)
    sexe = require(row, "sexe", line)
    if sexe not in ("M", "F"):
        raise ImportFailed(line, f"sexe must be M or F, got {sexe!r}")
    annee = parse_cell(row, "annee_naissance", line, _ranged(1850, 2100))
    if annee is None:
        raise ImportFailed(line, "annee_naissance is required")
    insee = row.get("code_insee_naissance")
    if insee is not None and not _INSEE.fullmatch(insee):
        raise ImportFailed(line, f"code_insee_naissance must be a 5-character INSEE code, got {insee!r}")
    pays = row.get("code_pays_naissance")
    if pays is not None:
        if not _COUNTRY.fullmatch(pays):
            raise ImportFailed(line, f"code_pays_naissance must be 3 digits (or 99 + 3), got {pays!r}")
        pays = pays[-3:]
        insee = insee or f"99{pays}"
    nom = require(row, "nom_naissance", line)
    prenom1 = require(row, "prenom1", line)
    now = utcnow()
    return {
        "nir_hmac": vault.pseudonym(nir),
        "nir_enc": vault.encrypt(nir),
        "nir_key_id": vault.key_id,
        "nom_naissance": nom,
        "nom_usage": row.get("nom_usage"),
        "prenom1": prenom1,
        "prenom2": row.get("prenom2"),
        "prenom3": row.get("prenom3"),
        "annee_naissance": annee,
        "mois_naissance": parse_cell(row, "mois_naissance", line, _ranged(1, 12)),
        "jour_naissance": parse_cell(row, "jour_naissance", line, _ranged(1, 31)),
        "sexe": sexe,
        "code_insee_naissance": insee,
        "code_pays_naissance": pays,
        "match_key": match_key(nom, prenom1, annee, sexe),
        "imported_at": now,
        "updated_at": now,
    }


@dataclass
class Renumbered:
    """What an identity import's former numbers (``nir_precedent``) did to passports."""

    #: Passports filed under a former number, now under the new one.
    renamed: int = 0
    #: Passports of a former number merged into the new number's (`passport.holders.merge`).
    merged: int = 0


#: What makes an imported identity a change: its civil status (the number is the key; its
#: ciphertext differs at each encryption, and the times say when it was seen).
_COMPARED = ("nom_naissance", "nom_usage", "prenom1", "prenom2", "prenom3", "annee_naissance",
             "mois_naissance", "jour_naissance", "sexe", "code_insee_naissance",
             "code_pays_naissance")


def import_identities(
    session: Session, path: Path, vault: NirVault, progress: Callable[[int], None] | None = None,
    renumbered: Renumbered | None = None,
) -> int:
    """Upsert the identity extract by NIR; return the number of rows (flushes only).

    A row's ``nir_precedent`` (a former number, e.g. a provisional NIA) makes records filed
    under it reach the person: its passport is renamed, or merged into the new number's when
    both have one; ``renumbered`` counts them."""
    staging = Staging(session, table_of(IdentityRecord), IDENTITY_RECORD_COLUMNS, "nir_hmac")
    pending: list[tuple[str, str]] = []  # (former, new) pseudonyms
    count = 0
    for line, row in read_rows(path, IDENTITY_COLUMNS, OPTIONAL_IDENTITY_COLUMNS):
        record = _identity(row, line, vault)
        if row.get("nir_precedent") is not None:
            old = _nir(row, "nir_precedent", line)
            if old == row["nir"]:
                raise ImportFailed(line, "nir_precedent is the row's own NIR")
            pending.append((vault.pseudonym(old), record["nir_hmac"]))
        staging.add(line, record)
        count += 1
        if progress and count % BATCH == 0:
            progress(count)
    if repeat := staging.first_repeat():
        raise ImportFailed(repeat[0], f"the same NIR is already on line {repeat[1]}")
    staging.upsert(_COMPARED)
    tally = renumbered if renumbered is not None else Renumbered()
    for old, new in pending:
        _renumber(session, old, new, tally)
    if progress:
        progress(count)
    analyze(session, "identity_records", "holders")
    return count


def _renumber(session: Session, old: str, new: str, tally: Renumbered) -> None:
    """A holder filed under a former number keeps their records under the new one."""
    from passport.holders.merge import merge

    holder = session.scalar(sa.select(Holder).where(Holder.nir_hmac == old))
    current = session.scalar(sa.select(Holder).where(Holder.nir_hmac == new))
    if holder is not None and current is not None:
        merge(session, holder.id, current.id)
        tally.merged += 1
    elif holder is not None:
        record = session.scalar(sa.select(IdentityRecord).where(IdentityRecord.nir_hmac == new))
        assert record is not None
        holder.nir_hmac, holder.nir_enc, holder.nir_key_id = new, record.nir_enc, record.nir_key_id
        tally.renamed += 1
    target = current or holder
    if target is not None and session.get(NirAlias, old) is None:
        session.add(NirAlias(nir_hmac=old, holder_id=target.id))


def holder_ids(
    session: Session,
    pseudonyms: Iterable[str],
    encrypted: Callable[[str], tuple[bytes, str]],
    *,
    created: MutableSequence[int] | None = None,
    known_new: bool = False,
) -> dict[str, int]:
    """Holder id per NIR pseudonym: holders, then former numbers, then new holders.

    ``known_new``: the caller has just found no holder for these pseudonyms (its own join,
    as NIRisation's), so the holder lookup is skipped; a holder another transaction
    creates meanwhile is still found, by the insert that skips it and the read back.

    ``encrypted(pseudonym)`` gives ``(nir_enc, key id)`` for a holder that must be created.
    With ``created`` (a sequence the caller keeps), on PostgreSQL, missing holders are created
    in their own, immediately committed transaction and their ids appended to ``created``:
    a holder row is the directory's NIR anchor, not data of the file being loaded, and two
    loads that bring the same new people would otherwise wait for each other's whole load
    on the unique index, or deadlock. The caller removes them if its load fails
    (`discard_unused`).
    """
    h, a = table_of(Holder), table_of(NirAlias)
    pending = sorted(set(pseudonyms))
    ids: dict[str, int] = {}
    lookups = [(h.c.nir_hmac, h.c.id), (a.c.nir_hmac, a.c.holder_id)]
    for key, target in lookups[1:] if known_new else lookups:
        rest = [k for k in pending if k not in ids]
        if not rest:
            break
        for condition in membership(session, key, rest):
            ids.update(session.execute(sa.select(key, target).where(condition)).all())
    missing = [k for k in pending if k not in ids]
    if missing:
        now = utcnow()
        rows = []
        for k in missing:
            nir_enc, key_id = encrypted(k)
            rows.append({"nir_hmac": k, "nir_enc": nir_enc, "nir_key_id": key_id, "created_at": now})
        # A plain executemany, then one read back: INSERT … RETURNING in parameter order
        # runs row by row on SQLite.
        if session.get_bind().dialect.name == "postgresql":
            if created is not None:
                with session.get_bind().engine.begin() as conn:
                    returned = _insert_returning(conn, rows)
                created.extend(holder_id for _, holder_id in returned)
            else:  # in the caller's transaction (an import)
                returned = _insert_returning(session.connection(), rows)
            ids.update(returned)
            # Left: the holders another load created meanwhile (the insert skipped them).
            missing = [k for k in missing if k not in ids]
        else:
            session.execute(insert_missing(session, h, "nir_hmac"), rows)
        for condition in membership(session, h.c.nir_hmac, missing):
            ids.update(session.execute(sa.select(h.c.nir_hmac, h.c.id).where(condition)).all())
    return ids


#: New holders in one statement on PostgreSQL: the columns as texts split by the server.
#: (SQLAlchemy's "insertmanyvalues" sent a 10,000-parameter VALUES list per 1,000 rows,
#: which psycopg re-parsed each time: 130 µs per holder, most of a deposit's holder cost.)
_UNNEST_HOLDERS = sa.text(
    "INSERT INTO holders (nir_hmac, nir_enc, nir_key_id, created_at) "
    "SELECT h, decode(e, 'hex'), k, :now FROM unnest("
    "string_to_array(:hmacs, :sep), string_to_array(:encs, :sep), "
    "string_to_array(:keys, :sep)) AS new(h, e, k) "
    "ON CONFLICT (nir_hmac) DO NOTHING RETURNING nir_hmac, id"
).columns(nir_hmac=sa.String, id=sa.BigInteger)


def _insert_returning(conn: sa.Connection, rows: list[dict[str, Any]]) -> Sequence[Any]:
    """Insert the holders missing (PostgreSQL), in ``rows`` order; (pseudonym, id) of those
    inserted, not of those another transaction inserted first.  Pseudonyms are hex, key
    ids plain characters (`passport.config`), the ciphertexts go as hex: no value holds
    the separator."""
    def joined(values: Iterable[str]) -> str:
        return UNIT_SEPARATOR.join(values)

    return conn.execute(_UNNEST_HOLDERS, {
        "now": rows[0]["created_at"], "sep": UNIT_SEPARATOR,
        "hmacs": joined(row["nir_hmac"] for row in rows),
        "encs": joined(row["nir_enc"].hex() for row in rows),
        "keys": joined(row["nir_key_id"] for row in rows),
    }).all()


def discard_unused(factory: sessionmaker[Session], holder_ids: Iterable[int]) -> int:
    """Delete holders a failed load created that nothing refers to (each in a savepoint:
    one another load committed passages for meanwhile stays); return how many went."""
    from passport.records.models import Passage

    removed = 0
    with unit_of_work(factory) as session:
        for holder_id in holder_ids:
            try:
                with session.begin_nested():
                    result = session.execute(sa.delete(Holder).where(
                        Holder.id == holder_id,
                        ~sa.exists().where(Passage.holder_id == holder_id)))
                    removed += result.rowcount  # type: ignore[attr-defined]
            except sa.exc.IntegrityError:  # referred to by something else: it stays
                continue
    return removed
