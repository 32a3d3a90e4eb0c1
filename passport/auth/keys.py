"""The keys that sign our tokens (ES256) and the JWKS that publishes them.

The current key comes from ``PASSPORT_SIGNING_KEY``; retired keys from
``PASSPORT_SIGNING_OLD_KEYS`` stay published (and accepted) until the tokens they signed
have expired.  Without a configured key — development and tests only, production refuses
it — a key is generated once and kept in the instance directory, so tokens survive restarts.
"""

from __future__ import annotations

import logging
import os
from functools import cached_property
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, KeySet

from passport.config import Settings

log = logging.getLogger(__name__)
ALGORITHM = "ES256"


def _with_kid(key: ECKey) -> ECKey:
    """The RFC 7638 thumbprint as ``kid``: stable, derived from the public key."""
    data = key.as_dict(private=key.is_private)
    data.pop("kid", None)
    return ECKey.import_key(data, {"kid": key.thumbprint(), "use": "sig", "alg": ALGORITHM})


def _development_key(instance_dir: Path) -> ECKey:
    path = instance_dir / "dev-signing-key.pem"
    if path.exists():
        return ECKey.import_key(path.read_bytes())
    key = ECKey.generate_key("P-256", private=True)
    instance_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.as_pem(private=True))
    log.warning("generated a development signing key in %s (never in production)", path)
    return key


class KeyRing:
    """The current signing key and every key still published."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @cached_property
    def current(self) -> ECKey:
        """The private key signing new tokens."""
        pem = self._settings.signing_key_pem
        key = ECKey.import_key(pem.encode()) if pem else _development_key(
            self._settings.instance_dir.resolve()
        )
        if key.as_dict().get("crv") != "P-256":
            raise ValueError("the signing key must be an EC P-256 key (ES256)")
        return _with_kid(key)

    @cached_property
    def retired(self) -> list[ECKey]:
        """Former keys: public parts only, to verify the tokens they signed."""
        keys = []
        for pem in self._settings.signing_old_keys_pem:
            key = ECKey.import_key(pem.encode())
            keys.append(_with_kid(ECKey.import_key(key.as_dict(private=False))))
        return keys

    def public_jwks(self) -> dict[str, Any]:
        """The JWKS document served at ``/.well-known/jwks.json``."""
        keys = [self.current.as_dict(private=False), *(k.as_dict(private=False) for k in self.retired)]
        return {"keys": keys}

    @cached_property
    def verification_keys(self) -> KeySet:
        """Every key a token we issued may be signed with (built once: every request
        checks a token with them, and importing the set costs ~70 µs)."""
        return KeySet.import_key_set(self.public_jwks())  # type: ignore[arg-type]
