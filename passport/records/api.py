"""The holder's passport: ``/api/v1/me/passport…`` and ``/api/v1/me/declarations…``."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from passport.auth.access import current_actor, protect
from passport.auth.models import Role
from passport.records import schemas, service
from passport.records.export import ExportSchema, export
from passport.web.blueprint import Blueprint
from passport.web.db import session, transactional

blp = Blueprint("passport", __name__, url_prefix="/api/v1",
                description="The holder's passport: attested and declared items")
READ: dict[str, Any] = {"scopes": ["passport:read"], "roles": [Role.HOLDER]}
WRITE: dict[str, Any] = {"scopes": ["passport:write"], "roles": [Role.HOLDER]}


@blp.route("/me/passport")
class Passport(MethodView):
    """The whole passport."""

    @protect(**READ)
    @blp.arguments(schemas.PassportQuerySchema, location="query")
    @blp.response(200, schemas.PassportSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Attested items ("garanti", from certifiers) beside declared ones ("declare", from
        the holder), each with its provenance; each section paginated."""
        return service.passport(session(), current_actor(), **query)


@blp.route("/me/passport/certifications")
class Certifications(MethodView):
    """Attested items."""

    @protect(**READ)
    @blp.arguments(schemas.CertificationsQuerySchema, location="query")
    @blp.response(200, schemas.CertificationPage)
    def get(self, query: dict[str, Any]) -> service.Page:
        """The attested items, newest validity first (withdrawn ones on request)."""
        return service.certifications(session(), current_actor().own_holder_id(), **query)


@blp.route("/me/passport/certifications/<int:certification_id>")
class CertificationItem(MethodView):
    """One attested item."""

    @protect(**READ, objects="own certification")
    @blp.etag
    @blp.response(200, schemas.CertificationSchema)
    def get(self, certification_id: int) -> dict[str, Any]:
        """One attested item of my passport."""
        return service.certification(session(), current_actor(), certification_id)

    @protect(**WRITE, objects="own certification")
    @blp.etag
    @blp.arguments(schemas.CertificationPatchSchema)
    @blp.response(200, schemas.CertificationSchema)
    @transactional
    def patch(self, changes: dict[str, Any], certification_id: int) -> dict[str, Any]:
        """Hide an attested item from shares and CVs by default, or show it again.
        Needs ``If-Match`` with the item's ETag (412 when it changed meanwhile)."""
        current = service.certification(session(), current_actor(), certification_id,
                                        for_update=True)
        blp.check_etag(current, schemas.CertificationSchema)
        return service.set_hidden(session(), current_actor(), certification_id,
                                  changes["hidden"])


@blp.route("/me/passport/certifications/<int:certification_id>/reports")
class CertificationReports(MethodView):
    """Errors the holder reports on an attested item."""

    @protect(**READ, objects="own certification")
    @blp.response(200, schemas.ReportSchema(many=True))
    def get(self, certification_id: int) -> list[Any]:
        """My reports on this item and where they stand."""
        return service.reports(session(), current_actor(), certification_id)

    @protect(**WRITE, objects="own certification")
    @blp.arguments(schemas.ReportInSchema)
    @blp.response(201, schemas.ReportSchema)
    @transactional
    def post(self, data: dict[str, Any], certification_id: int) -> Any:
        """Report an error to the certifier (wrong name, wrong date, not mine, other)."""
        return service.file_report(session(), current_actor(), certification_id,
                                   data["reason"], data.get("comment"))


@blp.route("/me/declarations")
class Declarations(MethodView):
    """Declared items."""

    @protect(**READ)
    @blp.arguments(schemas.DeclarationsQuerySchema, location="query")
    @blp.response(200, schemas.DeclarationPage)
    def get(self, query: dict[str, Any]) -> service.Page:
        """My declared items, most recent first; filter by ``kind``."""
        return service.declarations(session(), current_actor().own_holder_id(), **query)

    @protect(**WRITE)
    @blp.arguments(schemas.DeclarationInSchema)
    @blp.response(201, schemas.DeclarationSchema)
    @transactional
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Declare an experience, a training, a diploma, a skill, a language, an engagement
        or anything else. It is shown as declared by me, never as attested."""
        return service.create_declaration(session(), current_actor(), data)


@blp.route("/me/declarations/<int:declaration_id>")
class DeclarationItem(MethodView):
    """One declared item."""

    @protect(**READ, objects="own declaration")
    @blp.etag
    @blp.response(200, schemas.DeclarationSchema)
    def get(self, declaration_id: int) -> dict[str, Any]:
        """One of my declarations (with its ETag)."""
        return service.declaration(session(), current_actor(), declaration_id)

    @protect(**WRITE, objects="own declaration")
    @blp.etag
    @blp.arguments(schemas.DeclarationPatchSchema(partial=True))
    @blp.response(200, schemas.DeclarationSchema)
    @transactional
    def patch(self, changes: dict[str, Any], declaration_id: int) -> dict[str, Any]:
        """Change a declaration. Needs ``If-Match`` with its ETag (412 when stale)."""
        current = service.declaration(session(), current_actor(), declaration_id,
                                      for_update=True)
        blp.check_etag(current, schemas.DeclarationSchema)
        return service.update_declaration(session(), current_actor(), declaration_id, changes)

    @protect(**WRITE, objects="own declaration")
    @blp.etag
    @blp.response(204)
    @transactional
    def delete(self, declaration_id: int) -> None:
        """Delete a declaration. Needs ``If-Match`` with its ETag."""
        current = service.declaration(session(), current_actor(), declaration_id,
                                      for_update=True)
        blp.check_etag(current, schemas.DeclarationSchema)
        service.delete_declaration(session(), current_actor(), declaration_id)


@blp.route("/me/export")
class Export(MethodView):
    """Everything held about me."""

    @protect(scopes=["passport:read"], roles=[Role.HOLDER])
    @blp.response(200, ExportSchema)
    @transactional
    def get(self) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Download everything held about me (GDPR access and portability): identity data,
        my NIR (only here), certifications with their provenance, declarations, reports,
        shares, consents and my journal, as one JSON document (format passport-export v1)."""
        from flask import current_app

        from passport.nir import NirVault

        data = export(session(), current_actor(), NirVault(current_app.config["PASSPORT_SETTINGS"]))
        name = f"passeport-export-{data['generated_at']:%Y%m%d}.json"
        return data, 200, {"Content-Disposition": f'attachment; filename="{name}"',
                           "Cache-Control": "no-store"}
