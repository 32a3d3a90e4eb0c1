"""The holder's passport: attested items (passages) beside declared ones, never confused.

Every function takes the actor explicitly and only ever reads the actor's own holder's rows;
anything else answers `NotFound` (404), like a missing object.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport.auth.access import Actor
from passport.certifiers.models import Certifier
from passport.db import Page, Paged, utcnow
from passport.deposits.models import Deposit
from passport.errors import InvalidInput, NotFound
from passport.journal import service as journal
from passport.records.digcomp import named_results
from passport.records.models import (
    Declaration,
    DeclarationKind,
    ErrorReport,
    Passage,
    ReportReason,
)
from passport.referentials import service as referentials
from passport.referentials.models import Certification

MAX_PAGE_SIZE = 200
PARIS = ZoneInfo("Europe/Paris")


def today() -> dt.date:
    """Today in France: validity dates are French calendar dates."""
    return dt.datetime.now(PARIS).date()


def status_of(passage: Passage, on: dt.date | None = None) -> str:
    """``retiree`` (withdrawn), ``provisoire`` (not definitive), ``expiree`` or ``valide``."""
    on = on or today()
    if passage.withdrawn_at is not None:
        return "retiree"
    if not passage.donnee_certifiee:
        return "provisoire"
    if passage.date_fin_validite is not None and passage.date_fin_validite < on:
        return "expiree"
    return "valide"


def certification_query(holder_id: Any) -> Any:
    """A holder's attested items with what they show (``holder_id``: a value or a bind
    parameter)."""
    return (
        sa.select(Passage, Certification, Certifier.name, Deposit.received_at)
        .join(Certification, Certification.id == Passage.certification_id)
        .join(Deposit, Deposit.id == Passage.deposit_id)
        .outerjoin(Certifier, Certifier.bcr == Passage.certifier_bcr)
        .where(Passage.holder_id == holder_id)
    )


def certification_item(passage: Passage, certification: Certification,
                       certifier_name: str | None, received_at: dt.datetime) -> dict[str, Any]:
    """The holder's view of one attested item, with its provenance."""
    return {
        "id": passage.id,
        "type": certification.type,
        "code": certification.code,
        "title": certification.title,
        "level": certification.level,
        "known_in_referential": certification.title is not None,
        "certifier": {"bcr": passage.certifier_bcr, "name": certifier_name},
        "obtained_by": passage.obtention_certification,
        "definitive": passage.donnee_certifiee,
        "status": status_of(passage),
        "exam": {"start": passage.date_debut_examen, "end": passage.date_fin_examen,
                 "mode": passage.modalite_passage_examen,
                 "postal_code": passage.code_postal_centre_examen},
        "validity": {"start": passage.date_debut_validite, "end": passage.date_fin_validite},
        "mention": passage.mention_validee,
        "scoring": passage.scoring,
        "option": passage.libelle_option,
        "language_level": passage.niveau_langue_europeen,
        "digital": ({"score": passage.score_general,
                     "results": named_results(passage.digcomp_resultats)}
                    if passage.presence_niveau_numerique_euro else None),
        "access": {"route": passage.modalite_acces, "vae_route": passage.voie_acces_vae,
                   "initiative": passage.initiative_inscription,
                   "registered_on": passage.date_inscription},
        "proof_url": passage.url_preuve,
        "referential": None,
        "verbatim": passage.verbatim,
        "hidden": passage.hidden,
        "withdrawn_at": passage.withdrawn_at,
        "provenance": {
            "attestation": "garanti",
            "source": {"kind": "certifier", "certifier_bcr": passage.certifier_bcr,
                       "emitter_bcr": passage.emitter_bcr, "deposit_id": passage.deposit_id,
                       "received_at": received_at, "created_at": None},
            "last_changed_at": passage.updated_at or passage.withdrawn_at or passage.created_at,
        },
    }


def declaration_item(d: Declaration) -> dict[str, Any]:
    """The holder's view of one declared item."""
    return {
        "id": d.id, "kind": d.kind.value, "title": d.title, "organisation": d.organisation,
        "location": d.location, "country": d.country, "start_date": d.start_date,
        "end_date": d.end_date, "description": d.description, "skills": d.skills or [],
        "level": d.level, "url": d.url, "hidden": d.hidden,
        "provenance": {
            "attestation": "declare",
            "source": {"kind": "holder", "certifier_bcr": None, "emitter_bcr": None,
                       "deposit_id": None, "received_at": None, "created_at": d.created_at},
            "last_changed_at": d.updated_at,
        },
    }


