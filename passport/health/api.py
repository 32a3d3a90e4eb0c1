"""``GET /health``: 200 when the service and its database answer, 503 otherwise."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask.views import MethodView
from marshmallow import Schema, fields

from passport.errors import Unavailable
from passport.web.blueprint import Blueprint
from passport.web.db import session

log = logging.getLogger(__name__)
blp = Blueprint("health", __name__, description="Service health")


class HealthSchema(Schema):
    """Health report."""

    status = fields.String(required=True, metadata={"example": "ok"})
    database = fields.String(required=True, metadata={"example": "ok"})


@blp.route("/health")
class Health(MethodView):
    """Service health."""

    @blp.response(200, HealthSchema)
    def get(self) -> dict[str, Any]:
        """Check that the service runs and its database answers."""
        try:
            session().execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            log.warning("health check: database unreachable")
            raise Unavailable("The database does not answer.") from None
        return {"status": "ok", "database": "ok"}
