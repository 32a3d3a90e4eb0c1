"""The NIR (social-security number): validation, keyed pseudonym and encryption at rest.

Rules (docs/architecture.md, "Personal data"): lookups use ``HMAC-SHA256(lookup key, NIR)``;
the clear NIR is stored only AES-GCM encrypted, with the key id beside it for rotation;
keys come from `passport.config.Settings`, never from the database.  Nothing in this module
logs, and exceptions never carry the number itself.
"""

from __future__ import annotations

import hmac
import os
import re
from hashlib import sha256

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from stdnum.exceptions import ValidationError
from stdnum.fr import nir as stdnum_nir

from passport.config import Settings

#: A 15-character NIR with its key, as found in free text (used by the leak scans).
NIR_SHAPE = re.compile(r"(?<![0-9A-Za-z])[1-478][0-9]{4}(?:2[AB]|[0-9]{2})[0-9]{8}(?![0-9A-Za-z])")
_NIR13 = re.compile(r"[12][0-9]{4}(?:2[AB]|[0-9]{2})[0-9]{6}")
#: What a NIR's ciphertext is bound to (AES-GCM associated data).
NIR_PURPOSE = b"passport:nir:v1"


class InvalidNir(ValueError):
    """The value is not a valid 15-character NIR; the message never repeats the value."""


def validate(value: str) -> str:
    """Return the NIR if it is 15 characters with a correct key (python-stdnum), else raise.

    Stricter than stdnum on form: no separators, and the first character must be a sex
    digit (1, 2, or 7/8 for provisional numbers, NIA).
    """
    if len(value) != 15:
        raise InvalidNir("a NIR has 15 characters (13 + a 2-digit key)")
    if value[0] not in "1278":
        raise InvalidNir("a NIR starts with 1, 2 (or 7, 8 for a provisional number)")
    try:
        return str(stdnum_nir.validate(value))
    except ValidationError as exc:
        reason = str(getattr(exc, "message", "")).lower().rstrip(".")
        raise InvalidNir(f"invalid NIR ({reason})") from None


def with_key(nir13: str) -> str:
    """Complete a 13-character NIR (as sent in ``identifiantNational``) with its key."""
    if not _NIR13.fullmatch(nir13):
        raise InvalidNir("a NIR without key has 13 characters")
    return nir13 + stdnum_nir.calc_check_digits(nir13)


def is_shaped(text: str) -> bool:
    """True when ``text`` contains a 15-character NIR with a valid key (leak detection)."""
    return any(stdnum_nir.is_valid(m.group(0)) for m in NIR_SHAPE.finditer(text))


#: What `masked` puts in place of a NIR.
MASK = "[NIR masqué]"


def masked(text: str) -> str:
    """``text`` with every 15-character NIR with a valid key replaced by `MASK`."""
    return NIR_SHAPE.sub(
        lambda m: MASK if stdnum_nir.is_valid(m.group(0)) else m.group(0), text)


class NirVault:
    """Keyed pseudonyms and authenticated encryption for NIRs, with key rotation."""

    def __init__(self, settings: Settings) -> None:
        self._hmac_key = settings.nir_hmac_key
        self.key_id = settings.nir_encryption_key_id
        self._ciphers = {kid: AESGCM(key) for kid, key in settings.nir_encryption_keys.items()}

    def pseudonym(self, nir: str) -> str:
        """The lookup key of a NIR: hex HMAC-SHA256 under the configured key."""
        return hmac.new(self._hmac_key, nir.encode("ascii"), sha256).hexdigest()

    def encrypt(self, nir: str) -> bytes:
        """Encrypt with the current key: 12-byte random nonce followed by the ciphertext."""
        return self.encrypt_value(nir, NIR_PURPOSE)

    def decrypt(self, key_id: str, blob: bytes) -> str:
        """Decrypt a value stored under ``key_id`` (any key still in the keyring)."""
        return self.decrypt_value(key_id, blob, NIR_PURPOSE)

    def encrypt_value(self, value: str, purpose: bytes) -> bytes:
        """Encrypt another secret kept for its owner (``purpose`` binds it to its use)."""
        nonce = os.urandom(12)
        return nonce + self._ciphers[self.key_id].encrypt(nonce, value.encode(), purpose)

    def decrypt_value(self, key_id: str, blob: bytes, purpose: bytes) -> str:
        """Inverse of `encrypt_value` (a value encrypted for another purpose fails)."""
        try:
            cipher = self._ciphers[key_id]
        except KeyError:
            raise LookupError(f"encryption key {key_id!r} is not configured") from None
        return cipher.decrypt(blob[:12], blob[12:], purpose).decode()

    def has_key(self, key_id: str) -> bool:
        """Whether values stored under ``key_id`` can be read."""
        return key_id in self._ciphers

    def reencrypt(self, key_id: str, blob: bytes, purpose: bytes) -> bytes:
        """The same value, encrypted under the current key (for `passport.rekey`)."""
        return self.encrypt_value(self.decrypt_value(key_id, blob, purpose), purpose)
