"""Cross-origin calls from the browser front ends of other sites (CORS, flask-cors).

A holder's web app served from its own site (``PASSPORT_CORS_ORIGINS``) calls the API with
the bearer token it got from our token endpoint, which it also calls from the browser
(authorization code with PKCE, refresh, revocation). Nothing else is shared across sites:
no cookie and no credential mode (``Access-Control-Allow-Credentials`` is never sent; the
token travels in ``Authorization``), and an origin not listed gets no CORS header, so its
browser keeps the answer from it. The share pages and the login pages are navigated to,
never fetched across sites: they are not listed here.
"""

from __future__ import annotations

from flask import Flask
from flask_cors import CORS

#: What the API's callers send beyond the CORS-safelisted headers.
ALLOWED_HEADERS = ["Authorization", "Content-Type", "If-Match", "If-None-Match", "Prefer",
                   "X-Request-ID", "X-File-Name", "Content-Encoding", "Accept-Language"]
#: What a front end may read of an answer beyond the safelisted headers.
EXPOSED_HEADERS = ["ETag", "Location", "Retry-After", "X-Request-ID", "WWW-Authenticate",
                   "Content-Disposition", "Preference-Applied"]
#: What the front ends call: the API, the token and revocation endpoints, the metadata.
RESOURCES = [r"/api/v1/.*", r"/oauth/token", r"/oauth/revoke", r"/\.well-known/.*"]
#: How long a browser may keep a preflight's answer (seconds).
PREFLIGHT_MAX_AGE = 600


def init_app(app: Flask, origins: tuple[str, ...]) -> None:
    if not origins:
        return
    CORS(app, resources={pattern: {} for pattern in RESOURCES}, origins=list(origins),
         methods=["GET", "POST", "PATCH", "DELETE"], allow_headers=ALLOWED_HEADERS,
         expose_headers=EXPOSED_HEADERS, supports_credentials=False,
         max_age=PREFLIGHT_MAX_AGE, vary_header=True)
