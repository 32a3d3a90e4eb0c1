"""Reading the referentials: what a certification code means (sheet views for the API),
and which versions are loaded (provenance)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport.referentials.competences import option_matches
from passport.referentials.models import (
    ReferentialImport,
    RomeDomain,
    RomeJob,
    Sheet,
    SheetBlock,
    SheetCertifier,
)


def loaded(db: Session) -> dict[str, Any]:
    """The latest import of each referential: version, export date, when."""
    latest: dict[str, Any] = {}
    for record in db.scalars(sa.select(ReferentialImport).where(
            ReferentialImport.finished_at.is_not(None)).order_by(ReferentialImport.id)):
        latest[record.kind] = {"version": record.version, "export_date": record.export_date,
                               "imported_at": record.finished_at, "source": record.source}
    return latest


def status_of(sheet: Sheet) -> str:
    """``active``, ``replaced`` (inactive with a successor) or ``inactive``."""
    if sheet.active:
        return "active"
    return "replaced" if sheet.successors else "inactive"


def blocks_for(blocks: list[SheetBlock], option: str | None) -> list[SheetBlock]:
    """The blocs a holder of this option passed: the common ones and their option's (all of
    them when the sheet names no options or the passage names none)."""
    if not option or not any(b.option_label for b in blocks):
        return blocks
    return [b for b in blocks if not b.option_label or option_matches(b.option_label, option)]


def sheets(db: Session, codes: Iterable[str]) -> dict[str, Sheet]:
    wanted = sorted({c for c in codes if c})
    if not wanted:
        return {}
    return {s.numero: s for s in db.scalars(sa.select(Sheet).where(Sheet.numero.in_(wanted)))}


def views(db: Session, pairs: Iterable[tuple[str, str | None]]) -> dict[tuple[str, str | None],
                                                                         dict[str, Any]]:
    """Sheet views for (code, option) pairs, in four queries whatever their number."""
    pairs = set(pairs)
    found = sheets(db, (code for code, _ in pairs))
    if not found:
        return {}
    numeros = list(found)
    certifiers: dict[str, list[SheetCertifier]] = {}
    for c in db.scalars(sa.select(SheetCertifier).where(SheetCertifier.numero.in_(numeros))
                        .order_by(SheetCertifier.id)):
        certifiers.setdefault(c.numero, []).append(c)
    blocks: dict[str, list[SheetBlock]] = {}
    for b in db.scalars(sa.select(SheetBlock).where(SheetBlock.numero.in_(numeros))
                        .order_by(SheetBlock.numero, SheetBlock.position)):
        blocks.setdefault(b.numero, []).append(b)
    romes = {j.code_rome: j.label for j in db.scalars(sa.select(RomeJob).where(
        RomeJob.code_rome.in_({r for s in found.values() for r in s.rome_codes})))}
    domains = {d.code: d.label for d in db.scalars(sa.select(RomeDomain).where(
        RomeDomain.code.in_({r[:3] for s in found.values() for r in s.rome_codes})))}
    out = {}
    for code, option in pairs:
        sheet = found.get(code)
        if sheet is None:
            continue
        out[(code, option)] = view(sheet, certifiers.get(code, []),
                                   blocks_for(blocks.get(code, []), option), romes, domains)
    return out


def view(sheet: Sheet, certifiers: list[SheetCertifier], blocks: list[SheetBlock],
         romes: dict[str, str], domains: dict[str, str]) -> dict[str, Any]:
    """A sheet as the API shows it beside a certification."""
    return {
        "numero": sheet.numero, "title": sheet.title, "repertoire": sheet.repertoire,
        "type": {"code": sheet.type_code, "label": sheet.type_label} if sheet.type_code else None,
        "eqf_level": sheet.eqf_level, "status": status_of(sheet), "active": sheet.active,
        "replaced_by": sheet.successors, "replaces": sheet.predecessors,
        "registration_end": sheet.registration_end,
        "delivery_deadline": sheet.delivery_deadline,
        "certifiers": [{"name": c.name, "siret": c.siret, "active": c.active}
                       for c in certifiers],
        "blocks": [{"code": b.code, "title": b.title} for b in blocks],
        "rome": [{"code": r, "label": romes.get(r),
                  "domain_only": r not in romes and r[:3] in domains,
                  "domain": domains.get(r[:3]) if r not in romes else None}
                 for r in sheet.rome_codes],
        "export_date": sheet.export_date,
        "source": "csv" if sheet.from_csv else "xml",
    }


def enrich(db: Session, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``referential`` (the sheet view, or None for a code the referential does not
    know) to certification items, in place."""
    found = views(db, ((i["code"], i.get("option")) for i in items))
    for item in items:
        item["referential"] = found.get((item["code"], item.get("option")))
        if item["referential"] is not None:
            item["known_in_referential"] = True
    return items
