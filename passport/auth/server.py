"""Our OAuth 2.0 authorization server, built on Authlib's components.

Grants: authorization code with PKCE S256 required of every client, rotating refresh
tokens (reuse of a rotated token revokes its family), client credentials for certifiers
and mandated depositors.  Access tokens are ES256 JWTs in the RFC 9068 shape; refresh
tokens and codes are random strings stored only as SHA-256 hashes; client secrets as scrypt.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
import uuid
from typing import Any, ClassVar

import sqlalchemy as sa
from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, current_app, request
from joserfc import jwt
from joserfc.errors import JoseError

from passport.auth.keys import ALGORITHM, KeyRing
from passport.auth.models import (
    ROLE_SCOPES,
    Account,
    AuthorizationCode,
    OAuthClient,
    RefreshToken,
    RevokedAccessToken,
    Role,
)
from passport.auth.service import revoke_logins
from passport.config import Settings
from passport.db import utcnow
from passport.web.db import session

log = logging.getLogger(__name__)

CODE_TTL = dt.timedelta(seconds=60)


def digest(value: str) -> str:
    """SHA-256 hex of a high-entropy secret (codes, refresh tokens): enough to store it."""
    return hashlib.sha256(value.encode()).hexdigest()


# -- client secrets ---------------------------------------------------------------------
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_secret(secret: str) -> str:
    """scrypt hash of a client secret, self-describing."""
    salt = os.urandom(16)
    key = hashlib.scrypt(secret.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(key).decode()


def verify_secret(secret: str, stored: str) -> bool:
    """Constant-time check of a client secret against its hash."""
    try:
        scheme, salt, key = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    computed = hashlib.scrypt(secret.encode(), salt=base64.b64decode(salt), dklen=32, **_SCRYPT)
    return hmac.compare_digest(computed, base64.b64decode(key))


def new_secret() -> str:
    """A client secret: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


# -- Authlib adapters -------------------------------------------------------------------
class Client(ClientMixin):
    """Authlib's view of an `OAuthClient` row."""

    def __init__(self, row: OAuthClient) -> None:
        self.row = row

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.row.redirect_uris[0] if self.row.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set(self.row.scope.split())
        if not scope:
            return " ".join(sorted(allowed))
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact match only (no prefix or pattern: RFC 9700 §4.1).
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self.row.secret_hash is not None and verify_secret(client_secret,
                                                                  self.row.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.row.is_public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.row.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.row.grant_types


class CodeRecord:
    """Authlib's view of an `AuthorizationCode` row."""

    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.auth_time.timestamp())

    def get_acr(self) -> str | None:
        return self.row.acr

    def get_amr(self) -> None:
        return None


