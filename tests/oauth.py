"""Drive the real login flow in tests: a public client with PKCE, our authorization server,
and a real OpenID provider (oidc-provider-mock) playing FranceConnect or ProConnect.

The "browser" is the Flask test client for our endpoints and `requests` for the provider.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

CLIENT_ID = "test-app"
REDIRECT_URI = "http://127.0.0.1:8080/callback"
HOLDER_SCOPE = "passport:read passport:write shares:write consents:write"


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def path_of(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + ("?" + parts.query if parts.query else "")


@dataclass
class Flow:
    """One authorization code flow, step by step, so tests can tamper with any step."""

    client: FlaskClient
    provider_url: str
    provider: str = "franceconnect"
    scope: str = HOLDER_SCOPE
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    state: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    client_id: str = CLIENT_ID
    redirect_uri: str = REDIRECT_URI

    def authorize_params(self, **changes: Any) -> dict[str, str]:
        params = {
            "response_type": "code", "client_id": self.client_id,
            "redirect_uri": self.redirect_uri, "scope": self.scope, "state": self.state,
            "code_challenge": s256(self.verifier), "code_challenge_method": "S256",
            "provider": self.provider,
        }
        params.update(changes)
        return {k: v for k, v in params.items() if v is not None}

    def start(self, **changes: Any) -> TestResponse:
        """GET /oauth/authorize: normally a redirect to the provider."""
        return self.client.get("/oauth/authorize?" + urlencode(self.authorize_params(**changes)))

    def login_upstream(self, provider_location: str, sub: str) -> str:
        """The user logs in at the provider; returns where it sends the browser back."""
        response = requests.post(provider_location, data={"sub": sub}, allow_redirects=False,
                                 timeout=10)
        assert response.status_code == 302, response.text[:500]
        return response.headers["Location"]

    def back(self, callback_location: str) -> TestResponse:
        """The browser comes back to our callback."""
        return self.client.get(path_of(callback_location))

    def run(self, sub: str, **changes: Any) -> dict[str, str]:
        """The whole browser part; returns the query the client's redirect URI receives."""
        started = self.start(**changes)
        assert started.status_code == 302, started.get_data(as_text=True)
        callback = self.back(self.login_upstream(started.headers["Location"], sub))
        assert callback.status_code == 302, callback.get_data(as_text=True)
        if callback.headers["Location"].startswith(self.redirect_uri):
            return query_of(callback.headers["Location"])  # refused: straight back
        resumed = self.client.get(path_of(callback.headers["Location"]))
        assert resumed.status_code == 302, resumed.get_data(as_text=True)
        location = resumed.headers["Location"]
        assert location.startswith(self.redirect_uri), location
        return query_of(location)

    def exchange(self, code: str, **changes: Any) -> TestResponse:
        form = {"grant_type": "authorization_code", "code": code, "client_id": self.client_id,
                "redirect_uri": self.redirect_uri, "code_verifier": self.verifier}
        form.update(changes)
        return self.client.post("/oauth/token", data={k: v for k, v in form.items()
                                                      if v is not None})

    def tokens(self, sub: str) -> dict[str, Any]:
        """Login and code exchange: the token response."""
        result = self.run(sub)
        assert result.get("state") == self.state, result
        response = self.exchange(result["code"])
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.json  # type: ignore[return-value]


def set_user(provider_url: str, sub: str, claims: dict[str, Any]) -> None:
    """Register a user and the claims the provider will assert for them."""
    response = requests.put(f"{provider_url}/users/{sub}", json=claims, timeout=10)
    assert response.status_code == 204, response.text


def pivot(**changes: Any) -> dict[str, Any]:
    """FranceConnect pivot identity claims of the directory's Antoine Dupont."""
    claims = {"given_name": "Antoine Julien", "family_name": "DUPONT",
              "preferred_username": "Dupont", "birthdate": "1996-11-15", "gender": "male",
              "birthplace": "31555", "birthcountry": "99100", "acr": "eidas2"}
    claims.update(changes)
    return claims


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def mint(app: Any, db: Any, account: Any, *, client_id: str = CLIENT_ID,
         scope: str | None = None, ttl: int | None = None) -> str:
    """A token for an account (or, with ``account=None``, for the certifier client
    ``client_id``), signed by the app's key, without going through a login."""
    from passport.auth.models import ROLE_SCOPES, OAuthClient, Role
    from passport.auth.server import AccessTokens, Client

    tokens: AccessTokens = app.extensions["passport.tokens"]
    client = Client(db.get(OAuthClient, client_id))
    role = account.role if account else Role.CERTIFIER
    token = tokens.encode(client, "authorization_code" if account else "client_credentials",
                          account, scope or " ".join(sorted(ROLE_SCOPES[role])))
    if ttl is None:
        return str(token)
    claims = tokens.decode(token)
    assert claims is not None
    claims["iat"], claims["exp"] = claims["iat"] - 7200, claims["iat"] + ttl - 7200
    return str(tokens.sign(claims))
