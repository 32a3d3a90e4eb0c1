"""Shares: ``/api/v1/me/shares…`` for their holder, ``/api/v1/shares/{token}`` for anyone
with the link, ``/api/v1/verify/{code}`` for anyone checking an attested item."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask.views import MethodView
from marshmallow import Schema, fields

from passport.auth.access import current_actor, protect, public
from passport.auth.models import Role
from passport.errors import NotFound, RateLimited
from passport.nir import NirVault
from passport.sharing import schemas, service
from passport.web.blueprint import Blueprint
from passport.web.db import committing, session, transactional

blp = Blueprint("shares", __name__, url_prefix="/api/v1",
                description="Shares of chosen items by links that expire, and verification")
READ: dict[str, Any] = {"scopes": ["passport:read"], "roles": [Role.HOLDER]}
WRITE: dict[str, Any] = {"scopes": ["shares:write"], "roles": [Role.HOLDER]}
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def context() -> service.ShareContext:
    """What the share service needs, from the application."""
    settings = current_app.config["PASSPORT_SETTINGS"]
    return service.ShareContext(settings, NirVault(settings), current_app.extensions["passport.keys"])


class ShareCodeHeader(Schema):
    code = fields.String(data_key="X-Share-Code", metadata={
        "description": "The access code, when the share has one"})


@blp.route("/me/shares")
class Shares(MethodView):
    """My shares."""

    @protect(**READ)
    @blp.response(200, schemas.ShareSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """My shares, newest first, with their status and number of views."""
        return service.listing(session(), context(), current_actor())

    @protect(**WRITE)
    @blp.arguments(schemas.ShareInSchema)
    @blp.response(201, schemas.ShareSchema)
    @transactional
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Share chosen items (attested and/or declared) by a link that expires (30 days by
        default, one year at most), optionally limited in views and protected by an access
        code. Masked fields are left out of what the recipient sees."""
        return service.create(session(), context(), current_actor(), data)


@blp.route("/me/shares/<int:share_id>")
class ShareResource(MethodView):
    """One of my shares."""

    @protect(**READ, objects="own share")
    @blp.response(200, schemas.ShareSchema)
    def get(self, share_id: int) -> dict[str, Any]:
        """One of my shares."""
        return service.one(session(), context(), current_actor(), share_id)

    @protect(**WRITE, objects="own share")
    @blp.arguments(schemas.SharePatchSchema)
    @blp.response(200, schemas.ShareSchema)
    @transactional
    def patch(self, changes: dict[str, Any], share_id: int) -> dict[str, Any]:
        """Extend or shorten a share, rename it, change its view limit or access code."""
        return service.update(session(), context(), current_actor(), share_id, changes)

    @protect(**WRITE, objects="own share")
    @blp.response(204)
    @transactional
    def delete(self, share_id: int) -> None:
        """Revoke a share: its very next view answers 410 Gone."""
        service.revoke(session(), current_actor(), share_id)


@blp.route("/shares/<string:token>")
class Shared(MethodView):
    """What a recipient sees (no login: the link is the capability)."""

    @public
    @blp.arguments(ShareCodeHeader, location="headers")
    @blp.response(200, schemas.SharedSchema)
    @blp.alt_response(401, description="Access code required or wrong (problem+json)")
    @blp.alt_response(404, description="No such share")
    @blp.alt_response(410, description="The share expired, was revoked or ran out of views")
    @blp.alt_response(429, description="Too many wrong access codes; see Retry-After")
    @committing(service.ShareCodeInvalid, RateLimited)
    def get(self, headers: dict[str, Any], token: str) -> tuple[dict[str, Any], int,
                                                               dict[str, str]]:
        """Open a share: every view counts and is written to the holder's journal. Send the
        access code in ``X-Share-Code`` when the share has one."""
        data = service.open_share(session(), context(), token, headers.get("code"),
                                  user_agent=request.user_agent.string, channel="api")
        return data, 200, NO_STORE


@blp.route("/verify/<string:code>")
class Verify(MethodView):
    """Check an attested item by its verification code."""

    @public
    @blp.response(200, schemas.VerifiedSchema)
    @blp.alt_response(404, description="No item has this code")
    @blp.alt_response(429, description="Too many look-ups from this address; see Retry-After")
    @committing(NotFound, RateLimited)
    def get(self, code: str) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Is the item behind this code authentic, still valid, not withdrawn by its
        certifier? Rate-limited per client; each verification is written to the holder's
        journal. The answer carries the item's signed attestation (JWS, ES256)."""
        data = service.verify(session(), context(), code, user_agent=request.user_agent.string,
                              client_address=request.remote_addr)
        return data, 200, {"Cache-Control": "no-store"}