def _bounds(page: int, page_size: int) -> tuple[int, int]:
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput(f"page >= 1 and 1 <= page_size <= {MAX_PAGE_SIZE}")
    return page, page_size


@functools.cache
def _certifications(include_withdrawn: bool, include_hidden: bool) -> Paged:
    query = certification_query(sa.bindparam("holder_id"))
    if not include_withdrawn:
        query = query.where(Passage.withdrawn_at.is_(None))
    if not include_hidden:
        query = query.where(Passage.hidden.is_(False))
    return Paged.of(query, Passage.date_debut_validite.desc(), Passage.id.desc())


@functools.cache
def _declarations(include_hidden: bool, of_kind: bool) -> Paged:
    query = sa.select(Declaration).where(Declaration.holder_id == sa.bindparam("holder_id"))
    if not include_hidden:
        query = query.where(Declaration.hidden.is_(False))
    if of_kind:
        query = query.where(Declaration.kind == sa.bindparam("kind"))
    return Paged.of(query, sa.func.coalesce(Declaration.end_date, Declaration.start_date)
                      .desc(), Declaration.id.desc())


def certifications(db: Session, holder_id: int, *, page: int = 1, page_size: int = 50,
                   include_withdrawn: bool = False, include_hidden: bool = True) -> Page:
    """A page of the holder's attested items, newest validity first (one query + a count)."""
    page, page_size = _bounds(page, page_size)
    rows, total = _certifications(include_withdrawn, include_hidden).page(
        db, page, page_size, {"holder_id": holder_id})
    return Page(referentials.enrich(db, [certification_item(*row) for row in rows]), page,
                page_size, total)


def declarations(db: Session, holder_id: int, *, page: int = 1, page_size: int = 50,
                 kind: str | None = None, include_hidden: bool = True) -> Page:
    """A page of the holder's declared items, most recent period first."""
    page, page_size = _bounds(page, page_size)
    params: dict[str, Any] = {"holder_id": holder_id}
    if kind:
        params["kind"] = DeclarationKind(kind)
    rows, total = _declarations(include_hidden, bool(kind)).page(db, page, page_size, params)
    return Page([declaration_item(d) for (d,) in rows], page, page_size, total)


def passport(db: Session, actor: Actor, *, certifications_page: int = 1,
             declarations_page: int = 1, page_size: int = 50,
             include_withdrawn: bool = False) -> dict[str, Any]:
    """The whole passport: both sections, each paginated."""
    holder_id = actor.own_holder_id()
    return {
        "certifications": certifications(db, holder_id, page=certifications_page,
                                         page_size=page_size,
                                         include_withdrawn=include_withdrawn),
        "declarations": declarations(db, holder_id, page=declarations_page,
                                     page_size=page_size),
    }


def _own_passage(db: Session, actor: Actor, passage_id: int, *,
                 live: bool = True, for_update: bool = False) -> tuple[Any, ...]:
    query = certification_query(actor.own_holder_id()).where(Passage.id == passage_id)
    if for_update:
        query = query.with_for_update(of=Passage)
    row = db.execute(query).first()
    if row is None or (live and row[0].withdrawn_at is not None):
        raise NotFound("No such certification in your passport.")
    return tuple(row)


def certification(db: Session, actor: Actor, passage_id: int, *,
                  for_update: bool = False) -> dict[str, Any]:
    """One attested item of the caller's passport (withdrawn ones included).
    ``for_update``: locked until the transaction ends — read so to check an ``If-Match``
    before a change, or two requests with the same ETag would both pass."""
    row = _own_passage(db, actor, passage_id, live=False, for_update=for_update)
    return referentials.enrich(db, [certification_item(*row)])[0]


def set_hidden(db: Session, actor: Actor, passage_id: int, hidden: bool) -> dict[str, Any]:
    """Keep an attested item out of shares and CVs by default (or bring it back)."""
    row = _own_passage(db, actor, passage_id)
    passage: Passage = row[0]
    if passage.hidden != hidden:
        passage.hidden = hidden
        passage.updated_at = utcnow()
        journal.append(db, passage.holder_id,
                       "certification.hidden" if hidden else "certification.shown",
                       actor_label="Vous", details={"certification_id": passage.id})
    return referentials.enrich(db, [certification_item(*row)])[0]


def file_report(db: Session, actor: Actor, passage_id: int, reason: str,
                comment: str | None) -> ErrorReport:
    """Report an error in an attested item to its certifier."""
    passage: Passage = _own_passage(db, actor, passage_id)[0]
    report = ErrorReport(holder_id=passage.holder_id, passage_id=passage.id,
                         certifier_bcr=passage.certifier_bcr, reason=ReportReason(reason),
                         comment=comment)
    db.add(report)
    db.flush()
    journal.append(db, passage.holder_id, "report.filed", actor_label="Vous",
                   details={"certification_id": passage.id, "report_id": report.id,
                            "reason": reason})
    return report


