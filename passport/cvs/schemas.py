"""marshmallow schemas of the CV API."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, post_load, validate

from passport.cvs.content import FORMATS, LANGUAGES, TEMPLATES, CvRequest
from passport.web.converters import object_id


class ContactSchema(Schema):
    name = fields.String(validate=validate.Length(1, 120), metadata={
        "description": "The name to print (default: the one of the identity directory)"})
    email = fields.Email()
    phone = fields.String(validate=validate.Regexp(r"^\+?[0-9 .()-]{6,25}$"))
    city = fields.String(validate=validate.Length(1, 100))
    url = fields.Url(schemes={"https"})


class CvOptionsSchema(Schema):
    format = fields.String(load_default="pdf", validate=validate.OneOf(FORMATS))
    template = fields.String(load_default="classique", validate=validate.OneOf(TEMPLATES))
    language = fields.String(load_default="fr", validate=validate.OneOf(LANGUAGES))

    @post_load
    def _request(self, data: dict[str, Any], **_: Any) -> CvRequest:
        return CvRequest(**data)


class CvCreateSchema(CvOptionsSchema):
    certifications = fields.List(object_id(), validate=validate.Length(max=500),
                                 metadata={"description": "Attested items to include "
                                           "(ids); default: every visible one"})
    declarations = fields.List(object_id(), validate=validate.Length(max=500),
                               metadata={"description": "Declared items to include (ids); "
                                         "default: every visible one"})
    headline = fields.String(validate=validate.Length(1, 140))
    summary = fields.String(validate=validate.Length(1, 2000))
    contact = fields.Nested(ContactSchema, load_default=dict)


class CvSchema(Schema):
    id = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    format = fields.String(required=True)
    template = fields.String(required=True)
    language = fields.String(required=True)
    attested_items = fields.Integer(required=True)
    declared_items = fields.Integer(required=True)
    file_name = fields.String(required=True)
    media_type = fields.String(required=True)
    size_bytes = fields.Integer(required=True)
