"""``/api/v1/me``: who am I; ``/api/v1/me/sessions``: my logins, which I can end."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields

from passport.auth import service
from passport.auth.access import current_actor, protect
from passport.auth.models import Role
from passport.web.blueprint import Blueprint
from passport.web.db import session, transactional

blp = Blueprint("me", __name__, url_prefix="/api/v1", description="The caller")
PEOPLE = (Role.HOLDER, Role.ADVISOR, Role.ANALYST)


class MeSchema(Schema):
    """Who the caller is."""

    role = fields.String(required=True, metadata={"example": "holder"})
    subject = fields.String(required=True, metadata={"description": "The token's sub"})
    client_id = fields.String(required=True)
    scopes = fields.List(fields.String(), required=True)
    display_name = fields.String(allow_none=True)
    linked = fields.Boolean(allow_none=True, metadata={
        "description": "Holders: whether this login is linked to a passport"})
    link_status = fields.String(allow_none=True, metadata={
        "description": "Why a holder login is not linked: no_match, several_matches, "
                       "inconsistent, incomplete_identity"})
    email = fields.String(allow_none=True)
    siret = fields.String(allow_none=True)
    certifier_bcr = fields.String(allow_none=True)


class SessionSchema(Schema):
    """A login of the caller (a chain of rotating refresh tokens)."""

    id = fields.String(required=True)
    client_id = fields.String(required=True)
    client_name = fields.String(required=True)
    scope = fields.String(required=True)
    started_at = fields.DateTime(required=True)
    last_used_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)
    user_agent = fields.String(allow_none=True)


@blp.route("/me")
class Me(MethodView):
    """The caller."""

    @protect()
    @blp.response(200, MeSchema)
    def get(self) -> dict[str, Any]:
        """Who am I: role, scopes, and for a holder whether the login is linked to a passport."""
        return service.whoami(current_actor())


@blp.route("/me/sessions")
class Sessions(MethodView):
    """The caller's logins."""

    @protect(roles=PEOPLE)
    @blp.response(200, SessionSchema(many=True))
    def get(self) -> list[service.LoginSession]:
        """List my live logins, most recently used first."""
        return service.sessions(session(), current_actor())


@blp.route("/me/sessions/<session_id>")
class SessionItem(MethodView):
    """One login of the caller."""

    @protect(roles=PEOPLE, objects="own login session")
    @blp.response(200, SessionSchema)
    def get(self, session_id: str) -> service.LoginSession:
        """One of my logins (404 for anyone else's)."""
        return service.login_session(session(), current_actor(), session_id)

    @protect(roles=PEOPLE, objects="own login session")
    @blp.response(204)
    @transactional
    def delete(self, session_id: str) -> None:
        """End one of my logins: its refresh tokens stop working at once."""
        service.end_session(session(), current_actor(), session_id,
                            current_app.config["PASSPORT_SETTINGS"].access_token_ttl)
