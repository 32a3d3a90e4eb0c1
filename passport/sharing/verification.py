"""Verification codes of attested items, and their signed attestations (JWS, ES256).

A code is 10 characters of Crockford's base32 (no I, L, O, U), printed ``XXXXX-XXXXX``:
50 bits, so that with 10 million codes in use a guess succeeds once in about 10^8 tries,
and guesses are rate-limited. Typing is forgiving (case, dashes, O for 0, I/L for 1).
The attestation is a JWT signed with the service key published in our JWKS: anyone can
check an item offline, with its status on the day it was signed; ``/api/v1/verify/{code}``
tells whether it is still valid.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import sqlalchemy as sa
from joserfc import jwt
from sqlalchemy.orm import Session

from passport.auth.keys import ALGORITHM, KeyRing
from passport.config import Settings
from passport.db import insert_missing, read_or_insert, table_of, utcnow
from passport.sharing.models import VerificationCode

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 10
_TYPOS = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_code() -> str:
    """A fresh random code (no separator)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def display(code: str) -> str:
    """``ABCDE-FGHJK``."""
    return f"{code[:5]}-{code[5:]}"


def clean(typed: str) -> str:
    """A typed code as stored: upper case, no separators, O read as 0, I and L as 1."""
    return typed.upper().replace("-", "").replace(" ", "").translate(_TYPOS)


def normalise(typed: str) -> str | None:
    """The stored form of a typed verification code, or None if it cannot be one."""
    cleaned = clean(typed)
    if len(cleaned) != LENGTH or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


def code_for(db: Session, passage_id: int, holder_id: int) -> str:
    """The verification code of an attested item, created on first use.

    Two first uses at once (two CVs made together, a share and a CV) would both create
    one: the insert leaves a row another transaction made alone (for this item, or by
    chance with the same code) and the code is read back.
    """
    return str(read_or_insert(
        db, sa.select(VerificationCode.code).where(VerificationCode.passage_id == passage_id),
        lambda: insert_missing(db, table_of(VerificationCode)).values(
            code=new_code(), passage_id=passage_id, holder_id=holder_id, created_at=utcnow()),
        what=f"verification code of passage {passage_id}"))


def verification_url(settings: Settings, code: str) -> str:
    return f"{settings.issuer}/verifier/{display(code)}"


def attestation(settings: Settings, keys: KeyRing, code: str, facts: dict[str, Any],
                status: str) -> str:
    """A JWS over the item's canonical facts (what ``/verify`` also answers) and its status
    when signed (``valide``, ``provisoire``, ``expiree``, ``retiree``): an attestation
    signed after a withdrawal says so, offline too."""
    key = keys.current
    claims = {
        "iss": settings.issuer,
        "iat": int(time.time()),
        "jti": code,
        "verification_url": verification_url(settings, code),
        "item": facts,
        "verdict": {"status": status, "valid": status == "valide"},
    }
    header = {"alg": ALGORITHM, "kid": key.kid, "typ": "passport-attestation+jwt"}
    return jwt.encode(header, claims, key, algorithms=[ALGORITHM])
