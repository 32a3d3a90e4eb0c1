"""Headers every answer carries (passport.web.headers): nothing keeps a copy of personal
data, nothing sniffs, frames or leaks a referrer; a view's own choice stands. The
whole-suite scan (tests/privacy.py) checks every answer to a credentialed request for
``no-store``; these check the rest of the set and the exceptions."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from passport.web.headers import JSON_POLICY
from tests.oauth import bearer

DEFAULTS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY"}


def test_a_holders_passport_and_a_problem_are_sealed(client: FlaskClient,
                                                     holder: dict[str, Any]) -> None:
    for response in (client.get("/api/v1/me/passport", headers=bearer(holder["token"])),
                     client.get("/api/v1/me/passport"),
                     client.get("/api/v1/me/declarations/999999", headers=bearer(holder["token"]))):
        assert response.status_code in (200, 401, 404)
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Content-Security-Policy"] == JSON_POLICY
        assert DEFAULTS.items() <= dict(response.headers).items()


def test_public_keys_stay_cacheable(client: FlaskClient) -> None:
    response = client.get("/.well-known/jwks.json")
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert DEFAULTS.items() <= dict(response.headers).items()


def test_html_pages_keep_their_own_policy(client: FlaskClient) -> None:
    docs = client.get("/api/docs")  # Swagger UI, loaded from its CDN: no JSON policy
    assert docs.status_code == 200 and docs.mimetype == "text/html"
    assert "Content-Security-Policy" not in docs.headers
    assert docs.headers["Cache-Control"] == "no-store"
    assert DEFAULTS.items() <= dict(docs.headers).items()
    page = client.get("/s/not-a-token")  # a share page: its own policy and headers
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Robots-Tag"] == "noindex, nofollow"
