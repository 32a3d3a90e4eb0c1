"""Import the France compétences RNCP and RS exports (flux V4.1 XML, zipped or not).

The RNCP file is about 570 MB of XML: it is read as a stream (``iterparse`` on ``FICHE``,
each element cleared after use), straight out of the zip when zipped. Only what the
passport needs is kept (see docs/referentials.md); training partners — some are named
individuals — and jury compositions never are. One import is one transaction: a failed
import changes nothing. Re-importing the same export changes nothing either: a sheet is
rewritten only when its content hash changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import sqlalchemy as sa
from lxml import etree
from sqlalchemy.orm import Session

from passport.db import membership, table_of, utcnow
from passport.referentials.competences import option_of, parse_competences
from passport.referentials.models import (
    Certification,
    ReferentialImport,
    Sheet,
    SheetBlock,
    SheetCertifier,
)

SUPPORTED_VERSIONS = ("4.1",)
BATCH = 500
_NAME_DATE = re.compile(r"(\d{4})[-_](\d{2})[-_](\d{2})")
_NUMERO = re.compile(r"^(RNCP|RS)\d+$")
Progress = Callable[[int], None]


class ReferentialError(Exception):
    """The file cannot be imported (nothing was changed)."""


def parse_date(text: str | None) -> dt.date | None:
    """``DD/MM/YYYY`` (the export's format) → date; anything else is refused loudly."""
    if not text or not text.strip():
        return None
    found = re.fullmatch(r"(\d{2})/(\d{2})/(\d{4})", text.strip())
    try:
        if found is None:
            raise ValueError(text)
        day, month, year = (int(g) for g in found.groups())
        return dt.date(year, month, day)
    except ValueError:
        raise ReferentialError(f"date {text!r} is not DD/MM/YYYY") from None


def normalise_numero(value: str | None) -> str:
    return re.sub(r"\s+", "", value or "").upper()


def export_date_of(name: str) -> dt.date | None:
    """``export_fiches_RNCP_V4_1_2026-08-16.xml`` → 2026-08-16."""
    found = _NAME_DATE.search(name)
    if not found:
        return None
    try:
        return dt.date(*(int(g) for g in found.groups()))
    except ValueError:
        return None


class _Counting:
    """A binary stream that reports how many bytes were read."""

    def __init__(self, raw: IO[bytes], progress: Progress | None) -> None:
        self.raw, self.progress, self.done = raw, progress, 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.done += len(data)
        if self.progress:
            self.progress(self.done)
        return data


@contextmanager
def open_export(path: Path) -> Iterator[tuple[IO[bytes], int, str]]:
    """The XML stream of an export (the zip's XML member, or the file), its size, its name."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if m.filename.lower().endswith(".xml")]
            if len(members) != 1:
                raise ReferentialError(f"{path.name}: expected one XML file in the zip, found "
                                       f"{len(members)}")
            with archive.open(members[0]) as stream:
                yield stream, members[0].file_size, members[0].filename
        return
    with path.open("rb") as stream:
        yield stream, path.stat().st_size, path.name


def _text(el: etree._Element, name: str) -> str | None:
    """A direct child's text (never ``.//``: ``ACTIF`` exists at two levels)."""
    child = el.find(name)
    if child is None or child.text is None:
        return None
    value = re.sub(r"[ \t]+\n", "\n", child.text).strip()
    return value or None


def yes_no(value: str | None) -> bool | None:
    return None if value is None else value.strip().lower() in ("oui", "actif", "active")


def eqf_level_of(value: str | None) -> int | None:
    found = re.fullmatch(r"NIV([1-8])", (value or "").strip().upper())
    return int(found.group(1)) if found else None


@dataclass
class SheetData:
    """What the passport keeps of one FICHE."""

    sheet: dict[str, Any]
    certifiers: list[dict[str, Any]] = field(default_factory=list)
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def content_hash(self) -> str:
        canonical = json.dumps([self.sheet, self.certifiers, self.blocks], sort_keys=True,
                               default=str, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


def read_fiche(fiche: etree._Element) -> SheetData:
    """Extract one sheet (direct children only; dates DD/MM/YYYY; levels NIVn)."""
    numero = normalise_numero(_text(fiche, "NUMERO_FICHE"))
    if not _NUMERO.match(numero):
        raise ReferentialError(f"NUMERO_FICHE {numero!r} is not RNCP… or RS…")
    sheet = {
        "numero": numero,
        "repertoire": "RS" if numero.startswith("RS") else "RNCP",
        "title": _text(fiche, "INTITULE") or numero,
        "type_code": _text(fiche, "ABREGE/CODE"),
        "type_label": _text(fiche, "ABREGE/LIBELLE"),
        "eqf_level": eqf_level_of(_text(fiche, "NOMENCLATURE_EUROPE/NIVEAU")),
        "active": bool(yes_no(_text(fiche, "ACTIF"))),
        "state": _text(fiche, "ETAT_FICHE"),
        "registration_type": _text(fiche, "TYPE_ENREGISTREMENT"),
        "valid_from": parse_date(_text(fiche, "DATE_EFFET") or _text(fiche, "DATE_DECISION")),
        "registration_end": parse_date(_text(fiche, "DATE_FIN_ENREGISTREMENT")),
        "delivery_deadline": parse_date(_text(fiche, "DATE_LIMITE_DELIVRANCE")),
        "attested_skills_text": _text(fiche, "CAPACITES_ATTESTEES"),
        "rome_codes": [normalise_numero(r.findtext("CODE")) for r in fiche.iterfind(
            "CODES_ROME/ROME") if r.findtext("CODE")],
        "formacodes": [{"code": (f.findtext("CODE") or "").strip(),
                        "label": (f.findtext("LIBELLE") or "").strip()}
                       for f in fiche.iterfind("FORMACODES/FORMACODE")],
        "nsf": [{"code": (n.findtext("CODE") or "").strip(),
                 "label": (n.findtext("LIBELLE") or "").strip()}
                for n in fiche.iterfind("CODES_NSF/NSF")],
        "predecessors": [normalise_numero(a.text) for a in fiche.iterfind(
            "ANCIENNES_CERTIFICATIONS/ANCIENNE_CERTIFICATION/ID_FICHE_ANCIENNE_CERTIFICATION")
            if a.text],
        "successors": [normalise_numero(n.text) for n in fiche.iterfind(
            "NOUVELLES_CERTIFICATIONS/NOUVELLE_CERTIFICATION/ID_FICHE_NOUVELLE_CERTIFICATION")
            if n.text],
        "bloc_equivalences": [
            {"bloc": (c.findtext("SOURCE/BLOC_COMPETENCES/CODE") or "").strip(),
             "sheet": normalise_numero(c.findtext("DESTINATION/NUMERO_FICHE")),
             "equivalent_bloc": (c.findtext("DESTINATION/BLOC_COMPETENCES/CODE") or "").strip()}
            for c in fiche.iterfind("CORRESPONDANCES/CORRESPONDANCE")],
    }
    certifiers = [
        {"siret": re.sub(r"\D", "", c.findtext("SIRET_CERTIFICATEUR") or "") or None,
         "name": (c.findtext("NOM_CERTIFICATEUR") or "").strip(),
         "active": yes_no(c.findtext("ETAT_CERTIFICATEUR"))}
        for c in fiche.iterfind("CERTIFICATEURS/CERTIFICATEUR")]
    blocks = []
    for position, bloc in enumerate(fiche.iterfind("BLOCS_COMPETENCES/BLOC_COMPETENCES")):
        title = _text(bloc, "LIBELLE") or ""
        text = _text(bloc, "LISTE_COMPETENCES")
        blocks.append({"position": position, "code": _text(bloc, "CODE") or "",
                       "title": title, "option_label": option_of(title),
                       "competences_text": text, "competences": parse_competences(text)})
    return SheetData(sheet, certifiers, blocks)


@dataclass
class ImportResult:
    import_id: int
    version: str
    export_date: dt.date | None
    sheets: int = 0
    changed: int = 0
    certifications_named: int = 0

    def counts(self) -> dict[str, int]:
        return {"sheets": self.sheets, "changed": self.changed,
                "certifications_named": self.certifications_named}


def _iter_fiches(stream: IO[bytes]) -> Iterator[tuple[str, etree._Element]]:
    for _, el in etree.iterparse(stream, events=("end",), tag=("VERSION_FLUX", "FICHE"),
                                 resolve_entities=False, no_network=True, load_dtd=False,
                                 huge_tree=False, remove_comments=True):
        yield el.tag, el
        if el.tag == "FICHE":
            el.clear(keep_tail=True)
            parent = el.getparent()
            while el.getprevious() is not None and parent is not None:
                del parent[0]


def import_sheets(db: Session, path: Path, kind: str, *, export_date: dt.date | None = None,
                  progress: Progress | None = None, sha256: str | None = None) -> ImportResult:
    """Import an RNCP or RS export into ``db`` (flushed; the caller commits once)."""
    with open_export(path) as (raw, _size, member):
        stream = cast(IO[bytes], _Counting(raw, progress))
        version: str | None = None
        export_date = export_date or export_date_of(member) or export_date_of(path.name)
        record = ReferentialImport(kind=kind, source=path.name, sha256=sha256 or "",
                                   version="?", export_date=export_date, started_at=utcnow())
        db.add(record)
        db.flush()
        result = ImportResult(record.id, "?", export_date)
        pending: list[SheetData] = []
        try:
            for tag, el in _iter_fiches(stream):
                if tag == "VERSION_FLUX":
                    version = (el.text or "").strip()
                    if version not in SUPPORTED_VERSIONS:
                        raise ReferentialError(
                            f"VERSION_FLUX {version!r} is not supported (this version reads "
                            f"{', '.join(SUPPORTED_VERSIONS)}): check the export before "
                            "importing it")
                    continue
                if version is None:
                    raise ReferentialError("no VERSION_FLUX before the first FICHE")
                data = read_fiche(el)
                expected = "RS" if kind == "rs" else "RNCP"
                if data.sheet["repertoire"] != expected:
                    raise ReferentialError(
                        f"{data.sheet['numero']} in a {kind.upper()} import: wrong file?")
                pending.append(data)
                if len(pending) >= BATCH:
                    store(db, pending, result)
                    pending.clear()
        except etree.XMLSyntaxError as exc:
            raise ReferentialError(f"{member}: not well-formed XML ({exc})") from None
        if version is None:
            raise ReferentialError(f"{member}: no VERSION_FLUX (not a France compétences "
                                   "export)")
        store(db, pending, result)
    result.version = version
    record.version = version
    record.counts = result.counts()
    record.finished_at = utcnow()
    return result


def store(db: Session, batch: list[SheetData], result: ImportResult, *,
          from_csv: bool = False) -> None:
    """Write the sheets of ``batch`` whose content changed (a sheet, its certifiers and
    blocs are replaced as a whole), name the certifications they define; count them."""
    if not batch:
        return
    s, c, b = table_of(Sheet), table_of(SheetCertifier), table_of(SheetBlock)
    known: dict[str, str] = {}
    for condition in membership(db, s.c.numero, [d.sheet["numero"] for d in batch]):
        known.update(db.execute(sa.select(s.c.numero, s.c.content_hash).where(condition)).all())
    result.sheets += len(batch)
    changed = [(d, digest) for d in batch
               if known.get(d.sheet["numero"]) != (digest := d.content_hash())]
    if not changed:
        return
    ids = [d.sheet["numero"] for d, _ in changed]
    for table in (c, b, s):
        for condition in membership(db, table.c.numero, ids):
            db.execute(table.delete().where(condition))
    db.execute(sa.insert(s), [
        {**d.sheet, "content_hash": digest, "import_id": result.import_id,
         "export_date": result.export_date, "from_csv": from_csv} for d, digest in changed])
    certifiers = [{**row, "numero": d.sheet["numero"]} for d, _ in changed for row in d.certifiers]
    if certifiers:
        db.execute(sa.insert(c), certifiers)
    blocks = [{**row, "numero": d.sheet["numero"]} for d, _ in changed for row in d.blocks]
    if blocks:
        db.execute(sa.insert(b), blocks)
    result.changed += len(changed)
    result.certifications_named += name_certifications(db, [d.sheet for d, _ in changed])


def name_certifications(db: Session, sheets: list[dict[str, Any]]) -> int:
    """Give the certifications the flux named (type + code) their sheet's title and level."""
    t = table_of(Certification)
    named = 0
    for sheet in sheets:
        level = str(sheet["eqf_level"]) if sheet.get("eqf_level") else None
        named += db.execute(t.update().where(
            t.c.type == sheet["repertoire"], t.c.code == sheet["numero"]).values(
            title=sheet["title"], level=level)).rowcount or 0  # type: ignore[attr-defined]
    return named
