"""marshmallow schemas of referential data shown in the API (sheets, skills)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class SheetTypeSchema(Schema):
    code = fields.String(required=True, metadata={"example": "BTS"})
    label = fields.String(allow_none=True)


class SheetCertifierSchema(Schema):
    name = fields.String(required=True)
    siret = fields.String(allow_none=True)
    active = fields.Boolean(allow_none=True)


class SheetBlockSchema(Schema):
    code = fields.String(required=True, metadata={"example": "RNCP37488BC01"})
    title = fields.String(required=True)


class SheetRomeSchema(Schema):
    code = fields.String(required=True, metadata={"example": "M1810"})
    label = fields.String(allow_none=True, metadata={"description": "ROME 4.0 label"})
    domain_only = fields.Boolean(required=True, metadata={
        "description": "Not a ROME 4.0 job: only its professional domain is known"})
    domain = fields.String(allow_none=True)


class ReferentialSchema(Schema):
    """What France compétences says of the certification (null: a code it does not know)."""

    numero = fields.String(required=True)
    title = fields.String(required=True)
    repertoire = fields.String(required=True, validate=validate.OneOf(["RNCP", "RS"]))
    type = fields.Nested(SheetTypeSchema, allow_none=True)
    eqf_level = fields.Integer(allow_none=True, metadata={"description": "EQF level 1 to 8"})
    status = fields.String(required=True, validate=validate.OneOf(
        ["active", "inactive", "replaced"]))
    active = fields.Boolean(required=True)
    replaced_by = fields.List(fields.String(), required=True)
    replaces = fields.List(fields.String(), required=True)
    registration_end = fields.Date(allow_none=True)
    delivery_deadline = fields.Date(allow_none=True)
    certifiers = fields.List(fields.Nested(SheetCertifierSchema), required=True)
    blocks = fields.List(fields.Nested(SheetBlockSchema), required=True, metadata={
        "description": "Skill blocs (for the passage's option when the sheet has options)"})
    rome = fields.List(fields.Nested(SheetRomeSchema), required=True)
    export_date = fields.Date(allow_none=True)
    source = fields.String(required=True, validate=validate.OneOf(["xml", "csv"]))


class ChainStepSchema(Schema):
    step = fields.String(required=True, validate=validate.OneOf(
        ["certification", "option", "bloc", "rome", "item", "digcomp", "declaration"]))
    code = fields.String(allow_none=True)
    label = fields.String(allow_none=True)
    detail = fields.String(allow_none=True)


class ChainSchema(Schema):
    """How one skill was obtained, step by step, and in words."""

    steps = fields.List(fields.Nested(ChainStepSchema), required=True)
    text = fields.String(required=True, metadata={
        "example": "RNCP37488 → ROME M1810 (principale) → compétence 109971"})
    certification_id = fields.Integer(allow_none=True)
    declaration_id = fields.Integer(allow_none=True)


class TreeNodeSchema(Schema):
    code = fields.String(required=True, allow_none=True, metadata={
        "description": "Null when the referential names the node without a code"})
    label = fields.String(allow_none=True)


class SkillSchema(Schema):
    """A skill of the holder, with every chain that produced it."""

    label = fields.String(required=True)
    source = fields.String(required=True, validate=validate.OneOf(
        ["rncp_bloc", "rs_capacity", "rome", "digcomp", "cecrl", "declared"]))
    attestation = fields.String(required=True, validate=validate.OneOf(
        ["garanti", "infere", "declare"]), metadata={
        "description": "garanti: stated by the certification's sheet or the certifier's "
                       "data; infere: inferred through ROME job codes; declare: declared by "
                       "the holder"})
    kind = fields.String(allow_none=True, metadata={
        "description": "ROME: savoir_faire, savoir_etre or savoir"})
    principal = fields.Boolean(allow_none=True, metadata={
        "description": "ROME: a core skill of the job (Principale)"})
    emerging = fields.Boolean(allow_none=True)
    code_ogr = fields.Integer(allow_none=True)
    macro = fields.Nested(TreeNodeSchema, allow_none=True)
    domain = fields.Nested(TreeNodeSchema, allow_none=True)
    enjeu = fields.Nested(TreeNodeSchema, allow_none=True)
    objectif = fields.Nested(TreeNodeSchema, allow_none=True)
    level = fields.String(allow_none=True)
    text = fields.String(allow_none=True, metadata={
        "description": "The raw text, when the sheet's list could not be split"})
    chains = fields.List(fields.Nested(ChainSchema), required=True)


class ReferentialVersionSchema(Schema):
    version = fields.String(required=True)
    export_date = fields.Date(allow_none=True)
    imported_at = fields.DateTime(required=True)
    source = fields.String(required=True)


class SkillsSchema(Schema):
    """My skills and the referential versions used."""

    referentials = fields.Dict(keys=fields.String(),
                               values=fields.Nested(ReferentialVersionSchema), required=True)
    skills = fields.List(fields.Nested(SkillSchema), required=True)
    certifications_unknown = fields.List(fields.String(), required=True, metadata={
        "description": "Codes of my certifications the loaded referentials do not know"})


class SkillsQuerySchema(Schema):
    source = fields.String(validate=validate.OneOf(
        ["rncp_bloc", "rs_capacity", "rome", "digcomp", "cecrl", "declared"]))
    include_hidden = fields.Boolean(load_default=False, metadata={
        "description": "Also the skills of items I hid"})
