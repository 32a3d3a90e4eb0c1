"""Name normalisation shared by NIRisation, the identity import and login linking."""

from __future__ import annotations

import unicodedata
from functools import lru_cache


@lru_cache(maxsize=65536)
def _normalise(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in decomposed if ch.isalpha()).upper()


def normalise(name: str | None) -> str:
    """Compare-ready form of a name: NFKD, marks dropped, upper case, letters only.

    ``Du-Pont``, ``DU PONT`` and ``Dupont`` give ``DUPONT``; ``Élise`` gives ``ELISE``;
    apostrophes, dots and repeated spaces vanish.
    """
    # Cached: names repeat a lot (a few thousand family names cover most people).
    return _normalise(name) if name else ""


def match_key(nom_naissance: str, prenom1: str, annee: int | str, sexe: str) -> str:
    """The indexed key of the mandatory criteria (birth place is compared afterwards)."""
    return f"{normalise(nom_naissance)}|{normalise(prenom1)}|{int(annee)}|{sexe}"
