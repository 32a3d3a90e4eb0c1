"""marshmallow schemas of the passport API (each response shape and each request body)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from passport.records.models import DeclarationKind, ReportReason, ReportStatus
from passport.referentials.schemas import ReferentialSchema

KINDS = [k.value for k in DeclarationKind]


class SourceSchema(Schema):
    """Where an item comes from."""

    kind = fields.String(required=True, validate=validate.OneOf(["certifier", "holder"]),
                         metadata={"description": "certifier (attested) or holder (declared)"})
    certifier_bcr = fields.String(allow_none=True)
    emitter_bcr = fields.String(allow_none=True, metadata={
        "description": "Who filed the data: the certifier or a mandated third party"})
    deposit_id = fields.Integer(allow_none=True)
    received_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(allow_none=True)


class ProvenanceSchema(Schema):
    """Attested by a certifier ("garanti") or declared by the holder ("declare")."""

    attestation = fields.String(required=True, validate=validate.OneOf(["garanti", "declare"]))
    source = fields.Nested(SourceSchema, required=True)
    last_changed_at = fields.DateTime(required=True)


class CertifierSchema(Schema):
    bcr = fields.String(required=True)
    name = fields.String(allow_none=True)


class ExamSchema(Schema):
    start = fields.Date(allow_none=True)
    end = fields.Date(allow_none=True)
    mode = fields.String(allow_none=True)
    postal_code = fields.String(allow_none=True)


class ValiditySchema(Schema):
    start = fields.Date(required=True)
    end = fields.Date(allow_none=True, metadata={"description": "null: never expires"})


class DigitalResultSchema(Schema):
    domain = fields.Integer(required=True)
    domain_name = fields.String(required=True)
    competence = fields.String(required=True, metadata={"example": "3.4"})
    name = fields.String(required=True)
    level = fields.Integer(required=True, metadata={"description": "DigComp level 1 to 8"})


class DigitalSchema(Schema):
    score = fields.Integer(allow_none=True)
    results = fields.List(fields.Nested(DigitalResultSchema), required=True)


class AccessRouteSchema(Schema):
    route = fields.String(allow_none=True)
    vae_route = fields.String(allow_none=True)
    initiative = fields.String(allow_none=True)
    registered_on = fields.Date(allow_none=True)


class CertificationSchema(Schema):
    """An attested item: a certification passage sent by a certifier."""

    id = fields.Integer(required=True)
    type = fields.String(required=True, metadata={"example": "RNCP"})
    code = fields.String(required=True, metadata={"example": "RNCP37488"})
    title = fields.String(allow_none=True)
    level = fields.String(allow_none=True)
    known_in_referential = fields.Boolean(required=True)
    certifier = fields.Nested(CertifierSchema, required=True)
    obtained_by = fields.String(required=True, metadata={"example": "PAR_ADMISSION"})
    definitive = fields.Boolean(required=True, metadata={
        "description": "false: a provisional result (donneeCertifiee)"})
    status = fields.String(required=True, validate=validate.OneOf(
        ["valide", "expiree", "provisoire", "retiree"]))
    exam = fields.Nested(ExamSchema, required=True)
    validity = fields.Nested(ValiditySchema, required=True)
    mention = fields.String(allow_none=True)
    scoring = fields.String(allow_none=True)
    option = fields.String(allow_none=True)
    language_level = fields.String(allow_none=True, metadata={"description": "CECRL"})
    digital = fields.Nested(DigitalSchema, allow_none=True)
    access = fields.Nested(AccessRouteSchema, required=True)
    proof_url = fields.String(allow_none=True)
    referential = fields.Nested(ReferentialSchema, allow_none=True, metadata={
        "description": "The France compétences sheet (null: a code it does not know)"})
    verbatim = fields.String(allow_none=True)
    hidden = fields.Boolean(required=True)
    withdrawn_at = fields.DateTime(allow_none=True)
    provenance = fields.Nested(ProvenanceSchema, required=True)


class DeclarationSchema(Schema):
    """A declared item, entered by the holder."""

    id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    title = fields.String(required=True)
    organisation = fields.String(allow_none=True)
    location = fields.String(allow_none=True)
    country = fields.String(allow_none=True)
    start_date = fields.Date(allow_none=True)
    end_date = fields.Date(allow_none=True)
    description = fields.String(allow_none=True)
    skills = fields.List(fields.String(), required=True)
    level = fields.String(allow_none=True)
    url = fields.String(allow_none=True)
    hidden = fields.Boolean(required=True)
    provenance = fields.Nested(ProvenanceSchema, required=True)


class DeclarationInSchema(Schema):
    """A new declaration. Kinds: experience, formation (training without a certification),
    diplome (not sent by a certifier, e.g. obtained abroad), competence, langue,
    engagement (volunteering, civic service), autre. Unknown fields are refused."""

    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    title = fields.String(required=True, validate=validate.Length(1, 200))
    organisation = fields.String(allow_none=True, validate=validate.Length(1, 200))
    location = fields.String(allow_none=True, validate=validate.Length(1, 200))
    country = fields.String(allow_none=True, validate=validate.Regexp(
        r"^[A-Z]{2}$", error="ISO 3166-1 alpha-2 code, e.g. FR"))
    start_date = fields.Date(allow_none=True)
    end_date = fields.Date(allow_none=True)
    description = fields.String(allow_none=True, validate=validate.Length(max=5000))
    skills = fields.List(fields.String(validate=validate.Length(1, 100)),
                         validate=validate.Length(max=30))
    level = fields.String(allow_none=True, metadata={
        "description": "langue: A1…C2 (required); competence: debutant, intermediaire, "
                       "avance, expert"})
    url = fields.Url(allow_none=True, schemes={"http", "https"}, validate=validate.Length(max=500))
    hidden = fields.Boolean()

    @validates_schema
    def dates_in_order(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("start_date"), data.get("end_date")
        if start and end and end < start:
            raise ValidationError("must not be before start_date", "end_date")
        for name in ("start_date", "end_date"):
            value = data.get(name)
            if value and value < dt.date(1900, 1, 1):
                raise ValidationError("is before 1900", name)


class DeclarationPatchSchema(DeclarationInSchema):
    """Changes to a declaration (any subset of the fields; the kind cannot change).
    Used with ``partial=True``: absent fields keep their value."""


class CertificationPatchSchema(Schema):
    """What the holder may change on an attested item: only whether it is hidden."""

    hidden = fields.Boolean(required=True)


class ReportInSchema(Schema):
    """An error the holder reports to the certifier."""

    reason = fields.String(required=True, validate=validate.OneOf([r.value for r in ReportReason]))
    comment = fields.String(allow_none=True, validate=validate.Length(1, 2000))

    @validates_schema
    def comment_for_other(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("reason") == "other" and not data.get("comment"):
            raise ValidationError("tell the certifier what is wrong", "comment")


class ReportSchema(Schema):
    """An error report and where it stands."""

    id = fields.Integer(required=True)
    certification_id = fields.Integer(attribute="passage_id", required=True)
    certifier_bcr = fields.String(required=True)
    reason = fields.Function(lambda r: r.reason.value, required=True)
    comment = fields.String(allow_none=True)
    status = fields.Function(lambda r: r.status.value, required=True, metadata={
        "enum": [s.value for s in ReportStatus]})
    certifier_response = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


def page_schema(item: type[Schema], name: str) -> type[Schema]:
    """A paginated section of ``item``."""
    return Schema.from_dict({
        "items": fields.List(fields.Nested(item), required=True),
        "page": fields.Integer(required=True),
        "page_size": fields.Integer(required=True),
        "total": fields.Integer(required=True),
    }, name=name)


CertificationPage = page_schema(CertificationSchema, "CertificationPage")
DeclarationPage = page_schema(DeclarationSchema, "DeclarationPage")


class PassportSchema(Schema):
    """The whole passport: attested and declared items, each section paginated."""

    certifications = fields.Nested(CertificationPage, required=True)
    declarations = fields.Nested(DeclarationPage, required=True)


class PassportQuerySchema(Schema):
    certifications_page = fields.Integer(load_default=1, validate=validate.Range(1, 1_000_000))
    declarations_page = fields.Integer(load_default=1, validate=validate.Range(1, 1_000_000))
    page_size = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    include_withdrawn = fields.Boolean(load_default=False, metadata={
        "description": "Also list items their certifier withdrew (status retiree)"})


class PageQuerySchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(1, 1_000_000))
    page_size = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class CertificationsQuerySchema(PageQuerySchema):
    include_withdrawn = fields.Boolean(load_default=False)


class DeclarationsQuerySchema(PageQuerySchema):
    kind = fields.String(validate=validate.OneOf(KINDS))
