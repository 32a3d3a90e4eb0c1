"""CPF training files import."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from passport.csvimport import ImportFailed, Staging, parse_cell, read_rows, require
from passport.db import analyze, table_of, utcnow
from passport.holders.service import holder_ids
from passport.nir import InvalidNir, NirVault, validate
from passport.training.models import TrainingFile, TrainingStatus

TRAINING_COLUMNS = (
    "id_dossier", "nir", "nom", "prenom", "certification_type", "certification_code",
    "siret_organisme", "date_entree", "date_sortie", "statut",
)
#: Optional column: the access route, one of the flux's ``modaliteAcces`` values.
ACCESS_ROUTES = (
    "FORMATION_INITIALE_HORS_APPRENTISSAGE", "FORMATION_INITIALE_APPRENTISSAGE",
    "FORMATION_CONTINUE_HORS_CONTRAT_DE_PROFESSIONNALISATION",
    "FORMATION_CONTINUE_CONTRAT_DE_PROFESSIONNALISATION", "VAE",
    "EQUIVALENCE_DIPLOME_ETRANGER", "CANDIDAT_LIBRE",
)
_SIRET = re.compile(r"[0-9]{14}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
BATCH = 1000


def _date(text: str) -> dt.date:
    if not _DATE.fullmatch(text):
        raise ValueError(f"expected YYYY-MM-DD, got {text!r}")
    return dt.date.fromisoformat(text)


def _row(row: dict[str, str | None], line: int) -> tuple[str, dict[str, Any]]:
    try:
        nir = validate(require(row, "nir", line))
    except InvalidNir as exc:
        raise ImportFailed(line, f"nir: {exc}") from None
    id_dossier = require(row, "id_dossier", line)
    if len(id_dossier) > 13:
        raise ImportFailed(line, "id_dossier has at most 13 characters")
    siret = row.get("siret_organisme")
    if siret is not None and not _SIRET.fullmatch(siret):
        raise ImportFailed(line, f"siret_organisme must be 14 digits, got {siret!r}")
    statut = require(row, "statut", line)
    try:
        status = TrainingStatus(statut)
    except ValueError:
        raise ImportFailed(
            line, f"statut must be one of {', '.join(s.value for s in TrainingStatus)}, got {statut!r}"
        ) from None
    entree = parse_cell(row, "date_entree", line, _date)
    sortie = parse_cell(row, "date_sortie", line, _date)
    if entree and sortie and sortie < entree:
        raise ImportFailed(line, f"date_sortie ({sortie}) is before date_entree ({entree})")
    route = row.get("modalite_acces")
    if route is not None and route not in ACCESS_ROUTES:
        raise ImportFailed(line, f"modalite_acces must be one of {', '.join(ACCESS_ROUTES)}, "
                                 f"got {route!r}")
    now = utcnow()
    return nir, {
        "id_dossier": id_dossier,
        "nom": require(row, "nom", line),
        "prenom": require(row, "prenom", line),
        "certification_type": require(row, "certification_type", line),
        "certification_code": require(row, "certification_code", line),
        "siret_organisme": siret,
        "date_entree": entree,
        "date_sortie": sortie,
        "statut": status,
        "modalite_acces": route,
        "imported_at": now,
        "updated_at": now,
    }


#: The columns an imported training file fills (`_row`, and its holder).
TRAINING_FILE_COLUMNS = (
    "id_dossier", "holder_id", "nom", "prenom", "certification_type", "certification_code",
    "siret_organisme", "date_entree", "date_sortie", "statut", "modalite_acces",
    "imported_at", "updated_at")


#: What makes an imported training file a change (the key and the times do not).
_COMPARED = tuple(c for c in TRAINING_FILE_COLUMNS
                  if c not in ("id_dossier", "imported_at", "updated_at"))


def import_training_files(
    session: Session, path: Path, vault: NirVault, progress: Callable[[int], None] | None = None
) -> int:
    """Upsert CPF training files by ``id_dossier``, creating holders; return the row count."""
    from passport.analytics.refresh import ChangedFiles, after_training_import

    staging = Staging(session, table_of(TrainingFile), TRAINING_FILE_COLUMNS, "id_dossier")
    pending: list[tuple[int, str, dict[str, Any]]] = []
    changed = ChangedFiles()
    count = 0

    def flush() -> None:
        pseudonyms = [vault.pseudonym(nir) for _, nir, _ in pending]  # one HMAC a line
        clear = {pseudonym: nir for pseudonym, (_, nir, _) in zip(pseudonyms, pending, strict=True)}
        holders = holder_ids(session, clear, lambda k: (vault.encrypt(clear[k]), vault.key_id))
        for pseudonym, (line, _, values) in zip(pseudonyms, pending, strict=True):
            staging.add(line, {**values, "holder_id": holders[pseudonym]})
        pending.clear()

    for line, row in read_rows(path, TRAINING_COLUMNS, ("modalite_acces",)):
        nir, values = _row(row, line)
        pending.append((line, nir, values))
        count += 1
        if len(pending) >= BATCH:
            flush()
            if progress:
                progress(count)
    flush()
    if repeat := staging.first_repeat():
        raise ImportFailed(repeat[0], f"id_dossier {repeat[2]} is already on line {repeat[1]}")
    staging.upsert(_COMPARED, changed=changed.add)
    if progress:
        progress(count)
    analyze(session, "training_files", "holders")
    after_training_import(session, changed)
    return count
