"""Services on accounts and sessions, called with an explicit actor."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from passport.auth.access import Actor
from passport.auth.models import (
    AuthorizationCode,
    AuthorizationRequest,
    OAuthClient,
    RefreshToken,
    RevokedAccessToken,
)
from passport.cleanup import Leftovers
from passport.db import insert_missing, table_of, utcnow
from passport.errors import NotFound

#: Seconds an access token's issue time may differ from its refresh token's row.
CLOCK_SLACK = 60


def whoami(actor: Actor) -> dict[str, Any]:
    """What the caller may know about themselves."""
    account = actor.account
    return {
        "role": actor.role.value,
        "subject": actor.subject,
        "client_id": actor.client_id,
        "scopes": sorted(actor.scopes),
        "display_name": account.display_name if account else actor.certifier_bcr,
        "linked": (account.holder_id is not None) if account and actor.role.value == "holder"
        else None,
        "link_status": (account.link_status if account and account.holder_id is None else None)
        if actor.role.value == "holder" else None,
        "email": account.email if account else None,
        "siret": account.siret if account else None,
        "certifier_bcr": actor.certifier_bcr,
    }


@dataclass
class LoginSession:
    """One login (a refresh token family) of the caller."""

    id: str
    client_id: str
    client_name: str
    scope: str
    started_at: dt.datetime
    last_used_at: dt.datetime
    expires_at: dt.datetime
    user_agent: str | None


def _account_id(actor: Actor) -> int:
    if actor.account is None:
        raise NotFound("No such session.")  # certifiers have no login sessions
    return actor.account.id


def sessions(db: Session, actor: Actor) -> list[LoginSession]:
    """The caller's live logins (refresh token families), newest first."""
    now = utcnow()
    rows = db.scalars(
        sa.select(RefreshToken)
        .where(RefreshToken.account_id == _account_id(actor))
        .order_by(RefreshToken.issued_at)
    ).all()
    families: dict[str, list[RefreshToken]] = {}
    for row in rows:
        families.setdefault(row.family, []).append(row)
    names = dict(db.execute(sa.select(OAuthClient.client_id, OAuthClient.name)).all())
    found = []
    for family, tokens in families.items():
        live = [t for t in tokens if t.revoked_at is None and t.rotated_at is None
                and t.expires_at > now]
        if not live:
            continue
        first, last = tokens[0], live[-1]
        found.append(LoginSession(family, last.client_id, names.get(last.client_id, ""),
                                  last.scope, first.issued_at, last.issued_at, last.expires_at,
                                  last.user_agent))
    return sorted(found, key=lambda s: s.last_used_at, reverse=True)


def login_session(db: Session, actor: Actor, session_id: str) -> LoginSession:
    """One of the caller's sessions; anyone else's answers 404 (its existence is not told)."""
    for found in sessions(db, actor):
        if found.id == session_id:
            return found
    raise NotFound("No such session.")


def end_session(db: Session, actor: Actor, session_id: str, access_ttl: int) -> None:
    """Revoke one of the caller's logins (its tokens stop working at once)."""
    login_session(db, actor, session_id)
    revoke_logins(db, [session_id], access_ttl)


def revoke_logins(db: Session, families: Iterable[str] | sa.Select[Any],
                  access_ttl: int) -> int:
    """End logins (refresh token families): every refresh token of theirs, and the access
    tokens issued with them that may still be live. The number of refresh tokens revoked."""
    now = utcnow()
    ours = RefreshToken.family.in_(families)
    live = db.execute(sa.select(RefreshToken.access_jti, RefreshToken.issued_at).where(
        ours, RefreshToken.access_jti.is_not(None),
        RefreshToken.issued_at > now - dt.timedelta(seconds=access_ttl + CLOCK_SLACK))).all()
    if live:
        db.execute(insert_missing(db, table_of(RevokedAccessToken), "jti"), [
            {"jti": jti, "expires_at": issued + dt.timedelta(seconds=access_ttl + CLOCK_SLACK)}
            for jti, issued in live])
    done = db.execute(sa.update(RefreshToken).where(ours, RefreshToken.revoked_at.is_(None))
                      .values(revoked_at=now))
    return int(done.rowcount)  # type: ignore[attr-defined]


def leftovers(before: dt.datetime) -> list[Leftovers]:
    """What of the logins stopped serving before ``before`` (`passport.cleanup`).

    A login (refresh-token family) goes once none of its tokens is usable and none was
    used, rotated or revoked since; until then its rotated tokens are what tells a stolen
    one's reuse. A code goes once it expired and the login it gave goes (a replayed code
    revokes it while it is kept).
    """
    token, other = RefreshToken, aliased(RefreshToken)

    # NOT EXISTS, not NOT IN: PostgreSQL plans it as an anti-join however many logins.
    kept = sa.exists().where(other.family == token.family, sa.or_(
        sa.and_(other.revoked_at.is_(None), other.rotated_at.is_(None),
                other.expires_at > before),
        other.rotated_at > before, other.revoked_at > before))
    code = AuthorizationCode
    return [
        Leftovers("login requests never finished", AuthorizationRequest.id,
                  AuthorizationRequest.expires_at < before),
        Leftovers("refresh tokens of ended logins", token.id, ~kept),
        Leftovers("authorization codes", code.code_hash, sa.and_(
            code.expires_at < before,
            ~sa.exists().where(token.code_hash == code.code_hash, kept))),
        Leftovers("revoked access tokens since expired", RevokedAccessToken.jti,
                  RevokedAccessToken.expires_at < before),
    ]
