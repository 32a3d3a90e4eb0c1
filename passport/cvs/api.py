"""``/api/v1/me/cvs`` (the holder) and ``/api/v1/advisor/holders/{reference}/cv``."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, url_for
from flask.views import MethodView

from passport.auth.access import current_actor, protect
from passport.auth.models import Role
from passport.cvs import schemas, service
from passport.cvs.content import CvRequest
from passport.web.blueprint import Blueprint
from passport.web.db import session, transactional

blp = Blueprint("cvs", __name__, url_prefix="/api/v1", description="CVs from the passport")
READ: dict[str, Any] = {"scopes": ["passport:read"], "roles": [Role.HOLDER]}
ADVISOR: dict[str, Any] = {"scopes": ["advisor:read"], "roles": [Role.ADVISOR]}


def context() -> service.CvContext:
    return service.CvContext(current_app.config["PASSPORT_SETTINGS"],
                             current_app.extensions["passport.sealer"])


def _download(content: bytes, media_type: str, file_name: str) -> Response:
    return Response(content, content_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{file_name}"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        # An HTML CV opened from the API runs nothing and loads nothing.
        "Content-Security-Policy": "default-src 'none'; img-src data:; "
                                   "style-src 'unsafe-inline'"})


@blp.route("/me/cvs")
class Cvs(MethodView):
    """My CVs."""

    @protect(**READ)
    @blp.response(200, schemas.CvSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """My last CVs (the 20 most recent are kept), newest first."""
        return service.listing(session(), current_actor())

    @protect(**READ)
    @blp.arguments(schemas.CvCreateSchema)
    @blp.response(201, schemas.CvSchema, headers={"Location": {
        "description": "Where to fetch the document", "schema": {"type": "string"}}})
    @transactional
    def post(self, request: CvRequest) -> Any:
        """Make a CV: PDF (sealed, PAdES), accessible HTML or JSON Resume, in French or
        English, in one of two designs, from the items I choose (default: every visible
        one). Attested lines carry their verification code; declared ones say so. The
        document is fetched at ``Location``."""
        created = service.create(session(), context(), current_actor(), request)
        location = url_for("cvs.Cv", cv_id=created["id"])
        return created, 201, {"Location": location}


@blp.route("/me/cvs/<int:cv_id>")
class Cv(MethodView):
    """One of my CVs."""

    @protect(**READ, objects="own CV")
    @blp.response(200, description="The document (application/pdf, text/html or JSON Resume)")
    def get(self, cv_id: int) -> Response:
        """The CV as it was generated (a sealed PDF is kept byte for byte)."""
        doc = service.document(session(), current_actor(), cv_id)
        return _download(doc.content, doc.media_type, doc.file_name)


@blp.route("/advisor/holders/<string:reference>/cv")
class AdvisorCv(MethodView):
    """A consenting holder's CV, for their advisor."""

    @protect(**ADVISOR, objects="consent reference")
    @blp.arguments(schemas.CvOptionsSchema, location="query")
    @blp.response(200, description="The document")
    @transactional
    def get(self, request: CvRequest, reference: str) -> Response:
        """The holder's CV from their visible items (no contact details), when their
        consent covers me and its ``cv`` section; else 404. The holder's journal shows it."""
        content, media_type, file_name = service.for_advisor(
            session(), context(), current_actor(), reference, request)
        return _download(content, media_type, file_name)
