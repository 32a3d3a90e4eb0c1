"""``/api/v1/analytics``: success rates for analysts, as aggregates only."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response, current_app, request
from flask.views import MethodView

from passport.analytics import chart, service
from passport.analytics.schemas import SuccessRatesQuerySchema, SuccessRatesSchema
from passport.auth.access import current_actor, protect
from passport.auth.models import Role
from passport.web.blueprint import Blueprint
from passport.web.db import session, transactional

blp = Blueprint("analytics", __name__, url_prefix="/api/v1/analytics",
                description="Success rates (analysts only)")
READ: dict[str, Any] = {"scopes": ["analytics:read"], "roles": [Role.ANALYST]}


def _answer(query: service.Query, endpoint: str) -> dict[str, Any]:
    db = session()
    result = service.success_rates(db, query, current_app.config["PASSPORT_SETTINGS"].analytics_min_cell)
    actor = current_actor()
    service.record(db, subject=actor.subject, client_id=actor.client_id, endpoint=endpoint,
                   query=query, result=result)
    return result


@blp.route("/success-rates")
class SuccessRates(MethodView):
    """Certification success rates."""

    @protect(**READ)
    @blp.arguments(SuccessRatesQuerySchema, location="query")
    @blp.response(200, SuccessRatesSchema, description="JSON, or CSV with Accept: text/csv")
    @transactional
    def get(self, query: service.Query) -> Any:
        """Success rates of CPF training files: finished files whose exit falls in the
        period (whole years), and among them those whose holder obtained the certification
        (or its predecessor or successor) between the entry and the exit plus the window;
        95 % Wilson interval, abandonment share, delay quartiles. Cells under
        ``PASSPORT_ANALYTICS_MIN_CELL`` are suppressed, with secondary suppression."""
        result = _answer(query, "success-rates")
        if request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv":
            out = io.StringIO()
            csv.writer(out, lineterminator="\r\n").writerows(service.csv_rows(result))
            return Response(out.getvalue(), mimetype="text/csv", headers={
                "Content-Disposition": 'attachment; filename="taux-de-reussite.csv"'})
        return result


@blp.route("/success-rates/chart")
class SuccessRatesChart(MethodView):
    """The same figures as a chart."""

    @protect(**READ)
    @blp.arguments(SuccessRatesQuerySchema, location="query")
    @blp.response(200, description="An SVG chart (image/svg+xml)")
    @transactional
    def get(self, query: service.Query) -> Response:
        """Bars with their 95 % interval, suppressed cells shown as such, in French."""
        result = _answer(query, "success-rates/chart")
        return Response(chart.render(result), mimetype="image/svg+xml", headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})
