"""Making, keeping and handing out CVs (for the holder, or an advisor under consent)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport.auth.access import Actor
from passport.config import Settings
from passport.consents import service as consents
from passport.cvs import render
from passport.cvs.content import CvRequest, collect
from passport.cvs.models import KEPT_PER_HOLDER, CvDocument
from passport.cvs.signing import Sealer
from passport.db import utcnow
from passport.errors import NotFound
from passport.journal import service as journal

MEDIA_TYPES = {"pdf": ("application/pdf", "pdf"), "html": ("text/html; charset=utf-8", "html"),
               "json-resume": ("application/json", "json")}


@dataclass(frozen=True)
class CvContext:
    settings: Settings
    sealer: Sealer


def build(db: Session, ctx: CvContext, holder_id: int, request: CvRequest
          ) -> tuple[dict[str, Any], bytes]:
    """The CV's content and its bytes in the asked format."""
    cv = collect(db, ctx.settings, holder_id, request, now=utcnow())
    if request.format == "pdf":
        reason = ("CV issu du passeport de compétences" if request.language == "fr"
                  else "CV from the skills passport")
        return cv, ctx.sealer.seal(render.pdf(cv), reason=reason)
    if request.format == "html":
        return cv, render.html(cv).encode()
    return cv, json.dumps(render.json_resume(cv), ensure_ascii=False, indent=2).encode()


def summary(doc: CvDocument) -> dict[str, Any]:
    return {"id": doc.id, "created_at": doc.created_at, "format": doc.format,
            "template": doc.template, "language": doc.language,
            "attested_items": doc.attested_items, "declared_items": doc.declared_items,
            "file_name": doc.file_name, "media_type": doc.media_type,
            "size_bytes": len(doc.content)}


def create(db: Session, ctx: CvContext, actor: Actor, request: CvRequest) -> dict[str, Any]:
    """Make a CV of the caller's passport, keep it (the last ones only), journal it."""
    holder_id = actor.own_holder_id()
    cv, content = build(db, ctx, holder_id, request)
    media_type, extension = MEDIA_TYPES[request.format]
    doc = CvDocument(holder_id=holder_id, format=request.format, template=request.template,
                     language=request.language, attested_items=len(cv["attested"]),
                     declared_items=cv["declared_count"], media_type=media_type,
                     file_name=render.file_name(cv, extension), content=content)
    db.add(doc)
    db.flush()
    older = db.scalars(sa.select(CvDocument.id).where(CvDocument.holder_id == holder_id)
                       .order_by(CvDocument.id.desc()).offset(KEPT_PER_HOLDER)).all()
    if older:
        db.execute(sa.delete(CvDocument).where(CvDocument.id.in_(older)))
    journal.append(db, holder_id, "cv.generated", actor_label="Vous",
                   details={"cv_id": doc.id, "format": doc.format,
                            "attested_items": doc.attested_items,
                            "declared_items": doc.declared_items})
    return summary(doc)


def listing(db: Session, actor: Actor) -> list[dict[str, Any]]:
    """The caller's last CVs, newest first."""
    return [summary(d) for d in db.scalars(
        sa.select(CvDocument).where(CvDocument.holder_id == actor.own_holder_id())
        .order_by(CvDocument.id.desc()))]


def document(db: Session, actor: Actor, cv_id: int) -> CvDocument:
    """One of the caller's CVs (404 for anyone else's: same answer as a missing one)."""
    doc = db.get(CvDocument, cv_id)
    if doc is None or doc.holder_id != actor.own_holder_id():
        raise NotFound(f"No CV {cv_id} in your passport.")
    return doc


def for_advisor(db: Session, ctx: CvContext, advisor: Actor, reference: str,
                request: CvRequest) -> tuple[bytes, str, str]:
    """A CV of a consenting holder (their visible items, no contact details); 404 unless
    an active consent covers this advisor and its ``cv`` section. Journaled."""
    consent = consents.covering_consent(db, advisor, reference, section="cv")
    cv, content = build(db, ctx, consent.holder_id, CvRequest(
        format=request.format, template=request.template, language=request.language))
    consents.journal_read(db, advisor, consent, {"sections": ["cv"], "format": request.format})
    media_type, extension = MEDIA_TYPES[request.format]
    return content, media_type, render.file_name(cv, extension)
