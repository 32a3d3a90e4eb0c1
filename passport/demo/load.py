"""Demo declarations for the showcase holders (every kind of declared item), and a share
of the first showcase passport to open without logging in."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport.holders.models import Holder
from passport.holders.service import holder_ids
from passport.journal import service as journal
from passport.nir import NirVault
from passport.records.models import Declaration, DeclarationKind
from passport.sharing import service as sharing
from passport.sharing.models import Share
from passport.sharing.service import ShareContext

DECLARATIONS: list[tuple[DeclarationKind, dict[str, Any]]] = [
    (DeclarationKind.EXPERIENCE, {"title": "Développeuse web", "organisation": "Atelier Numérique",
                                  "location": "Toulouse", "start_date": dt.date(2021, 9, 1),
                                  "end_date": dt.date(2024, 6, 30),
                                  "description": "Applications web et API pour des PME.",
                                  "skills": ["Python", "SQL", "Accessibilité"]}),
    (DeclarationKind.EXPERIENCE, {"title": "Vendeuse", "organisation": "Librairie du Centre",
                                  "start_date": dt.date(2017, 7, 1),
                                  "end_date": dt.date(2021, 8, 31)}),
    (DeclarationKind.TRAINING, {"title": "MOOC SecNumacadémie", "organisation": "ANSSI",
                                "start_date": dt.date(2023, 1, 9),
                                "end_date": dt.date(2023, 3, 3)}),
    (DeclarationKind.DIPLOMA, {"title": "Licenciatura en Informática",
                               "organisation": "Universidad de Salamanca", "country": "ES",
                               "end_date": dt.date(2019, 6, 30)}),
    (DeclarationKind.SKILL, {"title": "Gestion de projet agile", "level": "avance"}),
    (DeclarationKind.LANGUAGE, {"title": "Espagnol", "level": "C1"}),
    (DeclarationKind.VOLUNTEERING, {"title": "Trésorière", "organisation": "Club de basket",
                                    "start_date": dt.date(2020, 1, 1)}),
    (DeclarationKind.OTHER, {"title": "Permis B"}),
]


def seed_declarations(db: Session, vault: NirVault, nirs: list[str]) -> int:
    """Give each showcase holder declarations of every kind (once); return how many holders."""
    seeded = 0
    pseudonyms = {vault.pseudonym(n): n for n in nirs}
    ids = holder_ids(db, pseudonyms, lambda k: (vault.encrypt(pseudonyms[k]), vault.key_id))
    for holder_id in ids.values():
        if db.scalar(sa.select(sa.exists().where(Declaration.holder_id == holder_id))):
            continue
        for kind, fields in DECLARATIONS:
            db.add(Declaration(holder_id=holder_id, kind=kind, **fields))
        db.flush()
        journal.append(db, holder_id, "declaration.created", actor_label="Vous",
                       details={"demo": True, "count": len(DECLARATIONS)})
        seeded += 1
    return seeded


DEMO_SHARE_LABEL = "Démonstration"


def seed_share(db: Session, ctx: ShareContext, nirs: list[str]) -> str | None:
    """The link of an active demo share of the first showcase holder (created once, and
    again when the last one ended); None without showcase holders."""
    if not nirs:
        return None
    pseudonym = ctx.vault.pseudonym(nirs[0])
    holder_id = db.scalar(sa.select(Holder.id).where(Holder.nir_hmac == pseudonym))
    if holder_id is None:
        return None
    for share in db.scalars(sa.select(Share).where(Share.holder_id == holder_id,
                                                   Share.label == DEMO_SHARE_LABEL)):
        view = sharing.holder_view(db, ctx, share)
        if view["status"] == "active":
            return str(view["url"])
    created = sharing.create_for(db, ctx, holder_id, {
        "all_visible": True, "label": DEMO_SHARE_LABEL, "expires_in_days": 365}, "Camille Démo")
    return str(created["url"])
