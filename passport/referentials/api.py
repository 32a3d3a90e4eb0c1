"""``GET /api/v1/me/skills``: what the holder can do, and why we say so."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from passport.auth.access import current_actor, protect
from passport.auth.models import Role
from passport.referentials import schemas
from passport.referentials.skills import holder_skills
from passport.web.blueprint import Blueprint
from passport.web.db import session

blp = Blueprint("skills", __name__, url_prefix="/api/v1", description="The holder's skills")


@blp.route("/me/skills")
class Skills(MethodView):
    """My skills."""

    @protect(scopes=["passport:read"], roles=[Role.HOLDER])
    @blp.arguments(schemas.SkillsQuerySchema, location="query")
    @blp.response(200, schemas.SkillsSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """My skills from my certifications' sheets (RNCP blocs, RS attested capacities), from
        the certifiers' data (DigComp, CECRL), inferred from the sheets' ROME 4.0 jobs
        (principal before emerging, by domain and macro-compétence), and declared by me —
        each with every chain that produced it and the referential versions used."""
        return holder_skills(session(), current_actor().own_holder_id(), **query)
