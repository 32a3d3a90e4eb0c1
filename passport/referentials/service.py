"""Reading the referentials: what a certification code means (sheet views for the API),
and which versions are loaded (provenance)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport.db import membership, table_of
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
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


_STATE = (sa.select(sa.func.count(), sa.func.max(ReferentialImport.id),
                    sa.func.max(ReferentialImport.finished_at))
          .where(ReferentialImport.finished_at.is_not(None)))


def state(db: Session) -> tuple[Any, ...]:
    """What changes whenever an import commits: their number, the last one and when (a
    statement built once: every read of a passport asks)."""
    return tuple(db.execute(_STATE).one())


class StateCache(Generic[K, V]):
    """Values read from the referentials, kept per process for the referential `state`
    they were read in: the referentials change only when an import commits, which changes
    the state and empties the cache. None is kept too (a code the referentials do not
    know). Shared values: read them, do not change them. Bounded, least recently used
    first out."""

    def __init__(self, read: Callable[[Session, set[K]], dict[K, V]], size: int) -> None:
        self._read = read
        self.size = size
        self._values: OrderedDict[K, V | None] = OrderedDict()
        self._state: tuple[Any, ...] | None = None
        self._lock = threading.Lock()

    def get(self, db: Session, keys: Iterable[K]) -> dict[K, V]:
        """The values of ``keys`` that exist: from the cache, the others in one read."""
        wanted = set(keys)
        if not wanted:
            return {}
        current = state(db)
        with self._lock:
            if current != self._state:
                self._values.clear()
                self._state = current
            known = {key: self._values[key] for key in wanted if key in self._values}
            for key in known:
                self._values.move_to_end(key)
        missing = wanted - known.keys()
        if missing:
            fresh = self._read(db, missing)
            found = {key: fresh.get(key) for key in missing}
            known.update(found)
            with self._lock:
                if self._state == current:
                    self._values.update(found)
                    while len(self._values) > self.size:
                        self._values.popitem(last=False)
        return {key: value for key, value in known.items() if value is not None}


def views(db: Session, pairs: Iterable[Pair]) -> dict[Pair, dict[str, Any]]:
    """Sheet views for (code, option) pairs: a holder's read costs one small query (the
    state) instead of five."""
    return _views.get(db, pairs)


def titles(db: Session, codes: Iterable[str]) -> dict[str, str]:
    """Sheet titles by certification code (the labels of analytics listings)."""
    return _titles.get(db, codes)


def _read_titles(db: Session, codes: set[str]) -> dict[str, str]:
    numero = table_of(Sheet).c.numero
    return {code: title for condition in membership(db, numero, codes)
            for code, title in db.execute(sa.select(Sheet.numero, Sheet.title).where(condition))}


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


_views: StateCache[Pair, dict[str, Any]] = StateCache(_read_views, 20_000)
_titles: StateCache[str, str] = StateCache(_read_titles, 50_000)


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
