"""From an upstream identity to an account: holders are linked to their NIR through the
identity directory (the NIRisation rules), advisors and analysts by their ProConnect data."""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ingestion.nirisation import Found, Nirisation
from ingestion.normalize import match_key
from passport.auth.models import Account, Role
from passport.auth.upstream import UpstreamError
from passport.config import Settings
from passport.db import insert_missing, read_or_insert, table_of, utcnow
from passport.holders.service import holder_ids
from passport.nir import NirVault

log = logging.getLogger(__name__)
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_SIRET = re.compile(r"[0-9]{14}")
FRANCE = "99100"


@dataclass
class LoginUser:
    """The user Authlib binds a code to: the account and how it authenticated."""

    account: Account
    auth_time: dt.datetime
    acr: str | None

    def get_user_id(self) -> str:
        return self.account.public_id


def pivot_identity(claims: dict[str, Any]) -> tuple[Any, ...] | None:
    """The FranceConnect pivot identity as a NIRisation identity tuple (None if incomplete).

    ``given_name`` holds every first name, space-separated: the first one is matched.
    ``birthplace`` is the INSEE code (empty when born abroad, where ``birthcountry`` holds
    the ``99xxx`` code that the directory also uses as the birth place).
    """
    family = (claims.get("family_name") or "").strip()
    given = (claims.get("given_name") or "").split()
    birthdate = _DATE.fullmatch(claims.get("birthdate") or "")
    sex = {"male": "M", "female": "F"}.get(claims.get("gender") or "")
    if not family or not given or not birthdate or sex is None:
        return None
    year, month, day = (int(part) for part in birthdate.groups())
    country = claims.get("birthcountry") or FRANCE
    place = (claims.get("birthplace") or None) if country == FRANCE else country
    return ("titulaire", match_key(family, given[0], year, sex), place, month or None, day or None)


def _consistent(nir: str, claims: dict[str, Any]) -> bool:
    """Characters 1–10 of a NIR follow from the pivot identity (sex, year, month, place)."""
    birthdate = _DATE.fullmatch(claims.get("birthdate") or "")
    assert birthdate is not None
    year, month = birthdate.group(1), birthdate.group(2)
    sex = {"male": "1", "female": "2"}[claims["gender"]]
    if nir[0] in "12" and nir[0] != sex:
        return False
    if nir[1:3] != year[2:]:
        return False
    nir_month = int(nir[3:5])
    if month != "00" and 1 <= nir_month <= 12 and nir_month != int(month):
        return False
    born_in_france = (claims.get("birthcountry") or FRANCE) == FRANCE
    birthplace = claims.get("birthplace") or ""
    if born_in_france and birthplace and nir[5:7] != "99":
        return nir[5:10] == birthplace
    return True


def link_holder(session: Session, vault: NirVault, claims: dict[str, Any]) -> tuple[int | None, str]:
    """Find the holder of a pivot identity: ``(holder id, "linked")`` or ``(None, reason)``."""
    identity = pivot_identity(claims)
    if identity is None:
        return None, "incomplete_identity"
    [result] = Nirisation(session, vault).resolve([identity])
    if not isinstance(result, Found):
        return None, "several_matches" if result.code == "nirisation_plusieurs" else "no_match"
    assert result.nir_enc is not None and result.nir_key_id is not None
    if not _consistent(vault.decrypt(result.nir_key_id, result.nir_enc), claims):
        log.warning("pivot identity matched a directory record with an inconsistent NIR")
        return None, "inconsistent"
    if result.holder_id is not None:
        return result.holder_id, "linked"
    enc, key_id = result.nir_enc, result.nir_key_id
    return holder_ids(session, [result.nir_hmac], lambda _k: (enc, key_id))[result.nir_hmac], "linked"


def login_account(session: Session, settings: Settings, vault: NirVault, provider: str,
                  claims: dict[str, Any]) -> Account:
    """The account of an upstream identity, created or refreshed (and linked, for holders)."""
    upstream = settings.franceconnect if provider == "franceconnect" else settings.proconnect
    if provider == "franceconnect":
        role = Role.HOLDER
        name = " ".join(filter(None, [(claims.get("given_name") or "").split(" ")[0],
                                      claims.get("preferred_username") or claims.get("family_name")]))
    else:
        email = (claims.get("email") or "").strip().lower()
        if not email:
            raise UpstreamError("identity_incomplete", "ProConnect sent no email")
        role = Role.ANALYST if email in settings.analysts else Role.ADVISOR
        siret = claims.get("siret") or ""
        if role is Role.ADVISOR and not _SIRET.fullmatch(siret):
            raise UpstreamError("identity_incomplete",
                                "ProConnect sent no organisation SIRET for this advisor")
        name = " ".join(filter(None, [claims.get("given_name"), claims.get("usual_name")]))
    # A first login finishing in two tabs at once: one account (the insert leaves the
    # other's row alone; both then read it).
    account: Account = read_or_insert(
        session, sa.select(Account).where(Account.issuer == upstream.issuer,
                                          Account.subject == claims["sub"]),
        lambda: insert_missing(session, table_of(Account), "issuer", "subject").values(
            public_id=str(uuid.uuid4()), role=role, issuer=upstream.issuer,
            subject=claims["sub"], created_at=utcnow()),
        what=f"account of {provider} subject")
    if account.role is not role:
        # An analyst removed from the allow-list becomes an advisor again, and vice versa.
        account.role = role
    account.display_name = name or None
    if role is Role.HOLDER:
        if account.holder_id is None:
            account.holder_id, account.link_status = link_holder(session, vault, claims)
    else:
        account.email = claims.get("email", "").strip().lower()
        account.siret = claims.get("siret") if role is Role.ADVISOR else None
        account.link_status = None
    account.last_login_at = utcnow()
    session.flush()
    return account
