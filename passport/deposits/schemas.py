"""marshmallow schemas of the certifier API (deposits, statistics, holders' reports) and
of the public dry-run validator."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from passport.deposits.models import DepositStatus, DryRunStatus
from passport.records.models import ReportReason, ReportStatus

STATUSES = [s.value for s in DepositStatus]
MONTH = validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="YYYY-MM")


class DepositSchema(Schema):
    """A deposit: the acknowledgment of receipt, then where processing stands."""

    id = fields.Integer(required=True, metadata={"description": "idTraitement of the report"})
    file_name = fields.String(required=True)
    size_bytes = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    received_at = fields.DateTime(required=True)
    status = fields.Function(lambda d: d.status.value, required=True,
                             metadata={"enum": STATUSES})
    submitted_by = fields.String(allow_none=True, metadata={"description": "Who uploaded it"})
    emitter_bcr = fields.String(allow_none=True)
    certifier_bcr = fields.String(allow_none=True)
    id_flux = fields.String(allow_none=True)
    action = fields.String(allow_none=True)
    passages_total = fields.Integer(required=True)
    passages_ok = fields.Integer(required=True)
    passages_ko = fields.Integer(required=True)
    warnings_count = fields.Integer(required=True)
    error_code = fields.String(allow_none=True)
    error_message = fields.String(allow_none=True)
    attempts = fields.Integer(required=True)
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    report_url = fields.Function(
        lambda d: f"/api/v1/certifier/deposits/{d.id}/report" if d.status.is_final else None,
        allow_none=True)


DepositPage = Schema.from_dict({
    "items": fields.List(fields.Nested(DepositSchema), required=True),
    "page": fields.Integer(required=True),
    "page_size": fields.Integer(required=True),
    "total": fields.Integer(required=True),
}, name="DepositPage")


class DepositQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    received_from = fields.Date(metadata={"description": "Inclusive, UTC"})
    received_to = fields.Date(metadata={"description": "Inclusive, UTC"})
    page = fields.Integer(load_default=1, validate=validate.Range(1, 1_000_000))
    page_size = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class ReportQuerySchema(Schema):
    format = fields.String(validate=validate.OneOf(["xml", "json"]), metadata={
        "description": "Instead of the Accept header"})


class StatsQuerySchema(Schema):
    month_from = fields.String(data_key="from", validate=MONTH)
    month_to = fields.String(data_key="to", validate=MONTH)
    certification = fields.String(metadata={"example": "RNCP34762"})


class KoSchema(Schema):
    nirisation = fields.Integer(required=True, metadata={
        "description": "No single holder found from the identity data"})
    duplicate = fields.Integer(required=True)
    rules = fields.Integer(required=True, metadata={"description": "Business rules 1 to 6"})
    other = fields.Integer(required=True)


class StatRowSchema(Schema):
    month = fields.String(required=True, metadata={"example": "2026-11"})
    certification_type = fields.String(required=True)
    certification_code = fields.String(required=True)
    certification_title = fields.String(allow_none=True)
    received = fields.Integer(required=True)
    ok = fields.Integer(required=True)
    ko = fields.Nested(KoSchema, required=True)
    ko_by_code = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class FileStatSchema(Schema):
    month = fields.String(required=True)
    deposits = fields.Integer(required=True)
    rejected = fields.Integer(required=True)
    rejected_by_code = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class StatsSchema(Schema):
    """Passages by certification and month, and files by month."""

    passages = fields.List(fields.Nested(StatRowSchema), required=True)
    files = fields.List(fields.Nested(FileStatSchema), required=True)


class HolderReportSchema(Schema):
    """An error a holder reported on one of my passages."""

    id = fields.Integer(required=True)
    reason = fields.Function(lambda r: r["report"].reason.value, required=True,
                             metadata={"enum": [r.value for r in ReportReason]})
    comment = fields.Function(lambda r: r["report"].comment, allow_none=True)
    status = fields.Function(lambda r: r["report"].status.value, required=True,
                             metadata={"enum": [s.value for s in ReportStatus]})
    certifier_response = fields.Function(lambda r: r["report"].certifier_response,
                                         allow_none=True)
    created_at = fields.Function(lambda r: r["report"].created_at, required=True)
    updated_at = fields.Function(lambda r: r["report"].updated_at, required=True)
    passage = fields.Dict(required=True, metadata={
        "description": "emitter_bcr, id_technique, certification, the holder as you sent it"})


HolderReportPage = Schema.from_dict({
    "items": fields.List(fields.Nested(HolderReportSchema), required=True),
    "page": fields.Integer(required=True),
    "page_size": fields.Integer(required=True),
    "total": fields.Integer(required=True),
}, name="HolderReportPage")


class HolderReportQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf([s.value for s in ReportStatus]))
    page = fields.Integer(load_default=1, validate=validate.Range(1, 1_000_000))
    page_size = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class HolderReportPatchSchema(Schema):
    """Where the report stands, and what the holder will read."""

    status = fields.String(required=True, validate=validate.OneOf(
        [ReportStatus.IN_PROGRESS.value, ReportStatus.HANDLED.value,
         ReportStatus.REJECTED.value]))
    response = fields.String(allow_none=True, validate=validate.Length(1, 2000))


class ValidationProblemSchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    line = fields.Integer(allow_none=True)
    column = fields.Integer(allow_none=True)
    type = fields.String(allow_none=True)


class PassageProblemsSchema(Schema):
    id_technique = fields.String(required=True)
    ok = fields.Boolean(required=True)
    errors = fields.List(fields.Dict(), required=True)
    warnings = fields.List(fields.Dict(), required=True)


class DryRunSchema(Schema):
    """The verdict on a file, nothing stored."""

    file_name = fields.String(required=True)
    schema_valid = fields.Boolean(required=True)
    errors = fields.List(fields.Nested(ValidationProblemSchema), required=True, metadata={
        "description": "File-level problems (bytes, XML, schema) with line and column"})
    passages_total = fields.Integer(required=True)
    passages_ok = fields.Integer(required=True)
    passages_ko = fields.Integer(required=True)
    passages = fields.List(fields.Nested(PassageProblemsSchema), required=True, metadata={
        "description": "Passages with errors or warnings (the first 1,000)"})
    truncated = fields.Boolean(required=True)
    not_checked = fields.List(fields.String(), required=True, metadata={
        "description": "What only filing can check (NIRisation, duplicates, registry)"})


class QueuedDryRunSchema(Schema):
    """A queued dry run (``Prefer: respond-async``): where it stands, then its verdict."""

    url = fields.String(required=True, metadata={
        "description": "Where to poll (the Location of the 202); its token is the only key"})
    status = fields.String(required=True, validate=validate.OneOf(
        [s.value for s in DryRunStatus]), metadata={
        "description": "EN_ATTENTE, EN_COURS, then TERMINE (with the verdict) or ECHEC "
                       "(the check was interrupted again and again: file the deposit, or "
                       "contact support)"})
    file_name = fields.String(required=True)
    size_bytes = fields.Integer(required=True)
    received_at = fields.DateTime(required=True)
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    expires_at = fields.DateTime(required=True, metadata={
        "description": "After this, the verdict is gone (404)"})
    verdict = fields.Nested(DryRunSchema, allow_none=True, metadata={
        "description": "Once TERMINE: the synchronous answer's body"})
