"""We are an OpenID Connect relying party to FranceConnect(+) and ProConnect.

Discovery, authorization URL with ``state``, ``nonce`` and PKCE, code exchange, and ID token
validation: signature against the provider's JWKS (refetched when a ``kid`` is unknown),
issuer, audience, ``azp``, expiry, issue time and nonce.  Authlib's requests client does the
protocol; joserfc checks the JWTs.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from passport.config import UpstreamSettings

log = logging.getLogger(__name__)
TIMEOUT = 10
LEEWAY = 60


class UpstreamError(Exception):
    """The upstream login failed or returned something we cannot trust."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass
class _Cached:
    value: Any
    at: float


class Provider:
    """One upstream OpenID provider."""

    METADATA_TTL = 3600
    JWKS_MIN_REFRESH = 30

    def __init__(self, settings: UpstreamSettings, redirect_uri: str) -> None:
        self.settings = settings
        self.name = settings.name
        self.redirect_uri = redirect_uri
        self._metadata: _Cached | None = None
        self._jwks: _Cached | None = None
        self._lock = threading.Lock()

    # -- discovery -------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (cached an hour)."""
        with self._lock:
            if self._metadata and time.monotonic() - self._metadata.at < self.METADATA_TTL:
                return self._metadata.value
        url = f"{self.settings.issuer}/.well-known/openid-configuration"
        try:
            response = requests.get(url, timeout=TIMEOUT)
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise UpstreamError("upstream_unavailable",
                                f"{self.name} discovery failed: {type(exc).__name__}") from None
        if data.get("issuer", "").rstrip("/") != self.settings.issuer:
            raise UpstreamError("upstream_misconfigured", f"{self.name} announces another issuer")
        with self._lock:
            self._metadata = _Cached(data, time.monotonic())
        return data

    def _keys(self, refresh: bool = False) -> KeySet:
        with self._lock:
            cached = self._jwks
        if cached and not (refresh and time.monotonic() - cached.at > self.JWKS_MIN_REFRESH):
            return cached.value
        try:
            response = requests.get(self.metadata()["jwks_uri"], timeout=TIMEOUT)
            response.raise_for_status()
            keys = KeySet.import_key_set(response.json())
        except (requests.RequestException, ValueError, KeyError) as exc:
            raise UpstreamError("upstream_unavailable",
                                f"{self.name} keys unavailable: {type(exc).__name__}") from None
        with self._lock:
            self._jwks = _Cached(keys, time.monotonic())
        return keys

    def _session(self) -> OAuth2Session:
        return OAuth2Session(
            self.settings.client_id,
            self.settings.client_secret,
            redirect_uri=self.redirect_uri,
            scope=self.settings.scope,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106 -- a method name
        )

    # -- the flow --------------------------------------------------------------------
    def authorization_url(self, state: str, nonce: str, code_verifier: str) -> str:
        """Where to send the browser."""
        extra: dict[str, str] = {"nonce": nonce}
        if self.settings.min_acr:
            extra["acr_values"] = self.settings.min_acr
        url, _ = self._session().create_authorization_url(
            self.metadata()["authorization_endpoint"], state=state,
            code_verifier=code_verifier, **extra)
        return str(url)

    def exchange(self, code: str, code_verifier: str) -> dict[str, Any]:
        """Trade the code for tokens at the provider's token endpoint."""
        try:
            token = self._session().fetch_token(
                self.metadata()["token_endpoint"], code=code, code_verifier=code_verifier,
                grant_type="authorization_code", timeout=TIMEOUT)
        except Exception as exc:  # Authlib raises several types for one failure
            raise UpstreamError("upstream_token_refused",
                                f"{self.name} refused the code: {type(exc).__name__}") from None
        if "id_token" not in token:
            raise UpstreamError("upstream_no_id_token", f"{self.name} sent no ID token")
        return dict(token)

    def id_token_claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        """Validate an ID token and return its claims."""
        algorithms = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in algorithms if a != "none"]
        try:
            try:
                decoded = jwt.decode(id_token, self._keys(), algorithms=algorithms)
            except (JoseError, ValueError):
                decoded = jwt.decode(id_token, self._keys(refresh=True), algorithms=algorithms)
        except (JoseError, ValueError) as exc:
            raise UpstreamError("id_token_invalid",
                                f"{self.name} ID token signature: {type(exc).__name__}") from None
        claims = dict(decoded.claims)
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY,
            iss={"essential": True, "value": self.settings.issuer},
            aud={"essential": True, "value": self.settings.client_id},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise UpstreamError("id_token_invalid",
                                f"{self.name} ID token rejected: {exc.description}") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.settings.client_id:
            raise UpstreamError("id_token_invalid", f"{self.name} ID token: wrong azp")
        return claims

    def userinfo(self, access_token: str) -> dict[str, Any]:
        """Userinfo claims (JSON, or a signed JWT as FranceConnect v2 sends them)."""
        endpoint = self.metadata().get("userinfo_endpoint")
        if not endpoint:
            return {}
        try:
            response = requests.get(endpoint, headers={"Authorization": f"Bearer {access_token}"},
                                    timeout=TIMEOUT)
            response.raise_for_status()
        except requests.RequestException as exc:
            raise UpstreamError("upstream_unavailable",
                                f"{self.name} userinfo failed: {type(exc).__name__}") from None
        if response.headers.get("Content-Type", "").startswith("application/jwt"):
            algorithms = self.metadata().get("userinfo_signing_alg_values_supported") or ["RS256"]
            try:
                decoded = jwt.decode(response.text, self._keys(),
                                     algorithms=[a for a in algorithms if a != "none"])
            except (JoseError, ValueError):
                raise UpstreamError("userinfo_invalid", f"{self.name} userinfo signature") from None
            return dict(decoded.claims)
        return dict(response.json())

    def login(self, code: str, code_verifier: str, nonce: str) -> tuple[dict[str, Any], str]:
        """The whole callback: code → tokens → validated identity claims, and the ID token
        itself (the provider wants it back to end the session: `end_session_url`)."""
        token = self.exchange(code, code_verifier)
        claims = self.id_token_claims(token["id_token"], nonce)
        info = self.userinfo(token["access_token"]) if token.get("access_token") else {}
        if info and info.get("sub") != claims["sub"]:
            raise UpstreamError("userinfo_invalid", f"{self.name} userinfo is for someone else")
        return {**info, **claims}, token["id_token"]

    def end_session_url(self, id_token: str, state: str, post_logout_redirect_uri: str
                        ) -> str | None:
        """Where to send the browser to end its session at the provider (OpenID Connect
        RP-Initiated Logout, which FranceConnect and ProConnect require of their service
        providers); None when the provider has no such endpoint."""
        endpoint = self.metadata().get("end_session_endpoint")
        if not endpoint:
            return None
        query = urlencode({"id_token_hint": id_token, "state": state,
                           "post_logout_redirect_uri": post_logout_redirect_uri})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def acr_satisfies(acr: str | None, minimum: str | None) -> bool:
    """eidas1 < eidas2 < eidas3; an unknown or missing acr satisfies no minimum."""
    from passport.config import ACR_LEVELS

    if minimum is None:
        return True
    if acr not in ACR_LEVELS:
        return False
    return ACR_LEVELS.index(acr) >= ACR_LEVELS.index(minimum)
