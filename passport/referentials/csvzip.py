"""Import the France compétences CSV export (``export-fiches-csv-YYYY-MM-DD.zip``): a quick
index of every sheet (title, type, level, status, dates, certifiers, ROME codes, blocs'
titles, lineage) for codes the XML exports did not bring. It has no competence texts, so a
sheet already imported from the XML is left as it is.

Members are matched by pattern on their NFC-normalised names (two contain accents);
separator ``;``, CRLF, values quoted, multi-line fields (a real CSV reader), SIRETs behind
a TAB, apostrophes doubled in ROME labels, ``ACTIVE``/``INACTIVE``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport.db import utcnow
from passport.referentials.competences import option_of
from passport.referentials.models import ReferentialImport, Sheet
from passport.referentials.sheets import (
    ImportResult,
    ReferentialError,
    SheetData,
    eqf_level_of,
    export_date_of,
    normalise_numero,
    parse_date,
    store,
    yes_no,
)

TABLES = {
    "standard": r"export_fiches_csv_standard_",
    "certificateurs": r"export_fiches_csv_certificateurs_",
    "rome": r"export_fiches_csv_rome_",
    "blocs": r"export_fiches_csv_blocs_de_competences_",
    "lineage": r"export_fiches_csv_ancienne_nouvelle_certification_",
}


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's real name: without the UTF-8 flag, zipfile decodes names as CP437,
    which mangles the accents the export's UTF-8 names carry."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _key(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFC", name))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _rows(archive: zipfile.ZipFile, member: str) -> Iterator[dict[str, str]]:
    with archive.open(member) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        for row in csv.DictReader(text, delimiter=";"):
            yield {k: (v or "").strip() for k, v in row.items() if k}


def _siret(value: str) -> str | None:
    digits = re.sub(r"\D", "", value)  # the export puts a TAB before every SIRET
    return digits or None


def import_csv_zip(db: Session, path: Path, *, export_date: dt.date | None = None,
                   sha256: str = "") -> ImportResult:
    """Index the sheets of a CSV export (flushed, not committed)."""
    if not zipfile.is_zipfile(path):
        raise ReferentialError(f"{path.name} is not a zip (export-fiches-csv-YYYY-MM-DD.zip)")
    with zipfile.ZipFile(path) as archive:
        members: dict[str, str] = {}
        for info in archive.infolist():
            for table, pattern in TABLES.items():
                if re.search(pattern, _key(_member_name(info))):
                    members[table] = info.filename
        missing = [t for t in ("standard", "certificateurs", "rome", "blocs", "lineage")
                   if t not in members]
        if missing:
            raise ReferentialError(f"{path.name}: no {', '.join(missing)} table in the zip")
        export_date = (export_date or export_date_of(path.name)
                       or export_date_of(members["standard"]))
        record = ReferentialImport(kind="rncp-csv", source=path.name, sha256=sha256,
                                   version="csv", export_date=export_date, started_at=utcnow())
        db.add(record)
        db.flush()
        result = ImportResult(record.id, "csv", export_date)
        certifiers: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in _rows(archive, members["certificateurs"]):
            certifiers[normalise_numero(row["Numero_Fiche"])].append(
                {"siret": _siret(row["Siret_Certificateur"]), "name": row["Nom_Certificateur"],
                 "active": None})
        romes: dict[str, list[str]] = defaultdict(list)
        for row in _rows(archive, members["rome"]):
            romes[normalise_numero(row["Numero_Fiche"])].append(
                normalise_numero(row["Codes_Rome_Code"]))
        blocks: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in _rows(archive, members["blocs"]):
            numero = normalise_numero(row["Numero_Fiche"])
            title = row["Bloc_Competences_Libelle"].replace("''", "'")
            blocks[numero].append({"position": len(blocks[numero]),
                                   "code": row["Bloc_Competences_Code"], "title": title,
                                   "option_label": option_of(title), "competences_text": None,
                                   "competences": None})
        lineage: dict[str, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
        for row in _rows(archive, members["lineage"]):
            numero = normalise_numero(row["Numero_Fiche"])
            if row["Ancienne_Certification"]:
                lineage[numero][0].add(normalise_numero(row["Ancienne_Certification"]))
            if row["Nouvelle_Certification"]:
                lineage[numero][1].add(normalise_numero(row["Nouvelle_Certification"]))
        from_xml = set(db.scalars(sa.select(Sheet.numero).where(Sheet.from_csv.is_(False))))
        batch: list[SheetData] = []
        for row in _rows(archive, members["standard"]):
            numero = normalise_numero(row["Numero_Fiche"])
            if not re.fullmatch(r"(RNCP|RS)\d+", numero) or numero in from_xml:
                result.sheets += 1
                continue
            before, after = lineage.get(numero, (set(), set()))
            sheet = {
                "numero": numero, "repertoire": "RS" if numero.startswith("RS") else "RNCP",
                "title": row["Intitule"] or numero, "type_code": row["Abrege_Libelle"] or None,
                "type_label": row["Abrege_Intitule"] or None,
                "eqf_level": eqf_level_of(row["Nomenclature_Europe_Niveau"]),
                "active": bool(yes_no(row["Actif"])), "state": None,
                "registration_type": row["Type_Enregistrement"] or None,
                "valid_from": parse_date(row["Date_Effet"] or row["Date_Decision"]),
                "registration_end": parse_date(row["Date_Fin_Enregistrement"]),
                "delivery_deadline": None, "attested_skills_text": None,
                "rome_codes": romes.get(numero, []), "formacodes": [], "nsf": [],
                "predecessors": sorted(before), "successors": sorted(after),
                "bloc_equivalences": [],
            }
            batch.append(SheetData(sheet, certifiers.get(numero, []), blocks.get(numero, [])))
        store(db, batch, result, from_csv=True)
    record.counts = result.counts()
    record.finished_at = utcnow()
    return result
