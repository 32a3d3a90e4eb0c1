"""Append to, read and verify holders' journals.

Each entry's ``hash`` covers the previous entry's hash and the entry's canonical content, so
altering or deleting any entry breaks every later link.  Appends for one holder are
serialised by locking the holder's row, so two requests cannot take the same position.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport.db import table_of, utcnow
from passport.holders.models import Holder
from passport.journal.models import JournalEntry, JournalPurgePermit

GENESIS = "0" * 64

#: Every kind of entry, with the label shown to the holder.
KINDS = {
    "declaration.created": "Déclaration ajoutée",
    "declaration.updated": "Déclaration modifiée",
    "declaration.deleted": "Déclaration supprimée",
    "certification.hidden": "Certification masquée",
    "certification.shown": "Certification affichée",
    "report.filed": "Erreur signalée au certificateur",
    "report.answered": "Réponse du certificateur à votre signalement",
    "export.downloaded": "Export de vos données",
    "session.ended": "Session fermée",
    "share.created": "Partage créé",
    "share.updated": "Partage modifié",
    "share.revoked": "Partage révoqué",
    "share.viewed": "Partage consulté",
    "share.code_refused": "Code d'accès refusé",
    "item.verified": "Élément vérifié par un destinataire",
    "consent.granted": "Consentement donné",
    "consent.renewed": "Consentement renouvelé",
    "consent.refused": "Demande de consentement refusée",
    "consent.revoked": "Consentement retiré",
    "consent.requested": "Demande de consentement reçue",
    "advisor.read": "Lecture par un conseiller",
    "advisor.listed": "Vous apparaissez dans la liste d'un conseiller",
    "cv.generated": "CV généré",
    "journal.purged": "Entrées anciennes purgées",
    "passport.merged": "Passeport de votre ancien numéro réuni avec celui-ci",
}
THIRD_PARTY = ("advisor", "recipient")


def _time(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_HASHED = ("seq", "occurred_at", "kind", "actor_type", "actor_label", "share_id", "consent_id",
           "details")


def entry_hash(prev_hash: str, entry: JournalEntry | Mapping[str, Any]) -> str:
    """The link of one entry (a stored one, or the values of a new one): SHA-256 over the
    previous link and the canonical content."""
    values: Mapping[str, Any] = entry if isinstance(entry, Mapping) else {
        name: getattr(entry, name) for name in _HASHED}
    content = {
        "seq": values["seq"],
        "occurred_at": _time(values["occurred_at"]),
        "kind": values["kind"],
        "actor_type": values["actor_type"],
        "actor_label": values["actor_label"],
        "share_id": values["share_id"],
        "consent_id": values["consent_id"],
        "details": values["details"] or {},
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


# Built once (every advisor read appends): lock the holder's row, then read the last link.
# FOR NO KEY UPDATE: appends wait for each other, but not for the foreign-key checks of
# rows the transaction inserted for the holder before (FOR UPDATE deadlocked with them).
_LOCK = (sa.select(Holder.id).where(Holder.id == sa.bindparam("holder_id"))
         .with_for_update(key_share=True))
_LAST = (sa.select(JournalEntry.seq, JournalEntry.hash)
         .where(JournalEntry.holder_id == sa.bindparam("holder_id"))
         .order_by(JournalEntry.seq.desc()).limit(1))
# A Core insert: the ORM's unit of work cost 0.7 ms more per entry.
_INSERT = sa.insert(table_of(JournalEntry))


def lock_chain(db: Session, holder_id: int) -> None:
    """Hold the holder's chain until the transaction ends (as `append` does): for a check
    that decides whether to append (once an hour at most) to see the appends of requests
    running at the same time."""
    db.execute(_LOCK, {"holder_id": holder_id})


def append(
    db: Session,
    holder_id: int,
    kind: str,
    *,
    actor_type: str = "holder",
    actor_label: str | None = None,
    share_id: int | None = None,
    consent_id: int | None = None,
    details: dict[str, Any] | None = None,
    when: dt.datetime | None = None,
    continue_from: tuple[int, str] | None = None,
) -> None:
    """Add an entry at the end of a holder's chain (written at once, after the session's
    pending changes). ``continue_from`` (seq, hash) is for the purge only: the link to
    continue from when no entry is left."""
    if kind not in KINDS:
        raise ValueError(f"unknown journal kind {kind!r}")
    db.execute(_LOCK, {"holder_id": holder_id})  # flushes the session first
    # A statement of its own, after the lock: its snapshot sees the last committed append.
    last = continue_from or db.execute(_LAST, {"holder_id": holder_id}).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    entry = {"holder_id": holder_id, "seq": seq, "occurred_at": when or utcnow(), "kind": kind,
             "actor_type": actor_type, "actor_label": actor_label, "share_id": share_id,
             "consent_id": consent_id, "details": details or {}, "prev_hash": prev}
    db.execute(_INSERT, {**entry, "hash": entry_hash(prev, entry)})


@dataclass
class Broken:
    """The first broken link of a chain."""

    holder_id: int
    seq: int
    reason: str


def verify(db: Session, holder_id: int | None = None) -> tuple[int, list[Broken]]:
    """Walk every chain (or one); return (entries checked, first broken link per holder).

    A chain starts at 1, or, after a retention purge, at the entry following the purged
    ones: a later `journal.purged` entry records where the kept part starts and the hash it
    must start from.
    """
    holders = [holder_id] if holder_id is not None else list(db.scalars(
        sa.select(JournalEntry.holder_id).distinct().order_by(JournalEntry.holder_id)))
    checked, broken = 0, []
    for holder in holders:
        starts: dict[int, str] = dict(db.execute(
            sa.select(JournalEntry.details["from_seq"].as_integer(),
                      JournalEntry.details["from_hash"].as_string())
            .where(JournalEntry.holder_id == holder, JournalEntry.kind == "journal.purged")
        ).all())
        prev, expected = GENESIS, 1
        query = (sa.select(JournalEntry).where(JournalEntry.holder_id == holder)
                 .order_by(JournalEntry.seq))
        for index, entry in enumerate(db.scalars(query).yield_per(1000)):
            checked += 1
            if index == 0 and entry.seq != 1:
                if starts.get(entry.seq) != entry.prev_hash:
                    broken.append(Broken(holder, entry.seq, "chain does not start at 1"))
                    break
                prev, expected = entry.prev_hash, entry.seq
            if entry.seq != expected:
                broken.append(Broken(holder, expected, f"entry {expected} is missing"))
                break
            if entry.prev_hash != prev:
                broken.append(Broken(holder, entry.seq, "previous link does not match"))
                break
            if entry_hash(prev, entry) != entry.hash:
                broken.append(Broken(holder, entry.seq, "entry content was altered"))
                break
            prev, expected = entry.hash, entry.seq + 1
    return checked, broken


class JournalIsAppendOnly(RuntimeError):
    """Code tried to change or delete a journal entry."""


@sa.event.listens_for(Session, "before_flush")
def _append_only(session: Session, _context: Any, _instances: Any) -> None:
    """The application's guard (the database has its own triggers): journal entries are
    only ever added; the retention purge deletes with a bulk statement under a permit."""
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, JournalEntry) and (obj in session.deleted
                                              or session.is_modified(obj)):
            raise JournalIsAppendOnly(
                f"journal entry {obj.holder_id}/{obj.seq} cannot be changed or deleted")


def months_before(when: dt.datetime, months: int) -> dt.datetime:
    """``when`` minus calendar months (the day clamped to the target month's length)."""
    import calendar

    month_index = when.year * 12 + when.month - 1 - months
    year, month = divmod(month_index, 12)
    day = min(when.day, calendar.monthrange(year, month + 1)[1])
    return when.replace(year=year, month=month + 1, day=day)


@dataclass
class Purged:
    holders: int
    entries: int


def purge(db: Session, before: dt.datetime, *, batch: int = 500) -> Purged:
    """Delete entries older than ``before`` and append a ``journal.purged`` marker to each
    chain touched, recording where the kept part starts (``from_seq``) and the hash it
    continues from (``from_hash``), so that `verify` still checks every kept link.

    Commits every ``batch`` holders; each batch holds the purge permit inside its own
    transaction, so the database triggers let only these deletes through.
    """
    targets = db.execute(
        sa.select(JournalEntry.holder_id, sa.func.max(JournalEntry.seq))
        .where(JournalEntry.occurred_at < before)
        .group_by(JournalEntry.holder_id).order_by(JournalEntry.holder_id)).all()
    db.rollback()
    result = Purged(0, 0)
    for start in range(0, len(targets), batch):
        permit = JournalPurgePermit(granted_at=utcnow())
        db.add(permit)
        db.flush()
        for holder_id, last_old in targets[start:start + batch]:
            db.execute(sa.select(Holder.id).where(Holder.id == holder_id).with_for_update())
            last_hash = db.scalar(sa.select(JournalEntry.hash).where(
                JournalEntry.holder_id == holder_id, JournalEntry.seq == last_old))
            assert last_hash is not None
            deleted = cast("sa.CursorResult[Any]", db.execute(sa.delete(JournalEntry).where(
                JournalEntry.holder_id == holder_id, JournalEntry.seq <= last_old)))
            first_kept = db.execute(
                sa.select(JournalEntry.seq, JournalEntry.prev_hash)
                .where(JournalEntry.holder_id == holder_id)
                .order_by(JournalEntry.seq).limit(1)).first()
            # Nothing kept: the marker itself starts the chain, right after the last link.
            from_seq, from_hash = (tuple(first_kept) if first_kept is not None
                                   else (last_old + 1, last_hash))
            append(db, holder_id, "journal.purged", actor_type="system",
                   actor_label="Conservation limitée",
                   details={"before": before.isoformat(), "purged": deleted.rowcount,
                            "from_seq": from_seq, "from_hash": from_hash},
                   continue_from=(last_old, last_hash) if first_kept is None else None)
            result.holders += 1
            result.entries += deleted.rowcount
        db.execute(sa.delete(JournalPurgePermit).where(JournalPurgePermit.id == permit.id))
        db.commit()
    return result
