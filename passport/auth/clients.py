"""OAuth client registry: front ends (public, PKCE) and certifiers (client credentials)."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport.auth.keys import KeyRing
from passport.auth.models import ALL_SCOPES, ROLE_SCOPES, Account, OAuthClient, Role
from passport.auth.server import AccessTokens, Client, hash_secret, new_secret
from passport.config import Settings
from passport.db import utcnow
from passport.holders.service import holder_ids
from passport.nir import NirVault, validate

_BCR = re.compile(r"[A-Z0-9]{8}")
_CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{3,64}")
DEV_ISSUER = "urn:passport:dev"


class ClientError(ValueError):
    """A client registration that cannot be made."""


def add_certifier_client(db: Session, bcr: str, name: str | None = None, *,
                         rotate: bool = False) -> str:
    """Register (or, with ``rotate``, give a new secret to) a certifier or mandated
    depositor; return the secret, shown once and stored only hashed."""
    if not _BCR.fullmatch(bcr):
        raise ClientError(f"--bcr must be an 8-character BCR (A-Z, 0-9), got {bcr!r}")
    client = db.get(OAuthClient, bcr)
    if client is not None and not rotate:
        raise ClientError(f"client {bcr} exists; use --rotate-secret to issue a new secret")
    secret = new_secret()
    if client is None:
        client = OAuthClient(client_id=bcr, name=name or bcr, redirect_uris=[],
                             grant_types=["client_credentials"],
                             scope=" ".join(sorted(ROLE_SCOPES[Role.CERTIFIER])),
                             role=Role.CERTIFIER)
        db.add(client)
    client.secret_hash = hash_secret(secret)
    if name:
        client.name = name
    db.flush()
    return secret


def add_app(db: Session, client_id: str, name: str, redirect_uris: list[str], *,
            confidential: bool = False, scopes: list[str] | None = None) -> str | None:
    """Register a front end for the authorization code flow; return its secret if
    confidential (public clients — browsers, mobile apps — have none and must use PKCE)."""
    if not _CLIENT_ID.fullmatch(client_id) or _BCR.fullmatch(client_id):
        raise ClientError("client id: 3-64 of A-Z a-z 0-9 . _ - (and not shaped like a BCR)")
    if not redirect_uris:
        raise ClientError("at least one --redirect-uri is needed")
    for uri in redirect_uris:
        parts = urlsplit(uri)
        local = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not local):
            raise ClientError(f"redirect URI must be https (or http on loopback): {uri}")
        if parts.fragment:
            raise ClientError(f"redirect URI may not have a fragment: {uri}")
    wanted = set(scopes or ALL_SCOPES - ROLE_SCOPES[Role.CERTIFIER])
    if unknown := wanted - ALL_SCOPES:
        raise ClientError(f"unknown scope(s): {', '.join(sorted(unknown))}")
    if db.get(OAuthClient, client_id) is not None:
        raise ClientError(f"client {client_id} already exists")
    secret = new_secret() if confidential else None
    db.add(OAuthClient(
        client_id=client_id, name=name, redirect_uris=redirect_uris,
        grant_types=["authorization_code", "refresh_token"], scope=" ".join(sorted(wanted)),
        secret_hash=hash_secret(secret) if secret else None))
    db.flush()
    return secret


def ensure_demo_client(db: Session, settings: Settings) -> None:
    """The development demo page's public client (idempotent)."""
    if db.get(OAuthClient, "passport-demo") is None:
        uris = sorted({f"{settings.issuer}/demo/callback", "http://127.0.0.1:5000/demo/callback",
                       "http://localhost:5000/demo/callback"})
        add_app(db, "passport-demo", "Passeport — page de démonstration", uris)


def disable(db: Session, client_id: str) -> None:
    """Stop a client: its tokens are refused at the next request."""
    client = db.get(OAuthClient, client_id)
    if client is None:
        raise ClientError(f"no client {client_id}")
    client.disabled_at = utcnow()


def dev_token(db: Session, settings: Settings, keys: KeyRing, *, role: Role, value: str,
              scope: str | None = None) -> str:
    """A token for development and demos, minted without a login (never in production)."""
    if not settings.dev_tools:
        raise ClientError("passport dev token only works with PASSPORT_ENV=development")
    allowed = ROLE_SCOPES[role]
    wanted = set(scope.split()) if scope else set(allowed)
    if extra := wanted - allowed:
        raise ClientError(f"a {role.value} cannot have {', '.join(sorted(extra))}")
    tokens = AccessTokens(settings, keys)
    if role is Role.CERTIFIER:
        if db.get(OAuthClient, value) is None:
            add_certifier_client(db, value, f"{value} (development)")
        return str(tokens.encode(Client(db.get(OAuthClient, value)),  # type: ignore[arg-type]
                                 "client_credentials", None, " ".join(sorted(wanted))))
    holder_id = siret = email = None
    if role is Role.HOLDER:
        vault = NirVault(settings)
        nir = validate(value)
        pseudonym = vault.pseudonym(nir)
        subject = f"holder:{pseudonym[:16]}"  # never the NIR itself
        holder_id = holder_ids(db, [pseudonym],
                               lambda _k: (vault.encrypt(nir), vault.key_id))[pseudonym]
    elif role is Role.ADVISOR:
        siret, _, email = value.partition(":")
        if not re.fullmatch(r"[0-9]{14}", siret) or "@" not in email:
            raise ClientError("--advisor takes SIRET:EMAIL (14 digits, then an email)")
        email = email.lower()
        subject = f"advisor:{email}"
    else:
        if "@" not in value:
            raise ClientError("--analyst takes an email")
        email = value.lower()
        subject = f"analyst:{email}"
    # The same identity gets the same account each time (the subject is its key).
    account = db.scalar(sa.select(Account).where(Account.issuer == DEV_ISSUER,
                                                 Account.subject == subject))
    if account is None:
        account = Account(public_id=str(uuid.uuid4()), role=role, issuer=DEV_ISSUER,
                          subject=subject)
        db.add(account)
    if role is Role.HOLDER:
        account.holder_id = holder_id
        account.display_name = "Titulaire (développement)"
    elif role is Role.ADVISOR:
        account.siret, account.email = siret, email
    else:
        account.email = email
    db.flush()
    demo = db.get(OAuthClient, "passport-demo")
    if demo is None:
        ensure_demo_client(db, settings)
        demo = db.get(OAuthClient, "passport-demo")
    assert demo is not None
    return str(tokens.encode(Client(demo), "authorization_code", account, " ".join(sorted(wanted))))
