"""What goes into a CV: the holder's chosen items, attested ones with their verification
code, declared ones marked as such. Hidden and withdrawn items are never taken, even when
asked for by id."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from passport.config import Settings
from passport.consents.service import holder_name
from passport.errors import InvalidInput
from passport.records import service as records
from passport.records.models import DeclarationKind
from passport.sharing.verification import code_for, display, verification_url

FORMATS = ("pdf", "html", "json-resume")
TEMPLATES = ("classique", "moderne")
LANGUAGES = ("fr", "en")
#: Declared kinds, in the CV's order of sections.
DECLARED_SECTIONS = tuple(k.value for k in (
    DeclarationKind.EXPERIENCE, DeclarationKind.TRAINING, DeclarationKind.DIPLOMA,
    DeclarationKind.SKILL, DeclarationKind.LANGUAGE, DeclarationKind.VOLUNTEERING,
    DeclarationKind.OTHER))


class CvItemUnavailable(InvalidInput):
    """An item asked for is not one the CV may show."""

    code = "cv_item_unavailable"
    title = "Item not available for a CV"


@dataclass
class CvRequest:
    """What the holder asked for."""

    format: str = "pdf"
    template: str = "classique"
    language: str = "fr"
    certifications: list[int] | None = None
    declarations: list[int] | None = None
    headline: str | None = None
    summary: str | None = None
    contact: dict[str, str] = field(default_factory=dict)


def _all(fetch: Any, db: Session, holder_id: int, **kwargs: Any) -> list[dict[str, Any]]:
    items, page = [], 1
    while True:
        found = fetch(db, holder_id, page=page, page_size=records.MAX_PAGE_SIZE,
                      include_hidden=False, **kwargs)
        items.extend(found.items)
        if page * records.MAX_PAGE_SIZE >= found.total:
            return items
        page += 1


def _chosen(items: list[dict[str, Any]], wanted: list[int] | None, what: str
            ) -> list[dict[str, Any]]:
    if wanted is None:
        return items
    by_id = {item["id"]: item for item in items}
    missing = [i for i in wanted if i not in by_id]
    if missing:
        # The same answer for someone else's item, a hidden one and a withdrawn one.
        raise CvItemUnavailable(
            f"{what} {', '.join(map(str, missing))}: not in your passport, hidden or "
            "withdrawn; a CV shows only visible items.")
    return [by_id[i] for i in dict.fromkeys(wanted)]


def _attested(db: Session, settings: Settings, holder_id: int, item: dict[str, Any]
              ) -> dict[str, Any]:
    sheet = item.get("referential") or {}
    code = code_for(db, item["id"], holder_id)
    return {
        "id": item["id"], "type": item["type"], "code": item["code"],
        "title": sheet.get("title") or item["title"] or item["code"],
        "known": bool(sheet),
        "kind": (sheet.get("type") or {}).get("label"),
        "eqf_level": sheet.get("eqf_level"),
        "certifier": item["certifier"]["name"] or item["certifier"]["bcr"],
        "obtained_on": item["validity"]["start"], "valid_until": item["validity"]["end"],
        "status": item["status"], "mention": item["mention"], "option": item["option"],
        "language_level": item["language_level"],
        "blocks": [b["title"] for b in sheet.get("blocks", [])],
        "verification": {"code": display(code), "url": verification_url(settings, code)},
    }


def _declared(item: dict[str, Any]) -> dict[str, Any]:
    return {key: item[key] for key in (
        "id", "kind", "title", "organisation", "location", "country", "start_date", "end_date",
        "description", "skills", "level", "url")}


def collect(db: Session, settings: Settings, holder_id: int, request: CvRequest, *,
            now: dt.datetime) -> dict[str, Any]:
    """The CV's content, ready for any format."""
    attested = _chosen(_all(records.certifications, db, holder_id), request.certifications,
                       "certification")
    declared = _chosen(_all(records.declarations, db, holder_id), request.declarations,
                       "declaration")
    sections: dict[str, list[dict[str, Any]]] = {kind: [] for kind in DECLARED_SECTIONS}
    for item in declared:
        sections[item["kind"]].append(_declared(item))
    return {
        "language": request.language,
        "template": request.template,
        "name": request.contact.get("name") or holder_name(db, holder_id) or "",
        "headline": request.headline, "summary": request.summary,
        "contact": {k: v for k, v in request.contact.items() if k != "name" and v},
        "attested": [_attested(db, settings, holder_id, item) for item in attested],
        "declared": {kind: items for kind, items in sections.items() if items},
        "declared_count": len(declared),
        "generated_at": now,
        "issuer": settings.issuer,
    }
