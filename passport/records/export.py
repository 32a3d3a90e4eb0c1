"""The GDPR access and portability export: everything held about a holder, one document.

The document follows `docs/export.schema.json` (``format`` = ``passport-export``,
``version`` = 1; ``consent_receipts`` and ``consent_requests`` were added within version
1). It is the only place the clear NIR is ever returned, and only to its holder; the
download is journaled and never cached.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from marshmallow import Schema, fields
from sqlalchemy.orm import Session

from passport.auth.access import Actor
from passport.auth.models import Account
from passport.consents import service as consents
from passport.consents.models import Consent, ConsentReceipt
from passport.consents.schemas import ConsentRequestSchema, ConsentSchema
from passport.cvs.models import CvDocument
from passport.cvs.schemas import CvSchema
from passport.cvs.service import summary as cv_summary
from passport.db import utcnow
from passport.holders.merge import with_merged
from passport.holders.models import Holder, IdentityRecord
from passport.journal import service as journal
from passport.journal.api import JournalEntrySchema, mark_former
from passport.journal.models import JournalEntry
from passport.nir import NirVault
from passport.records import schemas, service
from passport.records.models import Declaration, ErrorReport, Passage
from passport.referentials import service as referentials
from passport.sharing import service as sharing
from passport.sharing.models import Share
from passport.sharing.schemas import ShareSchema

FORMAT, VERSION = "passport-export", 1
SCHEMA_URL = "https://passport.example/schemas/passport-export-1.json"


class IdentitySchema(Schema):
    nom_naissance = fields.String(allow_none=True)
    nom_usage = fields.String(allow_none=True)
    prenoms = fields.List(fields.String(), required=True)
    annee_naissance = fields.Integer(allow_none=True)
    mois_naissance = fields.Integer(allow_none=True)
    jour_naissance = fields.Integer(allow_none=True)
    sexe = fields.String(allow_none=True)
    code_insee_naissance = fields.String(allow_none=True)
    code_pays_naissance = fields.String(allow_none=True)


class LoginSchema(Schema):
    provider = fields.String(required=True)
    role = fields.String(required=True)
    display_name = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)
    last_login_at = fields.DateTime(allow_none=True)


class HolderExportSchema(Schema):
    nir = fields.String(required=True, metadata={
        "description": "The NIR, in clear: only in this export, only to its holder"})
    identity = fields.Nested(IdentitySchema, allow_none=True)
    logins = fields.List(fields.Nested(LoginSchema), required=True)
    passport_created_at = fields.DateTime(required=True)


class ExportedShareSchema(ShareSchema):
    """A share without its link: the link is a credential, shown by the API only."""

    class Meta:
        exclude = ("url", "token")


class ExportSchema(Schema):
    """Everything held about me (versioned document: see docs/export.md)."""

    schema_url = fields.String(data_key="$schema", required=True)
    format = fields.String(required=True)
    version = fields.Integer(required=True)
    generated_at = fields.DateTime(required=True)
    holder = fields.Nested(HolderExportSchema, required=True)
    certifications = fields.List(fields.Nested(schemas.CertificationSchema), required=True)
    declarations = fields.List(fields.Nested(schemas.DeclarationSchema), required=True)
    reports = fields.List(fields.Nested(schemas.ReportSchema), required=True)
    shares = fields.List(fields.Nested(ExportedShareSchema), required=True)
    consents = fields.List(fields.Nested(ConsentSchema), required=True)
    consent_receipts = fields.List(fields.Dict(), required=True, metadata={
        "description": "Every consent receipt issued to me, as issued"})
    consent_requests = fields.List(fields.Nested(ConsentRequestSchema), required=True, metadata={
        "description": "Advisors' requests made with my codes (added within version 1)"})
    journal = fields.List(fields.Nested(JournalEntrySchema), required=True)
    cvs = fields.List(fields.Nested(CvSchema), required=True, metadata={
        "description": "The CVs I generated and that are kept"})


def export(db: Session, actor: Actor, vault: NirVault) -> dict[str, Any]:
    """Build the export (and journal it)."""
    holder_id = actor.own_holder_id()
    journal.append(db, holder_id, "export.downloaded", actor_label="Vous")
    holder = db.get(Holder, holder_id)
    assert holder is not None
    record = db.scalar(sa.select(IdentityRecord).where(IdentityRecord.nir_hmac == holder.nir_hmac))
    identity = None
    if record is not None:
        identity = {
            "nom_naissance": record.nom_naissance, "nom_usage": record.nom_usage,
            "prenoms": [p for p in (record.prenom1, record.prenom2, record.prenom3) if p],
            "annee_naissance": record.annee_naissance, "mois_naissance": record.mois_naissance,
            "jour_naissance": record.jour_naissance, "sexe": record.sexe,
            "code_insee_naissance": record.code_insee_naissance,
            "code_pays_naissance": record.code_pays_naissance,
        }
    logins = [
        {"provider": a.issuer, "role": a.role.value, "display_name": a.display_name,
         "created_at": a.created_at, "last_login_at": a.last_login_at}
        for a in db.scalars(sa.select(Account).where(Account.holder_id == holder_id)
                            .order_by(Account.created_at))
    ]
    rows = db.execute(service.certification_query(holder_id)
                      .order_by(Passage.date_debut_validite.desc(), Passage.id)).all()
    return {
        "schema_url": SCHEMA_URL, "format": FORMAT, "version": VERSION,
        "generated_at": utcnow(),
        "holder": {"nir": vault.decrypt(holder.nir_key_id, holder.nir_enc), "identity": identity,
                   "logins": logins, "passport_created_at": holder.created_at},
        "certifications": referentials.enrich(db, [service.certification_item(*row)
                                                   for row in rows]),
        "declarations": [service.declaration_item(d) for d in db.scalars(
            sa.select(Declaration).where(Declaration.holder_id == holder_id)
            .order_by(Declaration.id))],
        "reports": list(db.scalars(sa.select(ErrorReport).where(
            ErrorReport.holder_id == holder_id).order_by(ErrorReport.id))),
        "shares": [sharing.summary(db, s) for s in db.scalars(
            sa.select(Share).where(Share.holder_id == holder_id).order_by(Share.id))],
        "consents": [consents.view(c) for c in db.scalars(
            sa.select(Consent).where(Consent.holder_id == holder_id).order_by(Consent.id))],
        "consent_receipts": [r.document for r in db.scalars(
            sa.select(ConsentReceipt).where(ConsentReceipt.holder_id == holder_id)
            .order_by(ConsentReceipt.created_at))],
        "consent_requests": consents.pending(db, actor),
        # Chain by chain (a merged passport's after this one's), each in its order.
        "journal": mark_former(list(db.scalars(sa.select(JournalEntry).where(
            JournalEntry.holder_id.in_(with_merged(db, holder_id)))
            .order_by(JournalEntry.holder_id != holder_id, JournalEntry.holder_id,
                      JournalEntry.seq))), holder_id),
        "cvs": [cv_summary(d) for d in db.scalars(sa.select(CvDocument).where(
            CvDocument.holder_id == holder_id).order_by(CvDocument.id))],
    }
