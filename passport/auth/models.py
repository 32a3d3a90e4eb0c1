"""OAuth clients, accounts (login links), authorization requests and codes, refresh tokens."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from passport.db import Base, utcnow
from passport.types import BigIntPK, enum_column, json_column


class Role(enum.Enum):
    """Who is calling: each role has its own way in and its own scopes."""

    HOLDER = "holder"
    ADVISOR = "advisor"
    ANALYST = "analyst"
    CERTIFIER = "certifier"


#: The scopes each role may ever receive.
ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.HOLDER: frozenset({"passport:read", "passport:write", "shares:write", "consents:write"}),
    Role.ADVISOR: frozenset({"advisor:read"}),
    Role.ANALYST: frozenset({"analytics:read"}),
    Role.CERTIFIER: frozenset({"deposits:write"}),
}
ALL_SCOPES = frozenset().union(*ROLE_SCOPES.values())


class OAuthClient(Base):
    """An application allowed to ask for tokens: a front end (public, PKCE) or a certifier
    or mandated depositor (confidential, client credentials, ``client_id`` = its BCR)."""

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    #: scrypt hash of the secret (None for public clients).
    secret_hash: Mapped[str | None] = mapped_column(sa.String(255))
    redirect_uris: Mapped[list[str]] = mapped_column(json_column(), default=list)
    grant_types: Mapped[list[str]] = mapped_column(json_column(), default=list)
    scope: Mapped[str] = mapped_column(sa.String(500))
    #: For client-credentials clients: the role their tokens carry (certifier).
    role: Mapped[Role | None] = mapped_column(enum_column(Role))
    disabled_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def is_public(self) -> bool:
        """A public client cannot keep a secret (a browser or mobile app): PKCE only."""
        return self.secret_hash is None


class Account(Base):
    """A person who logged in through an upstream provider: the login link
    (issuer + sub → holder for FranceConnect; the advisor's or analyst's identity)."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    #: Opaque identifier used as the ``sub`` of our tokens (never a NIR, never a row id).
    public_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    role: Mapped[Role] = mapped_column(enum_column(Role))
    issuer: Mapped[str] = mapped_column(sa.String(255))
    subject: Mapped[str] = mapped_column(sa.String(255))
    holder_id: Mapped[int | None] = mapped_column(sa.ForeignKey("holders.id"), index=True)
    #: Why a holder login is not linked (``no_match``, ``several_matches``, ``inconsistent``).
    link_status: Mapped[str | None] = mapped_column(sa.String(40))
    display_name: Mapped[str | None] = mapped_column(sa.String(255))
    email: Mapped[str | None] = mapped_column(sa.String(320))
    siret: Mapped[str | None] = mapped_column(sa.String(14))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]

    __table_args__ = (sa.UniqueConstraint("issuer", "subject"),)


class AuthorizationRequest(Base):
    """A client's authorization request waiting for the upstream login to come back."""

    __tablename__ = "oauth_authorization_requests"

    #: The ``state`` we send upstream (random, single use).
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(20))
    #: The client's original request parameters, replayed when the user comes back.
    params: Mapped[dict[str, Any]] = mapped_column(json_column())
    nonce: Mapped[str] = mapped_column(sa.String(64))
    code_verifier: Mapped[str] = mapped_column(sa.String(128))
    #: Hash of the cookie that binds the flow to the browser that started it.
    browser_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    # Filled when the upstream login came back: the account, and a single-use ticket
    # with which the browser resumes the client's authorization request.
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    acr: Mapped[str | None] = mapped_column(sa.String(100))
    authenticated_at: Mapped[dt.datetime | None]
    ticket_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)


class AuthorizationCode(Base):
    """Our authorization codes, stored hashed; single use."""

    __tablename__ = "oauth_authorization_codes"

    code_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.ForeignKey("oauth_clients.client_id"))
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    redirect_uri: Mapped[str] = mapped_column(sa.String(1000))
    scope: Mapped[str] = mapped_column(sa.String(500))
    nonce: Mapped[str | None] = mapped_column(sa.String(255))
    code_challenge: Mapped[str] = mapped_column(sa.String(128))
    code_challenge_method: Mapped[str] = mapped_column(sa.String(10))
    auth_time: Mapped[dt.datetime]
    acr: Mapped[str | None] = mapped_column(sa.String(100))
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RefreshToken(Base):
    """A refresh token, stored hashed. Each use rotates it; a rotated token used again
    revokes its whole family (the same login), as a stolen token would be."""

    __tablename__ = "oauth_refresh_tokens"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    family: Mapped[str] = mapped_column(sa.String(36), index=True)
    client_id: Mapped[str] = mapped_column(sa.ForeignKey("oauth_clients.client_id"))
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    scope: Mapped[str] = mapped_column(sa.String(500))
    #: The code the family started from (a replayed code revokes the family).
    code_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    rotated_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    user_agent: Mapped[str | None] = mapped_column(sa.String(255))
    #: The ``jti`` of the access token issued with this refresh token: ending the login
    #: (logout, revocation, a replay) revokes it too, not only what refreshes it.
    access_jti: Mapped[str | None] = mapped_column(sa.String(64))


class RevokedAccessToken(Base):
    """An access token revoked before it expired (RFC 7009); checked on every request."""

    __tablename__ = "oauth_revoked_access_tokens"

    jti: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
