"""Development only: a small public client that logs in through our authorization server.

``GET /demo`` serves a page whose script does exactly what a real front end must: PKCE
(S256), ``state``, the redirect to ``/oauth/authorize`` (which goes on to the local
FranceConnect or ProConnect stand-in), the code exchange at ``/oauth/token`` and a call to
``/api/v1/me``.  Registered only when ``PASSPORT_ENV=development``.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

from flask import Blueprint, Response, render_template

from passport.config import Settings

bp = Blueprint("demo", __name__)
CLIENT_ID = "passport-demo"


@bp.get("/demo")
@bp.get("/demo/callback")
def page() -> Response:
    """The demo client (the callback is the same page, which finishes the flow)."""
    response = Response(render_template("demo.html", client_id=CLIENT_ID))
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'")
    response.headers["Cache-Control"] = "no-store"
    return response


def stand_in() -> ModuleType:
    """The local OpenID provider playing FranceConnect and ProConnect (``oidc_provider_mock``,
    of the test extra; ImportError without it). It imports Authlib modules that Authlib has
    deprecated, and Authlib's own filter says "always": two warnings that are not ours, in
    the middle of what `make run` prints and in every test run's summary. They are recorded
    and dropped around this import only."""
    with warnings.catch_warnings(record=True):
        import oidc_provider_mock
    return oidc_provider_mock


def demo_users(identities: Path, settings: Settings) -> tuple[list[Any], list[Any]]:
    """Users for the local providers: the first demo holders (pivot identities taken from
    the directory, so they link), one holder the directory does not know, an advisor and an
    analyst (the first analyst of ``PASSPORT_ANALYSTS``, or a default one)."""
    from oidc_provider_mock import User

    holders = []
    with identities.open(encoding="utf-8") as fh:
        for n, row in zip(range(5), csv.DictReader(fh), strict=False):
            born_abroad = (row["code_insee_naissance"] or "").startswith("99")
            given = " ".join(filter(None, [row["prenom1"], row["prenom2"], row["prenom3"]]))
            claims = {
                "given_name": given, "family_name": row["nom_naissance"],
                "preferred_username": row["nom_usage"] or row["nom_naissance"],
                "birthdate": f"{row['annee_naissance']}-{int(row['mois_naissance'] or 0):02d}-"
                             f"{int(row['jour_naissance'] or 0):02d}",
                "gender": "male" if row["sexe"] == "M" else "female",
                "birthplace": "" if born_abroad else row["code_insee_naissance"],
                "birthcountry": row["code_insee_naissance"] if born_abroad else "99100",
                "acr": "eidas2",
            }
            holders.append(User(sub=f"demo-titulaire-{n + 1}", claims=claims))
    holders.append(User(sub="demo-inconnu", claims={
        "given_name": "Camille", "family_name": "Inconnue", "birthdate": "1990-01-01",
        "gender": "female", "birthplace": "75056", "birthcountry": "99100", "acr": "eidas2"}))
    analyst = min(settings.analysts) if settings.analysts else "analyste@example.gouv.fr"
    staff = [
        User(sub="demo-conseiller", claims={
            "email": "conseillere@cep-demo.example", "given_name": "Claire",
            "usual_name": "Martin", "siret": "13002526500013", "uid": "claire.martin"}),
        User(sub="demo-analyste", claims={
            "email": analyst, "given_name": "Ana", "usual_name": "Lyse",
            "siret": "13001727000013", "uid": "ana.lyse"}),
    ]
    return holders, staff