class RefreshRecord:
    """Authlib's view of a `RefreshToken` row."""

    def __init__(self, row: RefreshToken) -> None:
        self.row = row

    def check_client(self, client: Client) -> bool:
        return self.row.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int((self.row.expires_at - self.row.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.row.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None


class AccessRecord:
    """A presented access token, for revocation."""

    def __init__(self, claims: dict[str, Any]) -> None:
        self.claims = claims

    def check_client(self, client: Client) -> bool:
        return bool(self.claims.get("client_id") == client.get_client_id())


def granted_scope(requested: str, role: Role) -> str:
    """The requested scopes this role may have (the client's were checked by Authlib)."""
    return " ".join(s for s in requested.split() if s in ROLE_SCOPES[role])


def revoke_family(family: str, reason: str) -> None:
    """End a login (one family): its refresh tokens and the access tokens issued with them."""
    revoke_logins(session(), [family], current_app.config["PASSPORT_SETTINGS"].access_token_ttl)
    log.warning("refresh token family revoked: %s", reason)


# -- grants -----------------------------------------------------------------------------
class RequiredS256(CodeChallenge):
    """PKCE with S256 on every authorization request (Authlib's ``required=True`` only
    enforces a verifier for public clients at the token endpoint)."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class CodeGrant(grants.AuthorizationCodeGrant):
    """Authorization code, bound to the account the upstream login resolved."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none", "client_secret_basic", "client_secret_post"]

    def save_authorization_code(self, code: str, req: Any) -> None:
        account: Account = req.user.account
        data = req.payload.data
        session().add(AuthorizationCode(
            code_hash=digest(code),
            client_id=req.client.get_client_id(),
            account_id=account.id,
            redirect_uri=req.payload.redirect_uri,
            scope=granted_scope(req.scope, account.role),
            nonce=data.get("nonce"),
            code_challenge=data["code_challenge"],
            code_challenge_method=data.get("code_challenge_method", "S256"),
            auth_time=req.user.auth_time,
            acr=req.user.acr,
            expires_at=utcnow() + CODE_TTL,
        ))
        session().flush()

    def query_authorization_code(self, code: str, client: Client) -> CodeRecord | None:
        # Locked until the exchange commits: a copy raced against the client's own exchange
        # waits, then finds the code used (a replay), instead of getting tokens too.
        row = session().get(AuthorizationCode, digest(code), with_for_update=True)
        if row is None or row.client_id != client.get_client_id():
            return None
        if row.used_at is not None:
            # RFC 6749 §4.1.2: a code used twice revokes what it gave.
            families = session().scalars(
                sa.select(RefreshToken.family).where(RefreshToken.code_hash == row.code_hash)
            ).all()
            for family in set(families):
                revoke_family(family, "authorization code replayed")
            log.warning("authorization code replayed by client %s", client.get_client_id())
            return None
        if row.expires_at <= utcnow():
            return None
        return CodeRecord(row)

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        authorization_code.row.used_at = utcnow()

    def authenticate_user(self, authorization_code: CodeRecord) -> Account | None:
        return session().get(Account, authorization_code.row.account_id)


class RefreshGrant(grants.RefreshTokenGrant):
    """Rotating refresh tokens with reuse detection."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none", "client_secret_basic", "client_secret_post"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        # Locked, as the authorization code: two uses at once are one use and one reuse.
        row = session().scalar(
            sa.select(RefreshToken).where(RefreshToken.token_hash == digest(refresh_token))
            .with_for_update()
        )
        if row is None or row.revoked_at is not None:
            return None
        if row.rotated_at is not None:
            revoke_family(row.family, "rotated refresh token used again")
            return None
        if row.expires_at <= utcnow():
            return None
        return RefreshRecord(row)

    def authenticate_user(self, credential: RefreshRecord) -> Account | None:
        return session().get(Account, credential.row.account_id)

    def revoke_old_credential(self, credential: RefreshRecord) -> None:
        credential.row.rotated_at = utcnow()


class CredentialsGrant(grants.ClientCredentialsGrant):
    """Client credentials, for certifiers and mandated depositors only."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]


class Revocation(RevocationEndpoint):
    """RFC 7009: refresh tokens (their whole family) and access tokens (by ``jti``)."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["none", "client_secret_basic", "client_secret_post"]

    def __init__(self, server: Any, tokens: AccessTokens) -> None:
        super().__init__(server)
        self.tokens = tokens

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        if token_type_hint != "access_token":  # noqa: S105 -- a hint's name, not a secret
            row = session().scalar(
                sa.select(RefreshToken).where(RefreshToken.token_hash == digest(token_string))
            )
            if row is not None:
                return RefreshRecord(row)
        if token_type_hint != "refresh_token":  # noqa: S105 -- same
            claims = self.tokens.decode(token_string)
            if claims is not None:
                return AccessRecord(claims)
        return None

    def revoke_token(self, token: Any, req: Any) -> None:
        if isinstance(token, RefreshRecord):
            revoke_family(token.row.family, "revoked by its client")
        else:
            jti = token.claims["jti"]
            if session().get(RevokedAccessToken, jti) is None:
                session().add(RevokedAccessToken(
                    jti=jti, expires_at=dt.datetime.fromtimestamp(token.claims["exp"], dt.UTC)))


# -- tokens -----------------------------------------------------------------------------
class AccessTokens(BearerTokenGenerator):
    """ES256 JWT access tokens in the RFC 9068 shape, with a ``kid`` for key rotation."""

    def __init__(self, settings: Settings, keys: KeyRing) -> None:
        super().__init__(
            access_token_generator=self.encode,
            refresh_token_generator=lambda *_, **__: generate_token(48),
            expires_generator=lambda *_, **__: settings.access_token_ttl,
        )
        self.settings = settings
        self.keys = keys

    def encode(self, client: Client, grant_type: str, user: Any, scope: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.settings.issuer,
            "aud": self.settings.api_audience,
            "client_id": client.get_client_id(),
            "iat": now,
            "exp": now + self.settings.access_token_ttl,
            "jti": uuid.uuid4().hex,
            "scope": scope,
        }
        if user is not None:
            account: Account = user.account if hasattr(user, "account") else user
            claims["sub"] = account.public_id
            claims["roles"] = [account.role.value]
            if account.role is Role.ADVISOR and account.siret:
                claims["siret"] = account.siret
        else:
            role = client.row.role or Role.CERTIFIER
            claims["sub"] = client.get_client_id()
            claims["roles"] = [role.value]
        return self.sign(claims)

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.keys.current
        header = {"alg": ALGORITHM, "typ": "at+jwt", "kid": key.kid}
        return jwt.encode(header, claims, key, algorithms=[ALGORITHM])

    def decode(self, token: str) -> dict[str, Any] | None:
        """The claims of a token we signed (signature only; None if it is not ours)."""
        try:
            decoded = jwt.decode(token, self.keys.verification_keys, algorithms=[ALGORITHM])
        except (JoseError, ValueError):
            return None
        return dict(decoded.claims)


def _query_client(client_id: str) -> Client | None:
    row = session().get(OAuthClient, client_id)
    if row is None or row.disabled_at is not None:
        return None
    return Client(row)


def _jti_of(access_token: str) -> str:
    """The ``jti`` of an access token we just signed (its payload, read without checking)."""
    payload = access_token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"])


def _refresh_token_saver(settings: Settings) -> Any:
    def save_token(token: dict[str, Any], req: Any) -> None:
        refresh = token.get("refresh_token")
        if not refresh:
            return
        user = req.user
        account: Account = user.account if hasattr(user, "account") else user
        previous = getattr(req, "refresh_token", None)
        code = getattr(req, "authorization_code", None)
        session().add(RefreshToken(
            token_hash=digest(refresh),
            family=previous.row.family if previous is not None else str(uuid.uuid4()),
            client_id=req.client.get_client_id(),
            account_id=account.id,
            scope=token.get("scope", ""),
            code_hash=(code.row.code_hash if code is not None else
                       previous.row.code_hash if previous is not None else None),
            expires_at=utcnow() + dt.timedelta(seconds=settings.refresh_token_ttl),
            user_agent=(request.headers.get("User-Agent") or "")[:255] or None,
            access_jti=_jti_of(token["access_token"]),
        ))

    return save_token


def create_server(app: Flask, settings: Settings, keys: KeyRing) -> AuthorizationServer:
    """The authorization server, with our grants, token generator and revocation."""
    server = AuthorizationServer(app, query_client=_query_client,
                                 save_token=_refresh_token_saver(settings))
    tokens = AccessTokens(settings, keys)
    server.register_token_generator("default", tokens)
    server.register_grant(CodeGrant, [RequiredS256(required=True)])
    server.register_grant(RefreshGrant)
    server.register_grant(CredentialsGrant)
    server.register_endpoint(Revocation(server, tokens))
    app.extensions["passport.tokens"] = tokens
    return server
