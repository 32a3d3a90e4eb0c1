"""Rotating the token signing key (docs/auth.md): tokens and credentials signed with the
retired key keep verifying while its public part is published, new ones use the new key,
and the private part of the retired key is not needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt as pyjwt
from flask import Flask
from joserfc.jwk import ECKey

from passport.config import Settings
from tests.api.fixtures import auth_environment
from tests.api.test_credentials import items_of, verify
from tests.oauth import bearer


def kid_of(token: str) -> str:
    return str(pyjwt.get_unverified_header(token)["kid"])


def test_a_retired_keys_public_part_keeps_its_tokens_and_credentials_valid(
        app: Flask, make_app: Any, holder: dict[str, Any], database_url: str, tmp_path: Path,
        providers: dict[str, str]) -> None:
    before = app.test_client()
    web = next(i for i in items_of(before, holder["token"]).values()
               if i["option"] == "Option web")
    issued = before.get(f"/api/v1/me/credentials/{web['id']}", headers=bearer(holder["token"]))
    assert issued.status_code == 200
    credential = issued.json["jwt"]
    retired_kid = kid_of(credential)
    assert kid_of(holder["token"]) == retired_kid
    retired = ECKey.import_key((app.config["PASSPORT_SETTINGS"].instance_dir
                                / "dev-signing-key.pem").read_bytes())

    new = ECKey.generate_key("P-256")
    rotated = make_app(Settings.from_env(auth_environment(
        database_url, tmp_path, providers,
        PASSPORT_SIGNING_KEY=new.as_pem(private=True).decode(),
        PASSPORT_SIGNING_OLD_KEYS=retired.as_pem(private=False).decode())))
    after = rotated.test_client()
    kids = [k["kid"] for k in after.get("/.well-known/jwks.json").json["keys"]]
    assert kids[1:] == [retired_kid] and kids[0] != retired_kid
    assert all("d" not in k for k in after.get("/.well-known/jwks.json").json["keys"])
    # The token signed before the rotation is still accepted, the credential still verifies.
    assert after.get("/api/v1/me/passport", headers=bearer(holder["token"])).status_code == 200
    assert verify(after, credential)["vc"]["credentialSubject"]["achievement"][
        "humanCode"] == "RNCP34762"
    fresh = after.get(f"/api/v1/me/credentials/{web['id']}", headers=bearer(holder["token"]))
    assert kid_of(fresh.json["jwt"]) == kids[0]

    # Without the retired key published, both fail: the reason it must stay (docs/auth.md).
    dropped = make_app(Settings.from_env(auth_environment(
        database_url, tmp_path, providers,
        PASSPORT_SIGNING_KEY=new.as_pem(private=True).decode()))).test_client()
    assert dropped.get("/api/v1/me/passport", headers=bearer(holder["token"])).status_code == 401
    assert retired_kid not in [k["kid"] for k in dropped.get("/.well-known/jwks.json").json["keys"]]
