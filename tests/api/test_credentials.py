"""Open Badges 3.0 credentials: verified with another JWT library (PyJWT) against our
published JWKS; the Bitstring Status List turns a withdrawn item into a revoked credential,
and verifiers download the whole list."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from passport.credentials.service import LIST_SIZE, encode_bits
from tests.api.builders import at_once
from tests.flux import document, passage
from tests.helpers import ingest
from tests.oauth import bearer


def verify(client: FlaskClient, token: str) -> dict[str, Any]:
    """Check a JWT the way an outside verifier would: with our JWKS and PyJWT."""
    jwks = pyjwt.PyJWKSet.from_dict(client.get("/.well-known/jwks.json").json)
    kid = pyjwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    return pyjwt.decode(token, key=key.key, algorithms=["ES256"],
                        options={"verify_aud": False, "require": ["iss", "nbf", "jti"]})


def bit(encoded: str, index: int) -> int:
    assert encoded.startswith("u")  # multibase base64url
    raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert len(raw) * 8 == LIST_SIZE
    return (raw[index // 8] >> (7 - index % 8)) & 1


def items_of(client: FlaskClient, token: str) -> dict[str, dict[str, Any]]:
    items = client.get("/api/v1/me/passport/certifications?page_size=50",
                       headers=bearer(token)).json["items"]
    return {i["option"] or i["mention"] or i["code"]: i for i in items}


def test_bitstring_encoding_by_hand() -> None:
    # Index 0 is the most significant bit of the first byte; 9 the second of the second.
    raw = gzip.decompress(base64.urlsafe_b64decode(encode_bits([0, 9], 16)[1:] + "=="))
    assert raw == bytes([0b1000_0000, 0b0100_0000])


def test_credential_verifies_and_is_revoked_on_withdrawal(
        app: Flask, client: FlaskClient, holder: dict[str, Any],
        committed: sessionmaker[Session], tmp_path: Path) -> None:
    web = next(i for i in items_of(client, holder["token"]).values()
               if i["option"] == "Option web")
    response = client.get(f"/api/v1/me/credentials/{web['id']}", headers=bearer(holder["token"]))
    assert response.status_code == 200
    claims = verify(client, response.json["jwt"])
    vc = claims["vc"]
    assert vc["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json" in vc["@context"]
    assert claims["iss"] == vc["issuer"]["id"] == "http://localhost/credentials/issuer"
    achievement = vc["credentialSubject"]["achievement"]
    assert achievement["humanCode"] == "RNCP34762" and achievement["type"] == ["Achievement"]
    assert vc["validFrom"] == "2024-07-01T00:00:00Z"
    # The holder's name is only there salted and hashed.
    [identity] = vc["credentialSubject"]["identifier"]
    assert identity["hashed"] and "Dupont" not in str(vc)
    status = vc["credentialStatus"]
    assert status["type"] == "BitstringStatusListEntry" and status["statusPurpose"] == "revocation"
    index = int(status["statusListIndex"])
    list_path = status["statusListCredential"].removeprefix("http://localhost")

    def revoked() -> int:
        listed = client.get(list_path)
        assert listed.status_code == 200 and listed.content_type == "application/vc+jwt"
        subject = verify(client, listed.get_data(as_text=True))["vc"]["credentialSubject"]
        assert subject["type"] == "BitstringStatusList"
        return bit(subject["encodedList"], index)

    assert revoked() == 0
    # Asking again gives the same status entry (one per item).
    again = client.get(f"/api/v1/me/credentials/{web['id']}", headers=bearer(holder["token"]))
    assert again.json["credential"]["credentialStatus"]["statusListIndex"] == str(index)
    # The certifier withdraws the item: verifiers now read it as revoked.
    settings = app.config["PASSPORT_SETTINGS"]
    ingest(committed, settings, tmp_path, document(
        [passage("VALID")], action="SUPPRESSION", id_flux="del-web"), "del-web.xml")
    assert revoked() == 1
    assert client.get(f"/api/v1/me/credentials/{web['id']}",
                      headers=bearer(holder["token"])).status_code == 404


@pytest.mark.parametrize("who", ["other", "withdrawn", "missing"])
def test_no_credential_for_what_is_not_mine_and_visible(
        client: FlaskClient, holder: dict[str, Any], who: str) -> None:
    mine = client.get("/api/v1/me/passport/certifications?page_size=50&include_withdrawn=true",
                      headers=bearer(holder["token"])).json["items"]
    target = {"other": (mine[0]["id"], holder["other"]),
              "missing": (999_999, holder["token"])}.get(who)
    if who == "withdrawn":
        withdrawn = [i for i in mine if i["status"] == "retiree"]
        if not withdrawn:
            pytest.fail("the holder fixture has a withdrawn item (WITHDRAWN)")
        target = (withdrawn[0]["id"], holder["token"])
    assert target is not None
    response = client.get(f"/api/v1/me/credentials/{target[0]}", headers=bearer(target[1]))
    assert response.status_code == 404 and response.json["code"] == "not_found"


def test_first_issues_at_once_share_one_status_entry(app: Flask, client: FlaskClient,
                                                     holder: dict[str, Any]) -> None:
    """A double click on a new item's credential: both answers, one status list entry."""
    web = next(i for i in items_of(client, holder["token"]).values()
               if i["option"] == "Option web")
    answers = at_once(app, lambda c: c.get(f"/api/v1/me/credentials/{web['id']}",
                                           headers=bearer(holder["token"])))
    assert [a.status_code for a in answers] == [200] * len(answers)
    assert len({a.json["credential"]["credentialStatus"]["statusListIndex"]
                for a in answers}) == 1


def test_no_credential_for_a_provisional_result(client: FlaskClient,
                                                holder: dict[str, Any]) -> None:
    items = client.get("/api/v1/me/passport/certifications?page_size=50",
                       headers=bearer(holder["token"])).json["items"]
    provisional = next(i for i in items if i["status"] == "provisoire")
    response = client.get(f"/api/v1/me/credentials/{provisional['id']}",
                          headers=bearer(holder["token"]))
    assert response.status_code == 409 and response.json["code"] == "provisional_result"
    assert response.content_type == "application/problem+json"


def test_issuer_profile_and_unknown_list(client: FlaskClient) -> None:
    profile = client.get("/credentials/issuer").json
    assert profile["type"] == ["Profile"] and profile["id"].endswith("/credentials/issuer")
    assert client.get("/credentials/status/42").status_code == 404
