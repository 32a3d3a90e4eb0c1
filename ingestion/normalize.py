"""Name normalisation shared by NIRisation, the identity import and login linking."""

from __future__ import annotations

import unicodedata


def normalise(name: str | None) -> str:
    """Compare-ready form of a name: NFKD, marks dropped, upper case, letters only.

    ``Du-Pont``, ``DU PONT`` and ``Dupont`` give ``DUPONT``; ``Élise`` gives ``ELISE``;
    apostrophes, dots and repeated spaces vanish.
    """
    if not name:
        return ""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in decomposed if ch.isalpha()).upper()


def match_key(nom_naissance: str, prenom1: str, annee: int | str, sexe: str) -> str:
    """The indexed key of the mandatory criteria (birth place is compared afterwards)."""
    return f"{normalise(nom_naissance)}|{normalise(prenom1)}|{int(annee)}|{sexe}"
