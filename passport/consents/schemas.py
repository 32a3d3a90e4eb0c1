"""marshmallow schemas of consents, consent requests, receipts and the advisor API."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema
from stdnum.fr import siret

from passport.consents.models import PURPOSES, SECTIONS
from passport.records import schemas as records

Sections = fields.List(fields.String(validate=validate.OneOf(SECTIONS)), required=True,
                       validate=validate.Length(1, len(SECTIONS)),
                       metadata={"description": "certifications, declarations, cv"})
Duration = fields.Integer(required=True, validate=validate.Range(1, 365),
                          metadata={"description": "From 1 day to 1 year"})


def _purpose_text(data: dict[str, Any]) -> None:
    if data.get("purpose") == "autre" and not data.get("purpose_text"):
        raise ValidationError("say what the purpose is", "purpose_text")


class ConsentInSchema(Schema):
    """A consent I give to an advisor organisation (optionally one named advisor)."""

    organisation_siret = fields.String(required=True, metadata={"example": "73282932000074"})
    advisor_email = fields.Email(allow_none=True, validate=validate.Length(max=320), metadata={
        "description": "Only this advisor of the organisation (default: any of them)"})
    sections = Sections
    purpose = fields.String(required=True, validate=validate.OneOf(PURPOSES))
    purpose_text = fields.String(allow_none=True, validate=validate.Length(1, 500))
    duration_days = Duration

    @validates("organisation_siret")
    def valid_siret(self, value: str, **_: Any) -> None:
        if not siret.is_valid(value):
            raise ValidationError("not a valid SIRET (14 digits, Luhn key)")

    @validates_schema
    def purpose_text_for_other(self, data: dict[str, Any], **_: Any) -> None:
        _purpose_text(data)


class ConsentSchema(Schema):
    """A consent and where it stands."""

    id = fields.Integer(required=True)
    organisation_siret = fields.String(required=True)
    advisor_email = fields.String(allow_none=True)
    sections = fields.List(fields.String(), required=True)
    purpose = fields.String(required=True)
    purpose_text = fields.String(allow_none=True)
    given_via = fields.String(required=True, validate=validate.OneOf(["holder",
                                                                      "advisor_request"]))
    starts_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)
    revoked_at = fields.DateTime(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(
        ["active", "expired", "revoked", "scheduled"]))
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class ConsentPatchSchema(Schema):
    """Renew a consent for ``duration_days`` from now."""

    duration_days = Duration


class ReceiptSchema(Schema):
    """A consent receipt as issued (Kantara CR v1.1 fields and ISO/IEC TS 27560 event)."""

    id = fields.String(required=True)
    consent_id = fields.Integer(allow_none=True)
    request_id = fields.Integer(allow_none=True)
    event = fields.String(required=True, validate=validate.OneOf(
        ["granted", "renewed", "refused", "revoked"]))
    created_at = fields.DateTime(required=True)
    document = fields.Dict(required=True)


class ConsentCodeSchema(Schema):
    """A one-time code to read to my advisor (valid 15 minutes)."""

    code = fields.String(required=True, metadata={"example": "7K2Q-M9XT"})
    expires_at = fields.DateTime(required=True)
    request_id = fields.Integer(required=True)


#: Where an advisor's request stands (``expired``: not decided within 30 days).
REQUEST_STATUSES = ["pending", "approved", "refused", "expired"]


class ConsentRequestSchema(Schema):
    """An advisor's request, waiting for my decision (or decided)."""

    id = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(REQUEST_STATUSES), metadata={
        "description": "`expired`: not decided within 30 days of the advisor's request"})
    expires_at = fields.DateTime(allow_none=True, metadata={
        "description": "When a request waiting for my decision lapses (null once decided)"})
    organisation_siret = fields.String(allow_none=True)
    advisor_email = fields.String(allow_none=True)
    advisor_name = fields.String(allow_none=True)
    sections = fields.List(fields.String(), allow_none=True)
    purpose = fields.String(allow_none=True)
    purpose_text = fields.String(allow_none=True)
    duration_days = fields.Integer(allow_none=True)
    consent_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class RedeemSchema(Schema):
    """The holder's one-time code, and what the advisor asks for."""

    code = fields.String(required=True, validate=validate.Length(4, 20))
    sections = Sections
    purpose = fields.String(required=True, validate=validate.OneOf(PURPOSES))
    purpose_text = fields.String(allow_none=True, validate=validate.Length(1, 500))
    duration_days = Duration
    named = fields.Boolean(load_default=True, metadata={
        "description": "Ask for myself only (default) rather than for my whole organisation"})

    @validates_schema
    def purpose_text_for_other(self, data: dict[str, Any], **_: Any) -> None:
        _purpose_text(data)


class RedeemedSchema(Schema):
    id = fields.Integer(required=True)
    status = fields.String(required=True)
    sections = fields.List(fields.String(), required=True)
    purpose = fields.String(required=True)
    duration_days = fields.Integer(required=True)


class AdvisorRequestSchema(Schema):
    """A request I made with a holder's code, and where it stands."""

    id = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(REQUEST_STATUSES), metadata={
        "description": "`expired`: the holder did not decide within 30 days"})
    expires_at = fields.DateTime(allow_none=True, metadata={
        "description": "When the request lapses if the holder has not decided (pending only)"})
    sections = fields.List(fields.String(), required=True)
    purpose = fields.String(required=True)
    purpose_text = fields.String(allow_none=True)
    duration_days = fields.Integer(required=True)
    named = fields.Boolean(required=True, metadata={
        "description": "Asked for me alone (else for my whole organisation)"})
    consent_reference = fields.String(allow_none=True, metadata={
        "description": "Approved: the consent's reference (GET /advisor/holders/{reference}/"
                       "passport while it lasts)"})
    consent_status = fields.String(allow_none=True, validate=validate.OneOf(
        ["active", "expired", "revoked", "scheduled"]), metadata={
            "description": "Approved: whether the consent still lasts (`revoked`: the holder "
                           "withdrew it)"})
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class AdvisorHolderSchema(Schema):
    """A holder whose consent covers me, under the consent's opaque reference."""

    reference = fields.String(required=True, metadata={
        "description": "Opaque, per consent; never a NIR"})
    name = fields.String(allow_none=True)
    sections = fields.List(fields.String(), required=True)
    purpose = fields.String(required=True)
    purpose_text = fields.String(allow_none=True)
    expires_at = fields.DateTime(required=True)


class AdvisorPassportSchema(Schema):
    """The consented sections of a passport (null: not consented)."""

    reference = fields.String(required=True)
    name = fields.String(allow_none=True)
    sections = fields.List(fields.String(), required=True)
    consent_expires_at = fields.DateTime(required=True)
    certifications = fields.Nested(records.CertificationPage, allow_none=True)
    declarations = fields.Nested(records.DeclarationPage, allow_none=True)

