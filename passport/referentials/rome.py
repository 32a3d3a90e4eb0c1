"""Import ROME 4.0 (France Travail open data): the ``unix_<table>_v<NNN>_utf8.csv`` files
of one release, found in a directory whatever their prefix.

Kept: job sheets (codes, labels, parents), professional domains, compétences with their
macro-compétences, savoirs, and each job's section-5 links (savoir-faire, savoir-être,
savoirs) flagged Principale / Émergente; the competence tree's labels when the
arborescence file is there. A release replaces the previous one in one transaction. Each
file's encoding is checked: a file named ``utf8`` that is not (``secteur_naf`` in v460 is
Latin-1) is read as Windows-1252 and reported.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport.db import table_of, utcnow
from passport.referentials.models import (
    ReferentialImport,
    RomeDomain,
    RomeItem,
    RomeJob,
    RomeLink,
    RomeTreeLabel,
)
from passport.referentials.sheets import ReferentialError

_FILE = re.compile(r"unix_([a-z_]+?)_v(\d{3})_utf8\.csv")
REQUIRED = ("referentiel_code_rome", "referentiel_competence", "referentiel_savoir",
            "liens_rome_referentiels", "coherence_item")
OPTIONAL = ("domaine_professionnel", "arborescence_competences")
#: The six domaines (their labels are only in the arborescence file otherwise).
DOMAINS = {
    "1": "Management, Social, Soin",
    "2": "Communication, Création, Innovation, Nouvelles technologies",
    "3": "Production, Construction, Qualité, Logistique",
    "4": "Pilotage, Gestion, Cadre réglementaire",
    "5": "Développement économique",
    "6": "Coopération, Organisation et Développement de ses compétences",
}
BATCH = 5000


@dataclass
class RomeResult:
    import_id: int
    version: str
    counts: dict[str, int] = field(default_factory=dict)
    recoded: list[str] = field(default_factory=list)


def find_files(directory: Path) -> tuple[str, dict[str, Path]]:
    """The release's files by table, and its version; refuses a mix of versions."""
    if not directory.is_dir():
        raise ReferentialError(f"{directory} is not a directory")
    found: dict[str, Path] = {}
    versions: set[str] = set()
    for path in sorted(directory.iterdir()):
        match = _FILE.search(path.name)
        if match and match.group(1) in REQUIRED + OPTIONAL:
            found[match.group(1)] = path
            versions.add(match.group(2))
    missing = [t for t in REQUIRED if t not in found]
    if missing:
        raise ReferentialError(f"{directory}: missing ROME files: "
                               + ", ".join(f"unix_{t}_vNNN_utf8.csv" for t in missing))
    if len(versions) != 1:
        raise ReferentialError(f"{directory}: files of several ROME versions "
                               f"({', '.join(sorted('v' + v for v in versions))})")
    return f"v{versions.pop()}", found