def reports(db: Session, actor: Actor, passage_id: int) -> list[ErrorReport]:
    """The caller's reports on one of their items, newest first."""
    _own_passage(db, actor, passage_id, live=False)
    return list(db.scalars(sa.select(ErrorReport).where(
        ErrorReport.passage_id == passage_id, ErrorReport.holder_id == actor.own_holder_id()
    ).order_by(ErrorReport.created_at.desc(), ErrorReport.id.desc())))


# -- declarations -------------------------------------------------------------------------
def _own_declaration(db: Session, actor: Actor, declaration_id: int, *,
                     for_update: bool = False) -> Declaration:
    query = sa.select(Declaration).where(Declaration.id == declaration_id,
                                         Declaration.holder_id == actor.own_holder_id())
    found = db.scalar(query.with_for_update() if for_update else query)
    if found is None:
        raise NotFound("No such declaration.")
    return found


def declaration(db: Session, actor: Actor, declaration_id: int, *,
                for_update: bool = False) -> dict[str, Any]:
    """One declared item of the caller (``for_update``: locked, as `certification`)."""
    return declaration_item(_own_declaration(db, actor, declaration_id,
                                             for_update=for_update))


def create_declaration(db: Session, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    """Add a declared item (validated by the schema; checked again here for rules)."""
    holder_id = actor.own_holder_id()
    data = {"skills": [], "hidden": False, **data}
    _check_declaration(data)
    now = utcnow()
    item = Declaration(holder_id=holder_id, created_at=now, updated_at=now,
                       **{**data, "kind": DeclarationKind(data["kind"])})
    db.add(item)
    db.flush()
    journal.append(db, holder_id, "declaration.created", actor_label="Vous",
                   details={"declaration_id": item.id, "kind": item.kind.value})
    return declaration_item(item)


def update_declaration(db: Session, actor: Actor, declaration_id: int,
                       changes: dict[str, Any]) -> dict[str, Any]:
    """Change a declared item (the caller checked its ETag)."""
    item = _own_declaration(db, actor, declaration_id)
    if "kind" in changes and changes["kind"] != item.kind.value:
        raise InvalidInput("The kind of a declaration cannot change; create a new one.",
                           errors=[{"field": "kind", "source": "json",
                                    "messages": ["cannot change"]}])
    merged = {**declaration_item(item), **changes}
    _check_declaration(merged)
    for name, value in changes.items():
        if name != "kind":
            setattr(item, name, value)
    item.updated_at = utcnow()
    journal.append(db, item.holder_id, "declaration.updated", actor_label="Vous",
                   details={"declaration_id": item.id, "fields": sorted(changes)})
    return declaration_item(item)


def delete_declaration(db: Session, actor: Actor, declaration_id: int) -> None:
    """Remove a declared item."""
    item = _own_declaration(db, actor, declaration_id)
    journal.append(db, item.holder_id, "declaration.deleted", actor_label="Vous",
                   details={"declaration_id": item.id, "kind": item.kind.value})
    db.delete(item)


CECRL = ("A1", "A2", "B1", "B2", "C1", "C2")
SKILL_LEVELS = ("debutant", "intermediaire", "avance", "expert")


def _check_declaration(data: dict[str, Any]) -> None:
    """Rules across fields (the schema checked each field alone)."""
    kind, errors = data["kind"], []
    start, end = data.get("start_date"), data.get("end_date")
    if start and end and end < start:
        errors.append(("end_date", "must not be before start_date"))
    if end and end > today() + dt.timedelta(days=366 * 5):
        errors.append(("end_date", "is too far in the future"))
    level = data.get("level")
    if kind == "langue" and level not in CECRL:
        errors.append(("level", f"a language needs a CECRL level: {', '.join(CECRL)}"))
    elif kind == "competence" and level is not None and level not in SKILL_LEVELS:
        errors.append(("level", f"one of {', '.join(SKILL_LEVELS)}"))
    elif kind not in ("langue", "competence") and level is not None:
        errors.append(("level", "only languages and skills have a level"))
    if kind == "experience" and not data.get("organisation"):
        errors.append(("organisation", "an experience needs its employer"))
    if kind in ("experience", "formation", "diplome", "engagement") and not start and not end:
        errors.append(("start_date", "give at least a start or an end date"))
    if errors:
        raise InvalidInput(
            "The declaration is not consistent.",
            errors=[{"field": f, "source": "json", "messages": [m]} for f, m in errors])
