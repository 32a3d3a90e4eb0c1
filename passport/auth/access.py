"""The resource server: every API call proves who it is, and what it may touch.

`protect` wraps every view of the API: it checks the bearer token (ES256 signature against
our keys, ``typ``, issuer, audience, expiry, not-before, revocation), the scopes and the
roles, and turns the token into an `Actor` loaded from the database — so a disabled client
or a deleted account stops at the very next request.  Object-level rules are declared on the
route (``objects=``) and enforced by the services, which only ever query the caller's own
objects and answer 404 for the rest; `ACCESS` lists every protected view, so a test can
refuse a route added without a rule.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from flask import current_app, g, request
from joserfc import jwt
from joserfc.errors import JoseError

from passport.auth.keys import ALGORITHM
from passport.auth.models import Account, OAuthClient, RevokedAccessToken, Role
from passport.config import Settings
from passport.errors import DomainError
from passport.web.db import session

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
LEEWAY = 30


class AccessDenied(DomainError):
    """401/403 from the resource server, with the RFC 6750 challenge."""

    def __init__(self, status: int, code: str, detail: str, *, scope: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = "Unauthorized" if status == 401 else "Forbidden"
        error = {"missing_token": None}.get(code, code)
        parts = ['Bearer realm="passport"']
        if error:
            parts.append(f'error="{error}"')
            parts.append(f'error_description="{detail}"')
        if scope:
            parts.append(f'scope="{scope}"')
        self.www_authenticate = ", ".join(parts)


class HolderNotLinked(DomainError):
    """A holder logged in, but we could not tie the login to a passport."""

    code = "holder_not_linked"
    title = "Login not linked to a passport"


@dataclass(frozen=True)
class Actor:
    """The caller, as the services see it: explicit, never read from Flask by them."""

    role: Role
    subject: str
    client_id: str
    scopes: frozenset[str]
    jti: str
    account: Account | None = None
    certifier_bcr: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def holder_id(self) -> int | None:
        """The caller's own passport, for a linked holder."""
        if self.role is Role.HOLDER and self.account is not None:
            return self.account.holder_id
        return None

    def own_holder_id(self) -> int:
        """The caller's passport, or `HolderNotLinked`."""
        if self.holder_id is None:
            status = self.account.link_status if self.account else None
            raise HolderNotLinked(
                "This login is not linked to a passport"
                + (f" ({status})" if status else "")
                + ": the identity sent by FranceConnect matches no single person of the "
                "identity directory."
            )
        return self.holder_id


@dataclass(frozen=True)
class AccessRule:
    """How a view is protected (read by the authorisation matrix test)."""

    scopes: frozenset[str]
    roles: frozenset[Role]
    #: The object-level rule enforced by the view's service (None: no object in the path).
    objects: str | None


#: Every protected view, by qualified name.
ACCESS: dict[str, AccessRule] = {}


def _deny(status: int, code: str, detail: str, scope: str | None = None) -> AccessDenied:
    log.warning("access denied: %s on %s %s (%s)", code, request.method, request.path, detail)
    return AccessDenied(status, code, detail, scope=scope)


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise _deny(401, "missing_token", "A bearer access token is required")
    if scheme.lower() != "bearer" or not token.strip():
        raise _deny(401, "invalid_request", "Use the Authorization: Bearer scheme")
    return token.strip()


# Every request runs one of these: the token's subject and whether the token was revoked, in
# one round trip.  Built once, with parameters: building them cost more than running them.
_REVOKED = (sa.select(RevokedAccessToken.jti)
            .where(RevokedAccessToken.jti == sa.bindparam("jti")).exists())
_CLIENT = (sa.select(OAuthClient, _REVOKED)
           .where(OAuthClient.client_id == sa.bindparam("client_id")))
_ACCOUNT = sa.select(Account, _REVOKED).where(Account.public_id == sa.bindparam("public_id"))


