"""Headers every response carries unless its view chose otherwise.

Nearly every answer holds personal data — a passport, a journal, a deposit's report — or a
credential: nothing may keep a copy (``Cache-Control: no-store``: browsers, shared caches,
a proxy in front of an adviser's office). A view that serves something public and
cacheable says so with its own ``Cache-Control`` (the Open Badges issuer and keys), which
is kept. Besides: no content sniffing, no referrer (share tokens sit in URLs), no framing
(the login and consent pages), and JSON answers under a content security policy that
allows nothing, in case a browser is made to render one.

TLS is terminated in front of the service, which is where ``Strict-Transport-Security``
belongs (docs/operations.md).
"""

from __future__ import annotations

from flask import Flask, Response

#: Set on every response that has none of its own.
DEFAULTS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
#: For JSON answers (the API and its problems): nothing to load, nothing may frame them.
JSON_POLICY = "default-src 'none'; frame-ancestors 'none'"
JSON_TYPES = frozenset({"application/json", "application/problem+json"})


def init_app(app: Flask) -> None:
    app.after_request(with_defaults)


def with_defaults(response: Response) -> Response:
    headers = response.headers
    for name, value in DEFAULTS.items():
        headers.setdefault(name, value)
    if "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"
    if response.mimetype in JSON_TYPES:
        headers.setdefault("Content-Security-Policy", JSON_POLICY)
    return response
