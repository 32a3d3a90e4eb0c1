"""Append to, read and verify holders' journals.

Each entry's ``hash`` covers the previous entry's hash and the entry's canonical content, so
altering or deleting any entry breaks every later link.  Appends for one holder are
serialised by locking the holder's row, so two requests cannot take the same position.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport.db import utcnow
from passport.holders.models import Holder
from passport.journal.models import JournalEntry

GENESIS = "0" * 64

#: Every kind of entry, with the label shown to the holder.
KINDS = {
    "declaration.created": "Déclaration ajoutée",
    "declaration.updated": "Déclaration modifiée",
    "declaration.deleted": "Déclaration supprimée",
    "certification.hidden": "Certification masquée",
    "certification.shown": "Certification affichée",
    "report.filed": "Erreur signalée au certificateur",
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
    "cv.generated": "CV généré",
    "journal.purged": "Entrées anciennes purgées",
}
THIRD_PARTY = ("advisor", "recipient")


def _time(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(prev_hash: str, entry: JournalEntry) -> str:
    """The link of one entry: SHA-256 over the previous link and the canonical content."""
    content = {
        "seq": entry.seq,
        "occurred_at": _time(entry.occurred_at),
        "kind": entry.kind,
        "actor_type": entry.actor_type,
        "actor_label": entry.actor_label,
        "share_id": entry.share_id,
        "consent_id": entry.consent_id,
        "details": entry.details or {},
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


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
) -> JournalEntry:
    """Add an entry at the end of a holder's chain (flushes)."""
    if kind not in KINDS:
        raise ValueError(f"unknown journal kind {kind!r}")
    db.execute(sa.select(Holder.id).where(Holder.id == holder_id).with_for_update())
    last = db.execute(
        sa.select(JournalEntry.seq, JournalEntry.hash)
        .where(JournalEntry.holder_id == holder_id)
        .order_by(JournalEntry.seq.desc())
        .limit(1)
    ).first()
    seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
    entry = JournalEntry(
        holder_id=holder_id, seq=seq, occurred_at=when or utcnow(), kind=kind,
        actor_type=actor_type,
        actor_label=actor_label, share_id=share_id, consent_id=consent_id,
        details=details or {}, prev_hash=prev, hash="")
    entry.hash = entry_hash(prev, entry)
    db.add(entry)
    db.flush()
    return entry


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