def authenticate(scopes: Iterable[str] = ()) -> Actor:
    """Check the request's bearer token and return the actor (raises `AccessDenied`)."""
    settings: Settings = current_app.config["PASSPORT_SETTINGS"]
    keys = current_app.extensions["passport.keys"]
    token = _bearer()
    try:
        decoded = jwt.decode(token, keys.verification_keys, algorithms=[ALGORITHM])
    except (JoseError, ValueError) as exc:
        raise _deny(401, "invalid_token", f"Token signature or format rejected ({type(exc).__name__})"
                    ) from None
    if decoded.header.get("typ") != "at+jwt":
        raise _deny(401, "invalid_token", "Not an access token (typ must be at+jwt)")
    claims = dict(decoded.claims)
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY,
        iss={"essential": True, "value": settings.issuer},
        aud={"essential": True, "value": settings.api_audience},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
        jti={"essential": True},
        client_id={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise _deny(401, "invalid_token", f"Token rejected ({exc.error}: {exc.description})"
                    ) from None
    granted = frozenset(str(claims.get("scope", "")).split())
    missing = [s for s in scopes if s not in granted]
    if missing:
        raise _deny(403, "insufficient_scope", f"Scope {' '.join(missing)} is required",
                    scope=" ".join(scopes))
    try:
        role = Role(claims.get("roles", [None])[0])
    except ValueError:
        raise _deny(401, "invalid_token", "Token carries no known role") from None
    actor = Actor(role, claims["sub"], claims["client_id"], granted, claims["jti"], claims=claims)
    if role is Role.CERTIFIER:
        client, is_revoked = session().execute(
            _CLIENT, {"client_id": claims["client_id"], "jti": claims["jti"]}
        ).first() or (None, False)
        _check_revoked(is_revoked)
        if client is None or client.disabled_at is not None or client.role is not Role.CERTIFIER:
            raise _deny(401, "invalid_token", "Client unknown or disabled")
        return Actor(role, actor.subject, actor.client_id, granted, actor.jti,
                     certifier_bcr=client.client_id, claims=claims)
    account, is_revoked = session().execute(
        _ACCOUNT, {"public_id": claims["sub"], "jti": claims["jti"]}
    ).first() or (None, False)
    _check_revoked(is_revoked)
    if account is None or account.role is not role:
        raise _deny(401, "invalid_token", "Account unknown")
    return Actor(role, actor.subject, actor.client_id, granted, actor.jti, account=account,
                 claims=claims)


def _check_revoked(revoked: bool) -> None:
    if revoked:
        raise _deny(401, "invalid_token", "Token revoked")


def current_actor() -> Actor:
    """The actor of the current request (set by `protect`)."""
    return cast(Actor, g.actor)


def protect(*, scopes: Iterable[str] = (), roles: Iterable[Role] = (),
            objects: str | None = None) -> Callable[[F], F]:
    """Require a valid token with ``scopes``, one of ``roles`` (any if empty); declare the
    object-level rule the view's service applies to path parameters."""
    rule = AccessRule(frozenset(scopes), frozenset(roles), objects)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            actor = authenticate(rule.scopes)
            if rule.roles and actor.role not in rule.roles:
                raise _deny(403, "wrong_role",
                            f"This resource is for {', '.join(sorted(r.value for r in rule.roles))}")
            g.actor = actor
            return view(*args, **kwargs)

        wrapper.__passport_access__ = rule  # type: ignore[attr-defined]
        ACCESS[view.__qualname__] = rule
        # Document the requirement in the OpenAPI description (flask-smorest's manual doc).
        apidoc = wrapper.__dict__.setdefault("_apidoc", {})
        manual = apidoc.setdefault("manual_doc", {})
        manual["security"] = [{"bearerAuth": sorted(rule.scopes)}]
        responses = manual.setdefault("responses", {})
        responses.setdefault("401", "UNAUTHORIZED")  # problem+json (passport.web.errors)
        responses.setdefault("403", "FORBIDDEN")
        return cast(F, wrapper)

    return decorate


def public(view: F) -> F:
    """Mark a view as deliberately open to anyone (the matrix test accepts it)."""
    view.__passport_access__ = None  # type: ignore[attr-defined]
    return view
