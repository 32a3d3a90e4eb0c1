"""Holder identification ("NIRisation", spec §8), a batch of passages at a time.

Three ways to name a holder in a flux, three lookups, each one query per batch:

* ``titulaire``: civil status matched against the identity directory on the mandatory
  criteria (normalised birth name and first first-name, birth year, sex: the indexed
  ``match_key``; then the birth INSEE code), narrowed by birth month and day when several;
* ``dossierFormation``: the CPF training file gives the holder, its names must match;
* ``identifiantNational`` (1.1.5, provisional): the NIR, key computed, must be in the
  directory with the same birth name.

The result of each passage is either a `Found` (the holder's pseudonym, and what is needed
to create the holder) or a KO `Problem` with the spec's message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ingestion.normalize import normalise
from ingestion.rules import Problem
from passport.db import membership, table_of
from passport.holders.models import Holder, IdentityRecord, NirAlias
from passport.nir import InvalidNir, NirVault, with_key
from passport.training.models import TrainingFile

NONE_MATCH = Problem(
    "nirisation_aucun",
    "Aucun titulaire ne correspond aux critères obligatoires",
    "No holder matches the mandatory criteria",
)
NONE_AFTER_NARROWING = Problem(
    "nirisation_aucun_enrichi",
    "Aucun titulaire ne correspond aux critères obligatoires enrichis du jour et du mois de "
    "naissance",
    "No holder matches the mandatory criteria with the birth day and month",
)
SEVERAL = Problem(
    "nirisation_plusieurs",
    "Plusieurs titulaires ont été identifiés",
    "Several holders match",
)


@dataclass(frozen=True)
class Found:
    """A holder identified by the pseudonym of their NIR (``holder_id`` when already known)."""

    nir_hmac: str
    nir_enc: bytes | None = None
    nir_key_id: str | None = None
    holder_id: int | None = None


Identification = Found | Problem


class Nirisation:
    """Resolves holders for batches of passages against the directory and training files."""

    def __init__(self, session: Session, vault: NirVault) -> None:
        self.session = session
        self.vault = vault

    def resolve(self, identities: Sequence[tuple[Any, ...]]) -> list[Identification]:
        """One identification per passage, from `ingestion.rules.Checked.identity`."""
        results: list[Identification | None] = [None] * len(identities)
        by_kind: dict[str, list[int]] = {}
        for index, identity in enumerate(identities):
            by_kind.setdefault(identity[0], []).append(index)
        if "titulaire" in by_kind:
            self._titulaires(identities, by_kind["titulaire"], results)
        if "dossierFormation" in by_kind:
            self._dossiers(identities, by_kind["dossierFormation"], results)
        if "identifiantNational" in by_kind:
            self._national(identities, by_kind["identifiantNational"], results)
        return [r if r is not None else NONE_MATCH for r in results]

    # -- titulaire -------------------------------------------------------------------
    def _titulaires(
        self, identities: Sequence[tuple[Any, ...]], indexes: list[int], out: list[Any]
    ) -> None:
        t, h = table_of(IdentityRecord), table_of(Holder)
        # The holder (when the person already has a passport) comes with the candidate.
        query = sa.select(
            t.c.match_key, t.c.nir_hmac, t.c.nir_enc, t.c.nir_key_id, t.c.code_insee_naissance,
            t.c.mois_naissance, t.c.jour_naissance, h.c.id.label("holder_id"),
        ).outerjoin(h, h.c.nir_hmac == t.c.nir_hmac)
        candidates: dict[str, list[Any]] = {}
        for condition in membership(self.session, t.c.match_key,
                                    (identities[i][1] for i in indexes)):
            for row in self.session.execute(query.where(condition)).all():
                candidates.setdefault(row.match_key, []).append(row)
        for i in indexes:
            _, key, insee, month, day = identities[i]
            out[i] = self._pick(candidates.get(key, ()), insee, month, day)

    @staticmethod
    def _pick(
        rows: Sequence[Any], insee: str | None, month: int | None, day: int | None
    ) -> Identification:
        if insee is not None:  # with only a postal code, the place is not used
            rows = [r for r in rows if r.code_insee_naissance in (None, insee)]
        if not rows:
            return NONE_MATCH
        if len(rows) > 1:
            if month is None and day is None:
                return SEVERAL
            rows = [
                r
                for r in rows
                if (month is None or r.mois_naissance in (None, month))
                and (day is None or r.jour_naissance in (None, day))
            ]
            if not rows:
                return NONE_AFTER_NARROWING
            if len(rows) > 1:
                return SEVERAL
        row = rows[0]
        return Found(row.nir_hmac, row.nir_enc, row.nir_key_id, row.holder_id)

    # -- dossierFormation ------------------------------------------------------------
    def _dossiers(
        self, identities: Sequence[tuple[Any, ...]], indexes: list[int], out: list[Any]
    ) -> None:
        tf, h = table_of(TrainingFile), table_of(Holder)
        files: dict[str, Any] = {}
        query = sa.select(
            tf.c.id_dossier, tf.c.nom, tf.c.prenom, tf.c.holder_id, h.c.nir_hmac
        ).join(h, h.c.id == tf.c.holder_id)
        for condition in membership(self.session, tf.c.id_dossier,
                                    (identities[i][1] for i in indexes)):
            files.update(
                (row.id_dossier, row) for row in self.session.execute(query.where(condition)).all()
            )
        for i in indexes:
            _, id_dossier, nom, prenom = identities[i]
            row = files.get(id_dossier)
            if row is None:
                out[i] = Problem(
                    "dossier_inconnu",
                    f"Aucun dossier de formation ne correspond à l'identifiant {id_dossier}",
                    f"No CPF training file has the id {id_dossier}",
                )
            elif not (_same_name(nom, row.nom, 30) and _same_name(prenom, row.prenom, 20)):
                out[i] = Problem(
                    "dossier_nom_different",
                    "Le nom ou le prénom du titulaire ne correspond pas au dossier de formation "
                    f"{id_dossier}",
                    f"The holder's name does not match training file {id_dossier}",
                )
            else:
                out[i] = Found(row.nir_hmac, holder_id=row.holder_id)

    # -- identifiantNational (1.1.5) -----------------------------------------------
    def _national(
        self, identities: Sequence[tuple[Any, ...]], indexes: list[int], out: list[Any]
    ) -> None:
        pseudonyms: dict[int, str] = {}
        for i in indexes:
            try:
                pseudonyms[i] = self.vault.pseudonym(with_key(identities[i][1]))
            except InvalidNir:
                out[i] = _unknown_nir()
        t, h = table_of(IdentityRecord), table_of(Holder)
        rows: dict[str, Any] = {}
        query = sa.select(
            t.c.nir_hmac, t.c.nir_enc, t.c.nir_key_id, t.c.nom_naissance,
            h.c.id.label("holder_id"),
        ).outerjoin(h, h.c.nir_hmac == t.c.nir_hmac)
        for condition in membership(self.session, t.c.nir_hmac, pseudonyms.values()):
            rows.update(
                (row.nir_hmac, row) for row in self.session.execute(query.where(condition)).all()
            )
        # A former number (a provisional NIA the directory replaced) reaches the holder of
        # the number that replaced it, checked against that number's directory record.
        former = [p for p in pseudonyms.values() if p not in rows]
        if former:
            a = table_of(NirAlias)
            by_alias = sa.select(
                a.c.nir_hmac.label("alias"), t.c.nir_hmac, t.c.nir_enc, t.c.nir_key_id,
                t.c.nom_naissance, h.c.id.label("holder_id"),
            ).join(h, h.c.id == a.c.holder_id).join(t, t.c.nir_hmac == h.c.nir_hmac)
            for condition in membership(self.session, a.c.nir_hmac, former):
                rows.update((row.alias, row)
                            for row in self.session.execute(by_alias.where(condition)).all())
        for i, pseudonym in pseudonyms.items():
            row = rows.get(pseudonym)
            if row is None:
                out[i] = _unknown_nir()
            elif normalise(row.nom_naissance) != normalise(identities[i][2]):
                out[i] = Problem(
                    "nir_nom_different",
                    "Le nom de naissance ne correspond pas au titulaire de ce NIR",
                    "The birth name does not match the holder of this NIR",
                )
            else:
                out[i] = Found(row.nir_hmac, row.nir_enc, row.nir_key_id, row.holder_id)


def _unknown_nir() -> Problem:
    return Problem(
        "nir_inconnu",
        "Aucun titulaire ne correspond au NIR transmis",
        "No holder has the NIR sent",
    )


def _same_name(sent: str, known: str, max_length: int) -> bool:
    """Names equal once normalised; a value cut at the field's maximum length may be a prefix."""
    a, b = normalise(sent), normalise(known)
    if a == b:
        return True
    return len(sent) >= max_length and bool(a) and b.startswith(a)