def _rows(path: Path, recoded: list[str]) -> Iterator[dict[str, str]]:
    """The rows of one CSV, decoded as UTF-8 — or as Windows-1252 when it is not."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
        recoded.append(path.name)
    text = text.removeprefix("\ufeff")
    yield from csv.DictReader(io.StringIO(text, newline=""))


def _int(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() else None


def _insert(db: Session, table: sa.Table, rows: Iterator[dict[str, Any]]) -> int:
    count, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            db.execute(sa.insert(table), batch)
            count += len(batch)
            batch.clear()
    if batch:
        db.execute(sa.insert(table), batch)
        count += len(batch)
    return count


def import_rome(db: Session, directory: Path, *, sha256: str = "") -> RomeResult:
    """Replace the ROME tables with the release in ``directory`` (flushed, not committed)."""
    version, files = find_files(directory)
    record = ReferentialImport(kind="rome", source=str(directory.name), sha256=sha256,
                               version=version, started_at=utcnow())
    db.add(record)
    db.flush()
    result = RomeResult(record.id, version)
    recoded = result.recoded
    for model in (RomeLink, RomeItem, RomeJob, RomeDomain, RomeTreeLabel):
        db.execute(sa.delete(table_of(model)))

    def jobs() -> Iterator[dict[str, Any]]:
        for row in _rows(files["referentiel_code_rome"], recoded):
            code = row["code_rome"].strip()
            yield {"code_rome": code, "code_ogr": _int(row["code_ogr"]) or 0,
                   "label": row["libelle_rome"].strip(),
                   "parent": (row.get("code_rome_parent") or "").strip() or None,
                   "version": version}

    result.counts["jobs"] = _insert(db, table_of(RomeJob), jobs())

    def items() -> Iterator[dict[str, Any]]:
        for row in _rows(files["referentiel_competence"], recoded):
            macro = row["nature"].strip().lower().startswith("macro")
            yield {"code_ogr": int(row["code_ogr"]), "nature": "macro" if macro else "competence",
                   "label": row["libelle_competence"].strip(),
                   "category": (row.get("cat_comp") or "").strip() or None,
                   "sub_category": (row.get("sous_cat_comp") or "").strip() or None,
                   "macro_ogr": None if macro else _int(row.get("code_ogr_macro_comp")),
                   "macro_code": (row.get("code_macro_comp") or "").strip() or None,
                   "version": version}
        for row in _rows(files["referentiel_savoir"], recoded):
            yield {"code_ogr": int(row["code_ogr_savoir"]), "nature": "savoir",
                   "label": row["libelle_savoir"].strip(),
                   "category": (row.get("categorie_savoir") or "").strip() or None,
                   "sub_category": (row.get("sous_categorie_savoir") or "").strip() or None,
                   "macro_ogr": None, "macro_code": None, "version": version}

    result.counts["items"] = _insert(db, table_of(RomeItem), items())

    flags = {(row["code_rome"].strip(), int(row["code_ogr"])): (row.get("coeur_metier") or
                                                                 "").strip() or None
             for row in _rows(files["coherence_item"], recoded)}

    def links() -> Iterator[dict[str, Any]]:
        seen: set[tuple[str, int]] = set()
        for row in _rows(files["liens_rome_referentiels"], recoded):
            rubrique = _int(row.get("code_rubrique"))
            if (row.get("code_compo_bloc") or "").strip() != "5" or rubrique not in (1, 2, 3):
                continue
            key = (row["code_rome"].strip(), int(row["code_ogr"]))
            if key in seen:
                continue
            seen.add(key)
            yield {"code_rome": key[0], "code_ogr": key[1], "rubrique": rubrique,
                   "coeur_metier": flags.get(key), "version": version}

    result.counts["links"] = _insert(db, table_of(RomeLink), links())

    if "domaine_professionnel" in files:
        result.counts["domains"] = _insert(db, table_of(RomeDomain), (
            {"code": row["code_domaine_professionnel"].strip(),
             "label": row["libelle_domaine_professionnel"].strip(), "version": version}
            for row in _rows(files["domaine_professionnel"], recoded)))

    labels: dict[str, tuple[str, str]] = {code: ("domaine", label) for code, label in
                                          DOMAINS.items()}
    if "arborescence_competences" in files:
        for row in _rows(files["arborescence_competences"], recoded):
            for level, code, label in (("domaine", "code_domaine_competence",
                                        "domaine_competence"),
                                       ("enjeu", "code_enjeu", "enjeu"),
                                       ("objectif", "code_objectif", "objectif")):
                if row.get(code):
                    labels[row[code].strip()] = (level, row[label].strip())
    result.counts["tree_labels"] = _insert(db, table_of(RomeTreeLabel), (
        {"code": code, "level": level, "label": label, "version": version}
        for code, (level, label) in labels.items()))
    record.counts = {**result.counts, "recoded_files": len(recoded)}
    record.finished_at = utcnow()
    return result
