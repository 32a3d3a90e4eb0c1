"""``GET /api/v1/me/journal``: who looked at my passport, and what I changed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from passport.auth.access import current_actor, protect
from passport.auth.models import Role
from passport.db import Page, paginate
from passport.holders.merge import with_merged
from passport.journal.models import JournalEntry
from passport.journal.service import KINDS, THIRD_PARTY
from passport.web.blueprint import Blueprint
from passport.web.db import session

blp = Blueprint("journal", __name__, url_prefix="/api/v1", description="The holder's journal")


class JournalEntrySchema(Schema):
    """One event: a read of my data by someone else, or one of my own actions."""

    seq = fields.Integer(required=True, metadata={"description": "Position in my chain"})
    occurred_at = fields.DateTime(required=True)
    kind = fields.String(required=True, metadata={"enum": sorted(KINDS)})
    label = fields.Function(lambda e: KINDS.get(e.kind, e.kind), required=True)
    actor_type = fields.String(required=True, metadata={
        "enum": ["holder", "advisor", "recipient", "system"]})
    actor_label = fields.String(allow_none=True)
    share_id = fields.Integer(allow_none=True)
    consent_id = fields.Integer(allow_none=True)
    details = fields.Dict(required=True)
    hash = fields.String(required=True, metadata={"description": "Link of the hash chain"})
    former_number = fields.Boolean(dump_default=False, metadata={
        "description": "An entry of the passport of my former number, merged into this one "
                       "(its seq and hash belong to that passport's chain)"})


JournalPage = Schema.from_dict({
    "items": fields.List(fields.Nested(JournalEntrySchema), required=True),
    "page": fields.Integer(required=True),
    "page_size": fields.Integer(required=True),
    "total": fields.Integer(required=True),
}, name="JournalPage")


class JournalQuerySchema(Schema):
    kind = fields.String(validate=validate.OneOf(sorted(KINDS)))
    third_party = fields.Boolean(metadata={
        "description": "Only reads by others (advisors, share recipients)"})
    since = fields.Date()
    until = fields.Date()
    page = fields.Integer(load_default=1, validate=validate.Range(1, 1_000_000))
    page_size = fields.Integer(load_default=50, validate=validate.Range(1, 200))


@blp.route("/me/journal")
class Journal(MethodView):
    """My journal."""

    @protect(scopes=["passport:read"], roles=[Role.HOLDER])
    @blp.arguments(JournalQuerySchema, location="query")
    @blp.response(200, JournalPage)
    def get(self, query: dict[str, Any]) -> Page:
        """Every access to my data by someone else and my own significant actions, newest
        first; filter by kind, by third-party reads, by dates (inclusive)."""
        holder_id = current_actor().own_holder_id()
        chains = with_merged(session(), holder_id)
        select = sa.select(JournalEntry).where(JournalEntry.holder_id.in_(chains))
        if "kind" in query:
            select = select.where(JournalEntry.kind == query["kind"])
        if query.get("third_party"):
            select = select.where(JournalEntry.actor_type.in_(THIRD_PARTY))
        if "since" in query:
            since = dt.datetime.combine(query["since"], dt.time(), dt.UTC)
            select = select.where(JournalEntry.occurred_at >= since)
        if "until" in query:
            until = dt.datetime.combine(query["until"] + dt.timedelta(days=1), dt.time(), dt.UTC)
            select = select.where(JournalEntry.occurred_at < until)
        page = paginate(session(), select, JournalEntry.occurred_at.desc(),
                        JournalEntry.seq.desc(), page=query["page"],
                        page_size=query["page_size"])
        mark_former(page.items, holder_id)
        return page


def mark_former(entries: list[JournalEntry], holder_id: int) -> list[JournalEntry]:
    """Flag the entries of merged passports' chains (``former_number``)."""
    for entry in entries:
        entry.former_number = entry.holder_id != holder_id  # type: ignore[attr-defined]
    return entries
