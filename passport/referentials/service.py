"""Reading the referentials: what a certification code means (sheet views for the API),
and which versions are loaded (provenance)."""

from __future__ import annotations

import threading
from collections import OrderedDict
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


Pair = tuple[str, str | None]

#: Sheet views by (code, option) — None for a code the referentials do not know — read in
#: the referential state ``_cached_state``: the sheets change only when an import commits,
#: which changes the state, so a holder's read costs one small query instead of five.
#: Shared: read them, do not change them. Bounded, least recently used first out.
_cached: OrderedDict[Pair, dict[str, Any] | None] = OrderedDict()
_cached_state: tuple[Any, ...] | None = None
_cached_lock = threading.Lock()
CACHED_VIEWS = 20_000


def state(db: Session) -> tuple[Any, ...]:
    """What changes whenever an import commits: their number, the last one and when."""
    finished = ReferentialImport.finished_at
    return tuple(db.execute(sa.select(sa.func.count(), sa.func.max(ReferentialImport.id),
                                      sa.func.max(finished)).where(finished.is_not(None))).one())


def views(db: Session, pairs: Iterable[Pair]) -> dict[Pair, dict[str, Any]]:
    """Sheet views for (code, option) pairs: from the cache, the others in five queries
    whatever their number."""
    global _cached_state
    pairs = set(pairs)
    if not pairs:
        return {}
    current = state(db)
    with _cached_lock:
        if current != _cached_state:
            _cached.clear()
            _cached_state = current
        known = {pair: _cached[pair] for pair in pairs if pair in _cached}
        for pair in known:
            _cached.move_to_end(pair)
    missing = pairs - known.keys()
    if missing:
        fresh = _read_views(db, missing)
        found = {pair: fresh.get(pair) for pair in missing}
        known.update(found)
        with _cached_lock:
            if _cached_state == current:
                _cached.update(found)
                while len(_cached) > CACHED_VIEWS:
                    _cached.popitem(last=False)
    return {pair: view for pair, view in known.items() if view is not None}


def _read_views(db: Session, pairs: set[Pair]) -> dict[Pair, dict[str, Any]]:
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
