"""``/api/v1/me/credentials/{id}`` (a holder's Open Badge) and the public documents that
let anyone verify it: ``/credentials/issuer`` and ``/credentials/status/{list}``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint as FlaskBlueprint
from flask import Response, current_app, jsonify
from flask.views import MethodView

from passport.auth.access import current_actor, protect
from passport.auth.models import Role
from passport.consents.service import holder_name
from passport.credentials import service
from passport.web.blueprint import Blueprint
from passport.web.db import session, transactional

blp = Blueprint("credentials", __name__, url_prefix="/api/v1",
                description="Open Badges 3.0 credentials of attested items")
public = FlaskBlueprint("credential_documents", __name__)


def _settings_and_keys() -> tuple[Any, Any]:
    return current_app.config["PASSPORT_SETTINGS"], current_app.extensions["passport.keys"]


@blp.route("/me/credentials/<int:certification_id>")
class Credential(MethodView):
    """An attested item as a portable credential."""

    @protect(scopes=["passport:read"], roles=[Role.HOLDER], objects="own attested item")
    @blp.response(200, description="``jwt`` (the VC-JWT, ES256, kid of our JWKS) and the "
                                   "``credential`` it carries (OpenBadgeCredential)")
    @blp.alt_response(409, description="A provisional result (``provisional_result``): no "
                                       "credential until the certifier confirms it")
    @transactional
    def get(self, certification_id: int) -> dict[str, Any]:
        """A signed Open Badges 3.0 ``OpenBadgeCredential`` for one of my visible attested
        items (definitive results only), with its achievement (type, code, title, EQF
        level, skill blocks) and a Bitstring Status List entry: once the certifier
        withdraws the item, verifiers read it as revoked."""
        settings, keys = _settings_and_keys()
        db = session()
        holder_id = current_actor().own_holder_id()
        return service.credential(db, settings, keys, holder_id, certification_id,
                                  holder_name=holder_name(db, holder_id))


@public.get("/credentials/issuer")
def issuer() -> Response:
    """Our issuer profile (public)."""
    settings, _ = _settings_and_keys()
    response = jsonify(service.issuer_profile(settings))
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@public.get("/credentials/status/<int:list_id>")
def status_list(list_id: int) -> Response:
    """A status list credential (a JWT; public, cached five minutes): anyone downloads the
    whole list, so we never learn which credential is being checked."""
    settings, keys = _settings_and_keys()
    token = service.status_list(session(), settings, keys, list_id)
    return Response(token, content_type="application/vc+jwt", headers={
        "Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"})
