"""Every error becomes an RFC 9457 ``application/problem+json`` response, here and only here.

Domain exceptions map to statuses through `STATUS_BY_ERROR`.  Unexpected exceptions answer
a generic 500 (never ``str(exception)``); in tests (``PROPAGATE_EXCEPTIONS``) they re-raise
so that bugs fail tests instead of hiding behind a 500.
"""

from __future__ import annotations

import logging
from typing import Any

import marshmallow as ma
from flask import Flask, Response, current_app, json, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from passport import errors
from passport.web import requestid

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

STATUS_BY_ERROR: dict[type[errors.DomainError], int] = {
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.InvalidInput: 422,
    errors.Unavailable: 503,
    errors.Gone: 410,
    errors.CodeRequired: 401,
    errors.RateLimited: 429,
}

_CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    428: "precondition_required",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class ProblemErrorSchema(ma.Schema):
    """One field problem of a ``validation_failed`` answer."""

    source = ma.fields.String(metadata={"description": "json, query, headers, path, files…"})
    field = ma.fields.String()
    messages = ma.fields.Raw(metadata={"description": "Messages, by field for nested input"})


class ProblemSchema(ma.Schema):
    """An RFC 9457 problem; ``code`` is stable, to switch on."""

    class Meta:
        unknown = ma.INCLUDE  # RFC 9457 extension members (e.g. retry_after, scope)

    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    code = ma.fields.String(required=True)
    instance = ma.fields.String(allow_none=True)
    detail = ma.fields.String()
    errors = ma.fields.List(ma.fields.Nested(ProblemErrorSchema))
    request_id = ma.fields.String(metadata={
        "description": "This request's id (also the X-Request-ID header): quote it to support"})


class ProblemApi(Api):
    """flask-smorest's Api, documenting error answers as what they are: problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        self.DEFAULT_RESPONSE_CONTENT_TYPE = PROBLEM_JSON  # error responses only
        try:
            super()._register_responses()
        finally:
            del self.DEFAULT_RESPONSE_CONTENT_TYPE


def problem(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    errors_list: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Build a problem+json response."""
    body: dict[str, Any] = {
        "type": f"https://passport.example/problems/{code}",
        "title": title,
        "status": status,
        "code": code,
        "instance": request.path if request else None,
    }
    if detail:
        body["detail"] = detail
    if request_id := requestid.current():
        body["request_id"] = request_id
    if errors_list:
        body["errors"] = errors_list
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _from_http(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = _CODE_BY_STATUS.get(status, "http_error")
    errors_list = None
    data = getattr(exc, "data", None)  # webargs/flask-smorest validation messages
    if isinstance(data, dict) and "messages" in data:
        errors_list = [
            {"source": location, "field": field, "messages": messages}
            for location, fields in data["messages"].items()
            for field, messages in (fields.items() if isinstance(fields, dict) else [("", fields)])
        ]
        code = "validation_failed" if status == 422 else code
    headers = dict(exc.get_headers()) if status in (401, 405) else None
    if headers:
        headers.pop("Content-Type", None)
    description = exc.description
    if status == 413 and description == RequestEntityTooLarge.description:  # the app's limit
        settings = current_app.config["PASSPORT_SETTINGS"]
        description = (f"The request's body exceeds {settings.max_body_bytes} bytes "
                       "(PASSPORT_MAX_BODY_BYTES); flux files, sent to the deposit and "
                       f"validation endpoints, may have {settings.max_upload_bytes}.")
    return problem(status, code, exc.name, description, errors_list=errors_list,
                   headers=headers)


def init_app(app: Flask) -> None:
    """Register the handlers."""

    @app.errorhandler(errors.DomainError)
    def _domain(exc: errors.DomainError) -> Response:
        from passport.auth.access import AccessDenied, HolderNotLinked

        if isinstance(exc, AccessDenied):
            return problem(exc.status, exc.code, exc.title, exc.detail,
                           headers={"WWW-Authenticate": exc.www_authenticate})
        if isinstance(exc, HolderNotLinked):
            return problem(403, exc.code, exc.title, exc.detail)
        status = next(
            (s for cls, s in STATUS_BY_ERROR.items() if isinstance(exc, cls)), 400
        )
        headers = {}
        if exc.retry_after:
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, errors.CodeRequired):
            headers["WWW-Authenticate"] = exc.challenge
        return problem(status, exc.code, exc.title, exc.detail, errors_list=exc.errors or None,
                       headers=headers, **exc.extra())

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return _from_http(exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # Under test, bugs fail the test instead of hiding behind a 500 (Indico does so).
        if app.testing or app.config.get("PROPAGATE_EXCEPTIONS"):
            raise exc
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
        return problem(500, "internal_error", "Internal error",
                       "The server could not complete the request.")
