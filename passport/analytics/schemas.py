"""marshmallow schemas of the analytics API."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate

from passport.analytics.service import GROUPS, WINDOWS, Query

_YEAR = re.compile(r"(\d{4})(-\d{2}-\d{2})?")


def _year(value: str | None, edge: str, name: str) -> int | None:
    """``YYYY``, or a date on the year's edge (periods are whole exit years)."""
    if value is None:
        return None
    found = _YEAR.fullmatch(value)
    if found is None:
        raise ValidationError(f"expected a year (YYYY) or a date YYYY{edge}", name)
    if found.group(2) and found.group(2) != edge:
        raise ValidationError(
            f"periods are whole exit years (disclosure control): use YYYY or YYYY{edge}, "
            f"not {value}", name)
    return int(found.group(1))


class SuccessRatesQuerySchema(Schema):
    certification = fields.String(validate=validate.Regexp(r"^(RNCP|RS)\d{1,6}$"), metadata={
        "description": "Only the files preparing this certification", "example": "RNCP37488"})
    organisation = fields.String(validate=validate.Regexp(r"^\d{14}$"), metadata={
        "description": "Only the files of this training organisation (SIRET)"})
    from_ = fields.String(data_key="from", metadata={
        "description": "First exit year (YYYY or YYYY-01-01); default: the last ten years"})
    to = fields.String(metadata={"description": "Last exit year (YYYY or YYYY-12-31)"})
    group_by = fields.String(load_default="certification", validate=validate.OneOf(GROUPS))
    window_months = fields.Integer(load_default=12, validate=validate.OneOf(WINDOWS), metadata={
        "description": "An award counts when it comes at most this many months after the exit"})

    @post_load
    def _query(self, data: dict[str, Any], **_: Any) -> Query:
        return Query(group_by=data["group_by"], certification=data.get("certification"),
                     organisation=data.get("organisation"),
                     year_from=_year(data.get("from_"), "-01-01", "from"),
                     year_to=_year(data.get("to"), "-12-31", "to"),
                     window_months=data["window_months"])


class IntervalSchema(Schema):
    low = fields.Float(required=True)
    high = fields.Float(required=True)
    level = fields.Float(required=True)
    method = fields.String(required=True)


class DelaySchema(Schema):
    q1 = fields.Integer(allow_none=True)
    median = fields.Integer(allow_none=True)
    q3 = fields.Integer(allow_none=True)


class FiguresSchema(Schema):
    suppressed = fields.Boolean(required=True, metadata={
        "description": "Statistical disclosure control hid this cell's figures"})
    cohort = fields.Integer(allow_none=True, metadata={
        "description": "Finished (TERMINE) training files whose exit falls in the period"})
    successes = fields.Integer(allow_none=True)
    rate = fields.Float(allow_none=True)
    interval = fields.Nested(IntervalSchema, allow_none=True)
    abandoned = fields.Integer(allow_none=True, metadata={
        "description": "Abandoned files (null also when under the threshold)"})
    abandonment_rate = fields.Float(allow_none=True, metadata={
        "description": "abandoned / (cohort + abandoned)"})
    delay_months = fields.Nested(DelaySchema, allow_none=True, metadata={
        "description": "Months from exit to award among the successes (0: by the exit)"})


class RowSchema(FiguresSchema):
    group = fields.Dict(required=True)
    suppression = fields.String(allow_none=True, validate=validate.OneOf(
        ["primary", "secondary"]))


class SuccessRatesSchema(Schema):
    parameters = fields.Dict(required=True)
    min_cell = fields.Integer(required=True)
    rows = fields.List(fields.Nested(RowSchema), required=True)
    total = fields.Nested(FiguresSchema, required=True)
    refreshed_at = fields.DateTime(allow_none=True, metadata={
        "description": "Last full refresh of the aggregates"})
    updated_at = fields.DateTime(allow_none=True, metadata={
        "description": "Last change of the aggregates (full or incremental refresh)"})
