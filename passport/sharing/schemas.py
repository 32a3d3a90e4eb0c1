"""marshmallow schemas of shares (holder side, recipient side) and of verification."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from passport.records import schemas as records
from passport.referentials.schemas import ReferentialSchema
from passport.sharing.service import DEFAULT_DAYS, MASKABLE, MAX_DAYS
from passport.web.converters import object_id

ITEM_KINDS = sorted(MASKABLE)
ALL_MASKABLE = sorted({f for names in MASKABLE.values() for f in names})


class ShareItemInSchema(Schema):
    """One item to share, and the fields to hide from the recipient."""

    kind = fields.String(required=True, validate=validate.OneOf(ITEM_KINDS), metadata={
        "description": "certification (attested, from a certifier) or declaration (mine)"})
    id = object_id(required=True)
    masked_fields = fields.List(fields.String(validate=validate.OneOf(ALL_MASKABLE)),
                                load_default=list, metadata={
        "description": "certification: " + ", ".join(MASKABLE["certification"])
                       + "; declaration: " + ", ".join(MASKABLE["declaration"])})


class ShareItemSchema(ShareItemInSchema):
    pass


def _one_expiry(data: dict[str, Any]) -> None:
    if data.get("expires_at") is not None and data.get("expires_in_days") is not None:
        raise ValidationError("give expires_at or expires_in_days, not both", "expires_at")


class ShareInSchema(Schema):
    """A new share: chosen items (or every visible one), how long, how many views, and an
    optional access code the recipient must type."""

    items = fields.List(fields.Nested(ShareItemInSchema), load_default=list,
                        validate=validate.Length(max=200))
    all_visible = fields.Boolean(load_default=False, metadata={
        "description": "Also share every item not hidden (attested and declared)"})
    label = fields.String(allow_none=True, validate=validate.Length(1, 200),
                          metadata={"example": "Candidature chez Dupont SA"})
    shown_name = fields.String(allow_none=True, validate=validate.Length(1, 200), metadata={
        "description": "My name as the recipient sees it (default: my login's name)"})
    expires_at = fields.AwareDateTime(allow_none=True, default_timezone=None)
    expires_in_days = fields.Integer(allow_none=True, validate=validate.Range(1, MAX_DAYS),
                                     metadata={"description": f"Default {DEFAULT_DAYS}"})
    max_views = fields.Integer(allow_none=True, validate=validate.Range(1, 10_000))
    access_code = fields.String(allow_none=True, validate=validate.Length(4, 64),
                                load_only=True, metadata={
        "description": "A code the recipient must type; give it to them another way"})

    @validates_schema
    def one_expiry(self, data: dict[str, Any], **_: Any) -> None:
        _one_expiry(data)


class SharePatchSchema(Schema):
    """Extend or shorten a share, rename it, change its view limit or access code
    (``access_code: null`` removes it)."""

    label = fields.String(allow_none=True, validate=validate.Length(1, 200))
    shown_name = fields.String(allow_none=True, validate=validate.Length(1, 200))
    expires_at = fields.AwareDateTime()
    expires_in_days = fields.Integer(validate=validate.Range(1, MAX_DAYS))
    max_views = fields.Integer(allow_none=True, validate=validate.Range(1, 10_000))
    access_code = fields.String(allow_none=True, validate=validate.Length(4, 64))

    @validates_schema
    def one_expiry(self, data: dict[str, Any], **_: Any) -> None:
        _one_expiry(data)


class ShareSchema(Schema):
    """A share as its holder sees it, with its link."""

    id = fields.Integer(required=True)
    label = fields.String(allow_none=True)
    shown_name = fields.String(allow_none=True)
    url = fields.String(required=True, metadata={"description": "The page to send"})
    token = fields.String(required=True, metadata={
        "description": "192-bit random token (the JSON view: /api/v1/shares/{token})"})
    expires_at = fields.DateTime(required=True)
    max_views = fields.Integer(allow_none=True)
    view_count = fields.Integer(required=True)
    access_code_required = fields.Boolean(required=True)
    status = fields.String(required=True, validate=validate.OneOf(
        ["active", "expired", "revoked", "exhausted"]))
    revoked_at = fields.DateTime(allow_none=True)
    items = fields.List(fields.Nested(ShareItemSchema), required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class VerificationSchema(Schema):
    code = fields.String(required=True, metadata={"example": "7K2QD-M9XTR"})
    url = fields.String(required=True)
    jws = fields.String(required=True, metadata={
        "description": "ES256 JWS over the item's facts; keys at /.well-known/jwks.json"})


class SharedItemSchema(Schema):
    """A shared item. ``attestation`` tells who stands behind it: ``garanti`` (its
    certifier attests it; it carries a verification code and a signed attestation) or
    ``declare`` (the holder declared it; nobody checked it). Masked fields are absent."""

    kind = fields.String(required=True, validate=validate.OneOf(ITEM_KINDS))
    attestation = fields.String(required=True, validate=validate.OneOf(["garanti", "declare"]))
    masked_fields = fields.List(fields.String(), required=True)
    # attested items
    attested_by = fields.Nested(records.CertifierSchema)
    type = fields.String()
    code = fields.String()
    level = fields.String(allow_none=True)
    known_in_referential = fields.Boolean()
    certifier = fields.Nested(records.CertifierSchema)
    obtained_by = fields.String()
    definitive = fields.Boolean()
    status = fields.String(metadata={"description": "Of the certification, not of the share"})
    exam = fields.Nested(records.ExamSchema)
    validity = fields.Nested(records.ValiditySchema, metadata={
        "description": "Validity of the certification (not of the share)"})
    mention = fields.String(allow_none=True)
    scoring = fields.String(allow_none=True)
    option = fields.String(allow_none=True)
    language_level = fields.String(allow_none=True)
    digital = fields.Nested(records.DigitalSchema, allow_none=True)
    proof_url = fields.String(allow_none=True)
    referential = fields.Nested(ReferentialSchema, allow_none=True)
    verification = fields.Nested(VerificationSchema)
    # declared items
    declared_by = fields.String(metadata={"enum": ["holder"]})
    declaration_kind = fields.String(validate=validate.OneOf(records.KINDS))
    title = fields.String(allow_none=True)
    organisation = fields.String(allow_none=True)
    location = fields.String(allow_none=True)
    country = fields.String(allow_none=True)
    start_date = fields.Date(allow_none=True)
    end_date = fields.Date(allow_none=True)
    description = fields.String(allow_none=True)
    skills = fields.List(fields.String())
    url = fields.String(allow_none=True)


class SharedSchema(Schema):
    """What a recipient sees."""

    label = fields.String(allow_none=True)
    shared_by = fields.String(allow_none=True)
    expires_at = fields.DateTime(required=True, metadata={
        "description": "When this link stops working (not a certification's validity)"})
    views_left = fields.Integer(allow_none=True)
    items = fields.List(fields.Nested(SharedItemSchema), required=True)


class FactsSchema(Schema):
    """The canonical facts of an attested item (the ``item`` claim of its JWS)."""

    type = fields.String(required=True)
    code = fields.String(required=True)
    title = fields.String(allow_none=True)
    level = fields.String(allow_none=True)
    certifier = fields.Nested(records.CertifierSchema, required=True)
    obtained_by = fields.String(required=True)
    definitive = fields.Boolean(required=True)
    validity = fields.Dict(required=True)


class VerifiedSchema(Schema):
    """The answer of a verification: authentic, still valid, not withdrawn."""

    code = fields.String(required=True)
    authentic = fields.Boolean(required=True, metadata={
        "description": "The code belongs to an item a certifier sent us"})
    valid = fields.Boolean(required=True, metadata={
        "description": "Definitive, within its validity and not withdrawn, today"})
    status = fields.String(required=True, validate=validate.OneOf(
        ["valide", "expiree", "provisoire", "retiree"]))
    withdrawn = fields.Boolean(required=True)
    holder_name = fields.String(allow_none=True)
    item = fields.Nested(FactsSchema, required=True)
    checked_at = fields.DateTime(required=True)
    jws = fields.String(required=True)
