"""Shares: creation and validation, what recipients see (JSON and page), expiry, view
limits, revocation, access codes and their brute force, verification codes and the signed
attestations (JWS) of attested items."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import ECKey, KeySet
from sqlalchemy.orm import Session, sessionmaker

from passport.db import unit_of_work, utcnow
from passport.journal.models import JournalEntry
from passport.records.models import Passage
from passport.sharing.models import Share
from tests.oauth import bearer

SHARES = "/api/v1/me/shares"
BROWSER_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0 Safari/537.36")


def items_of(client: FlaskClient, token: str) -> dict[str, Any]:
    """The holder's attested items by status/option, and declared items."""
    passport = client.get("/api/v1/me/passport", headers=bearer(token),
                          query_string={"include_withdrawn": "true"}).json
    certs = passport["certifications"]["items"]
    return {
        "valid": next(i for i in certs if i["option"] == "Option web"),
        "expired": next(i for i in certs if i["status"] == "expiree"),
        "withdrawn": next(i for i in certs if i["status"] == "retiree"),
        "digital": next(i for i in certs if i["digital"]),
    }


def declare(client: FlaskClient, token: str, **data: Any) -> int:
    body = {"kind": "experience", "title": "Développeuse web", "organisation": "Dupont SA",
            "start_date": "2020-01-01", "end_date": "2023-06-30",
            "description": "Applications Flask", "skills": ["Python", "SQL"], **data}
    response = client.post("/api/v1/me/declarations", json=body, headers=bearer(token))
    assert response.status_code == 201, response.get_data(as_text=True)
    return int(response.json["id"])


def share(client: FlaskClient, token: str, **body: Any) -> dict[str, Any]:
    response = client.post(SHARES, json=body, headers=bearer(token))
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json  # type: ignore[no-any-return]


def token_of(created: dict[str, Any]) -> str:
    return str(created["token"])


def journal(client: FlaskClient, token: str, **query: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/me/journal", headers=bearer(token), query_string=query)
    assert response.status_code == 200
    return response.json["items"]  # type: ignore[no-any-return]


@pytest.fixture
def shared(client: FlaskClient, holder: dict[str, Any]) -> dict[str, Any]:
    """A share of one attested item (mention masked) and one declaration (description
    masked)."""
    items = items_of(client, holder["token"])
    declaration = declare(client, holder["token"])
    created = share(client, holder["token"], label="Candidature Dupont SA", shown_name="Antoine D.",
                    items=[{"kind": "certification", "id": items["valid"]["id"],
                            "masked_fields": ["mention"]},
                           {"kind": "declaration", "id": declaration,
                            "masked_fields": ["description"]}])
    return {"share": created, "items": items, "declaration": declaration}


# -- creating and managing ---------------------------------------------------------------------
def test_a_share_has_an_unguessable_link_and_its_settings(
        client: FlaskClient, holder: dict[str, Any], shared: dict[str, Any]) -> None:
    created = shared["share"]
    token = token_of(created)
    assert len(token) >= 32  # 24 random bytes, base64url: 192 bits
    assert created["url"] == f"http://localhost/s/{token}"
    assert created["status"] == "active" and created["view_count"] == 0
    assert created["access_code_required"] is False
    expires = dt.datetime.fromisoformat(created["expires_at"])
    assert abs((expires - utcnow()) - dt.timedelta(days=30)) < dt.timedelta(minutes=1)
    assert [i["kind"] for i in created["items"]] == ["certification", "declaration"]
    listed = client.get(SHARES, headers=bearer(holder["token"])).json
    assert [s["id"] for s in listed] == [created["id"]]
    assert listed[0]["token"] == token  # kept (encrypted) so the holder can copy it again
    # Tokens are looked up by hash: not stored in clear.
    assert token not in json.dumps(str(client.application.extensions))


def test_all_visible_shares_every_item_not_hidden_nor_withdrawn(
        client: FlaskClient, holder: dict[str, Any]) -> None:
    items = items_of(client, holder["token"])
    client.patch(f"/api/v1/me/passport/certifications/{items['expired']['id']}",
                 json={"hidden": True}, headers={
                     **bearer(holder["token"]),
                     "If-Match": client.get(
                         f"/api/v1/me/passport/certifications/{items['expired']['id']}",
                         headers=bearer(holder["token"])).headers["ETag"]})
    declare(client, holder["token"])
    created = share(client, holder["token"], all_visible=True)
    shared_ids = {(i["kind"], i["id"]) for i in created["items"]}
    assert ("certification", items["expired"]["id"]) not in shared_ids  # hidden
    assert ("certification", items["withdrawn"]["id"]) not in shared_ids  # withdrawn
    assert ("certification", items["valid"]["id"]) in shared_ids
    assert len([k for k, _ in shared_ids if k == "certification"]) == 4  # of 6
    assert len([k for k, _ in shared_ids if k == "declaration"]) == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"items": []}, "items"),
    ({"items": [{"kind": "certification", "id": 999999}]}, "items.0.id"),
    ({"items": [{"kind": "declaration", "id": 999999}]}, "items.0.id"),
    ({"items": [{"kind": "certification", "id": "VALID", "masked_fields": ["skills"]}]},
     "items.0.masked_fields"),
    ({"items": [{"kind": "certification", "id": "VALID"}], "expires_in_days": 366},
     "expires_in_days"),
    ({"items": [{"kind": "certification", "id": "VALID"}],
      "expires_at": "2020-01-01T00:00:00+00:00"}, "expires_at"),
    ({"items": [{"kind": "certification", "id": "VALID"}],
      "expires_at": "2099-01-01T00:00:00+00:00"}, "expires_at"),
    ({"items": [{"kind": "certification", "id": "VALID"}], "expires_in_days": 3,
      "expires_at": "2030-01-01T00:00:00+00:00"}, "expires_at"),
    ({"items": [{"kind": "certification", "id": "VALID"}], "access_code": "12"},
     "access_code"),
    ({"items": [{"kind": "certification", "id": "WITHDRAWN"}]}, "items.0.id"),
    ({"items": [{"kind": "certification", "id": "VALID"}], "max_views": 0}, "max_views"),
])
def test_bad_shares_are_refused_with_the_field(client: FlaskClient, holder: dict[str, Any],
                                               body: dict[str, Any], field: str) -> None:
    items = items_of(client, holder["token"])
    ids = {"VALID": items["valid"]["id"], "WITHDRAWN": items["withdrawn"]["id"]}
    for item in body["items"]:
        item["id"] = ids.get(item["id"], item["id"])
    response = client.post(SHARES, json=body, headers=bearer(holder["token"]))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    assert field in {e["field"] for e in response.json["errors"]}, response.json
    assert client.get(SHARES, headers=bearer(holder["token"])).json == []


def test_another_holders_item_cannot_be_shared(client: FlaskClient, holder: dict[str, Any]
                                               ) -> None:
    items = items_of(client, holder["token"])
    response = client.post(SHARES, json={"items": [{"kind": "certification",
                                                    "id": items["valid"]["id"]}]},
                           headers=bearer(holder["other"]))
    assert response.status_code == 422
    assert response.json["errors"][0]["messages"] == ["no such certification in your passport"]


def test_a_read_only_token_cannot_share(client: FlaskClient, holder: dict[str, Any]) -> None:
    response = client.post(SHARES, json={"all_visible": True},
                           headers=bearer(holder["read_only"]))
    assert response.status_code == 403 and response.json["code"] == "insufficient_scope"


def test_extend_and_rename(client: FlaskClient, holder: dict[str, Any],
                           shared: dict[str, Any]) -> None:
    path = f"{SHARES}/{shared['share']['id']}"
    response = client.patch(path, json={"expires_in_days": 200, "label": "Prolongé",
                                        "max_views": 5}, headers=bearer(holder["token"]))
    assert response.status_code == 200, response.get_data(as_text=True)
    expires = dt.datetime.fromisoformat(response.json["expires_at"])
    assert abs((expires - utcnow()) - dt.timedelta(days=200)) < dt.timedelta(minutes=1)
    assert response.json["label"] == "Prolongé" and response.json["max_views"] == 5
    too_long = client.patch(path, json={"expires_in_days": 400}, headers=bearer(holder["token"]))
    assert too_long.status_code == 422


# -- recipients ----------------------------------------------------------------------------
def test_recipient_sees_attested_and_declared_items_with_masks(
        client: FlaskClient, holder: dict[str, Any], shared: dict[str, Any]) -> None:
    response = client.get(f"/api/v1/shares/{token_of(shared['share'])}",
                          headers={"User-Agent": BROWSER_UA})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    data = response.json
    assert data["shared_by"] == "Antoine D." and data["label"] == "Candidature Dupont SA"
    attested, declared = data["items"]
    assert attested["attestation"] == "garanti" and attested["kind"] == "certification"
    assert attested["attested_by"] == {"bcr": "CERT0001",
                                       "name": "Institut Européen du Numérique"}
    assert attested["code"] == "RNCP34762" and attested["option"] == "Option web"
    assert "mention" not in attested and attested["masked_fields"] == ["mention"]
    for private in ("id", "provenance", "hidden", "verbatim", "access"):
        assert private not in attested
    assert attested["verification"]["code"][5] == "-"
    assert declared["attestation"] == "declare" and declared["declared_by"] == "holder"
    assert declared["title"] == "Développeuse web" and declared["skills"] == ["Python", "SQL"]
    assert "description" not in declared and declared["masked_fields"] == ["description"]
    entries = journal(client, holder["token"], kind="share.viewed")
    assert len(entries) == 1
    entry = entries[0]
    assert entry["actor_type"] == "recipient" and entry["share_id"] == shared["share"]["id"]
    assert entry["details"] == {"client": "Chrome / Linux", "channel": "api", "view": 1}
    assert "127.0.0.1" not in json.dumps(entry)


def test_view_limit(client: FlaskClient, holder: dict[str, Any]) -> None:
    items = items_of(client, holder["token"])
    created = share(client, holder["token"], max_views=2,
                    items=[{"kind": "certification", "id": items["valid"]["id"]}])
    path = f"/api/v1/shares/{token_of(created)}"
    assert client.get(path).json["views_left"] == 1
    assert client.get(path).json["views_left"] == 0
    third = client.get(path)
    assert third.status_code == 410 and third.json["code"] == "share_gone"
    assert third.json["reason"] == "exhausted" and third.json["ended_at"] is None
    mine = client.get(f"{SHARES}/{created['id']}", headers=bearer(holder["token"])).json
    assert mine["status"] == "exhausted" and mine["view_count"] == 2


def test_expired_share_is_gone(client: FlaskClient, committed: sessionmaker[Session],
                               holder: dict[str, Any], shared: dict[str, Any]) -> None:
    with unit_of_work(committed) as db:
        found = db.get(Share, shared["share"]["id"])
        assert found is not None
        found.expires_at = utcnow() - dt.timedelta(seconds=1)
    response = client.get(f"/api/v1/shares/{token_of(shared['share'])}")
    assert response.status_code == 410
    assert (response.json["code"], response.json["reason"]) == ("share_gone", "expired")
    assert dt.datetime.fromisoformat(response.json["ended_at"]) < utcnow()
    assert journal(client, holder["token"], kind="share.viewed") == []


def test_revocation_takes_effect_on_the_very_next_view(
        client: FlaskClient, holder: dict[str, Any], shared: dict[str, Any]) -> None:
    path = f"/api/v1/shares/{token_of(shared['share'])}"
    assert client.get(path).status_code == 200
    response = client.delete(f"{SHARES}/{shared['share']['id']}", headers=bearer(holder["token"]))
    assert response.status_code == 204
    gone = client.get(path)
    assert gone.status_code == 410 and gone.json["reason"] == "revoked"
    page = client.get(f"/s/{token_of(shared['share'])}")
    assert page.status_code == 410 and "révoqué" in page.get_data(as_text=True)
    again = client.patch(f"{SHARES}/{shared['share']['id']}", json={"expires_in_days": 10},
                         headers=bearer(holder["token"]))
    assert again.status_code == 422
    kinds = [e["kind"] for e in journal(client, holder["token"])]
    assert kinds[:2] == ["share.revoked", "share.viewed"]


def test_unknown_token_is_404(client: FlaskClient) -> None:
    response = client.get("/api/v1/shares/not-a-token")
    assert response.status_code == 404 and response.json["code"] == "not_found"
    assert client.get("/s/not-a-token").status_code == 404


def test_access_code(client: FlaskClient, holder: dict[str, Any]) -> None:
    items = items_of(client, holder["token"])
    created = share(client, holder["token"], access_code="tournesol-42",
                    items=[{"kind": "certification", "id": items["valid"]["id"]}])
    assert created["access_code_required"] is True and "access_code" not in created
    path = f"/api/v1/shares/{token_of(created)}"
    missing = client.get(path)
    assert missing.status_code == 401 and missing.json["code"] == "share_code_required"
    assert missing.headers["WWW-Authenticate"].startswith("ShareCode")
    wrong = client.get(path, headers={"X-Share-Code": "tournesol-43"})
    assert wrong.status_code == 401 and wrong.json["code"] == "share_code_invalid"
    right = client.get(path, headers={"X-Share-Code": "tournesol-42"})
    assert right.status_code == 200 and len(right.json["items"]) == 1
    mine = client.get(f"{SHARES}/{created['id']}", headers=bearer(holder["token"])).json
    assert mine["view_count"] == 1  # refused attempts are not views


def test_brute_force_on_an_access_code_locks_the_share(
        client: FlaskClient, committed: sessionmaker[Session], holder: dict[str, Any]) -> None:
    items = items_of(client, holder["token"])
    created = share(client, holder["token"], access_code="tournesol-42",
                    items=[{"kind": "certification", "id": items["valid"]["id"]}])
    path = f"/api/v1/shares/{token_of(created)}"
    statuses = [client.get(path, headers={"X-Share-Code": f"guess-{n}"}).status_code
                for n in range(6)]
    assert statuses == [401, 401, 401, 401, 429, 429]
    locked = client.get(path, headers={"X-Share-Code": "tournesol-42"})
    assert locked.status_code == 429 and locked.json["code"] == "share_code_locked"
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    refused = journal(client, holder["token"], kind="share.code_refused")
    assert len(refused) == 1 and refused[0]["details"]["locked_minutes"] == 15
    # The lock ends: the right code opens the share again.
    with unit_of_work(committed) as db:
        found = db.get(Share, created["id"])
        assert found is not None and found.locked_until is not None
        found.locked_until = utcnow() - dt.timedelta(seconds=1)
    assert client.get(path, headers={"X-Share-Code": "tournesol-42"}).status_code == 200


def test_withdrawn_after_sharing_shows_as_withdrawn(
        client: FlaskClient, committed: sessionmaker[Session], holder: dict[str, Any],
        shared: dict[str, Any]) -> None:
    with unit_of_work(committed) as db:
        passage = db.get(Passage, shared["items"]["valid"]["id"])
        assert passage is not None
        passage.withdrawn_at = utcnow()
    data = client.get(f"/api/v1/shares/{token_of(shared['share'])}").json
    assert data["items"][0]["status"] == "retiree"
    code = data["items"][0]["verification"]["code"]
    verified = client.get(f"/api/v1/verify/{code}").json
    assert (verified["valid"], verified["withdrawn"], verified["status"]) == (
        False, True, "retiree")
    # Attestations signed after the withdrawal say so to whoever checks them offline.
    for signed in (data["items"][0]["verification"]["jws"], verified["jws"]):
        claims = jwt.decode(signed, _jwks(client), algorithms=["ES256"]).claims
        assert claims["verdict"] == {"status": "retiree", "valid": False}


# -- verification -------------------------------------------------------------------------------
def _verification(client: FlaskClient, shared: dict[str, Any]) -> dict[str, Any]:
    data = client.get(f"/api/v1/shares/{token_of(shared['share'])}").json
    return data["items"][0]["verification"]  # type: ignore[no-any-return]


def test_verify_tells_authentic_and_valid(client: FlaskClient, holder: dict[str, Any],
                                          shared: dict[str, Any]) -> None:
    verification = _verification(client, shared)
    code = verification["code"]
    assert verification["url"] == f"http://localhost/verifier/{code}"
    response = client.get(f"/api/v1/verify/{code}")
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.json
    assert data["authentic"] is True and data["valid"] is True and data["withdrawn"] is False
    assert data["item"]["code"] == "RNCP34762" and data["item"]["certifier"]["bcr"] == "CERT0001"
    assert data["holder_name"] == "Antoine Dupont"
    # Typing is forgiving: lower case, no dash, O for 0, I or L for 1.
    typed = code.replace("-", "").lower().replace("0", "o").replace("1", "l")
    assert client.get(f"/api/v1/verify/{typed}").json["code"] == code
    verified = journal(client, holder["token"], kind="item.verified")
    assert len(verified) == 2 and verified[0]["actor_type"] == "recipient"
    assert verified[0]["details"]["certification_id"] == shared["items"]["valid"]["id"]


def test_verification_codes_are_long_and_unambiguous(client: FlaskClient,
                                                     shared: dict[str, Any]) -> None:
    code = _verification(client, shared)["code"].replace("-", "")
    assert len(code) == 10
    assert not set(code) & set("ILOU")


def test_unknown_code_is_404(client: FlaskClient) -> None:
    for typed in ("ZZZZZ-ZZZZZ", "short", "!!!!!-!!!!!"):
        response = client.get(f"/api/v1/verify/{typed}")
        assert response.status_code == 404 and response.json["code"] == "not_found"


def test_verification_is_rate_limited_per_client(make_app: Any, auth_settings: Any,
                                                 shared: dict[str, Any],
                                                 client: FlaskClient) -> None:
    import dataclasses

    code = _verification(client, shared)["code"]
    limited = make_app(dataclasses.replace(auth_settings, verify_rate_per_minute=3)).test_client()
    answers = [limited.get(f"/api/v1/verify/{c}", environ_base={"REMOTE_ADDR": "192.0.2.7"})
               for c in (code, "ZZZZZ-ZZZZZ", code, code)]
    assert [a.status_code for a in answers] == [200, 404, 200, 429]
    assert answers[-1].json["code"] == "rate_limited"
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 60
    # Another address has its own allowance.
    other = limited.get(f"/api/v1/verify/{code}", environ_base={"REMOTE_ADDR": "192.0.2.8"})
    assert other.status_code == 200


def _jwks(client: FlaskClient) -> KeySet:
    return KeySet.import_key_set(client.get("/.well-known/jwks.json").json)


def test_attestation_jws_verifies_offline_with_the_published_keys(
        client: FlaskClient, shared: dict[str, Any]) -> None:
    verification = _verification(client, shared)
    token = jwt.decode(verification["jws"], _jwks(client), algorithms=["ES256"])
    assert token.header["typ"] == "passport-attestation+jwt"
    assert token.header["kid"] in {k["kid"] for k in client.get("/.well-known/jwks.json")
                                   .json["keys"]}
    claims = token.claims
    assert claims["iss"] == "http://localhost"
    assert claims["verification_url"] == verification["url"]
    assert claims["jti"] == verification["code"].replace("-", "")
    answered = client.get(f"/api/v1/verify/{verification['code']}").json
    assert claims["item"] == answered["item"]  # the JWS signs what /verify answers
    assert claims["verdict"] == {"status": answered["status"], "valid": True}


def test_a_tampered_attestation_is_refused(client: FlaskClient, shared: dict[str, Any]) -> None:
    import base64

    compact = _verification(client, shared)["jws"]
    header, payload, signature = compact.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["item"]["code"] = "RNCP99999"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    keys = _jwks(client)
    with pytest.raises(BadSignatureError):
        jwt.decode(f"{header}.{forged_payload}.{signature}", keys, algorithms=["ES256"])
    # Signed by any other key: refused too.
    stranger = ECKey.generate_key("P-256", parameters={"kid": keys.keys[0].kid})
    forged = jws.serialize_compact({"alg": "ES256", "kid": keys.keys[0].kid},
                                   json.dumps(claims).encode(), stranger)
    with pytest.raises(BadSignatureError):
        jwt.decode(forged, keys, algorithms=["ES256"])


# -- the page -----------------------------------------------------------------------------------
def test_page_in_french_by_default_and_english_on_request(
        client: FlaskClient, holder: dict[str, Any], shared: dict[str, Any]) -> None:
    path = f"/s/{token_of(shared['share'])}"
    page = client.get(path, headers={"User-Agent": BROWSER_UA})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<html lang="fr">' in html
    assert "Certifié par Institut Européen du Numérique" in html
    assert "Déclaré par le titulaire" in html
    assert "Ce lien de partage fonctionne jusqu" in html and "Validité de la certification" in html
    assert "pas la validité des certifications" in html
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    fresh = client.application.test_client()  # another browser: a new visit
    english = fresh.get(path + "?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in english and "Certified by Institut" in english
    assert "Declared by the holder" in english and "Validity of the certification" in english
    negotiated = client.application.test_client().get(
        path, headers={"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"}).get_data(as_text=True)
    assert "Certified by" in negotiated
    views = journal(client, holder["token"], kind="share.viewed")
    assert [v["details"]["channel"] for v in views] == ["page", "page", "page"]


def test_a_reload_within_the_visit_is_not_a_new_view(
        client: FlaskClient, holder: dict[str, Any]) -> None:
    items = items_of(client, holder["token"])
    created = share(client, holder["token"], max_views=1,
                    items=[{"kind": "certification", "id": items["valid"]["id"]}])
    path = f"/s/{token_of(created)}"
    assert client.get(path).status_code == 200
    assert client.get(path + "?lang=en").status_code == 200  # same browser, same visit
    assert client.application.test_client().get(path).status_code == 410  # someone else
    assert len(journal(client, holder["token"], kind="share.viewed")) == 1
    assert client.head(path).status_code == 410


def test_page_asks_for_the_access_code(client: FlaskClient, holder: dict[str, Any]) -> None:
    items = items_of(client, holder["token"])
    created = share(client, holder["token"], access_code="tournesol-42",
                    items=[{"kind": "certification", "id": items["valid"]["id"]}])
    path = f"/s/{token_of(created)}"
    form = client.get(path)
    assert form.status_code == 401 and 'name="code"' in form.get_data(as_text=True)
    wrong = client.post(path, data={"code": "nope"})
    assert wrong.status_code == 401 and "Code incorrect" in wrong.get_data(as_text=True)
    right = client.post(path, data={"code": "tournesol-42"})
    assert right.status_code == 200 and "RNCP34762" in right.get_data(as_text=True)


def test_head_counts_nothing(client: FlaskClient, holder: dict[str, Any],
                             shared: dict[str, Any]) -> None:
    path = f"/s/{token_of(shared['share'])}"
    assert client.head(path).status_code == 200
    assert journal(client, holder["token"], kind="share.viewed") == []


def test_verify_page(client: FlaskClient, shared: dict[str, Any]) -> None:
    code = _verification(client, shared)["code"]
    page = client.get(f"/verifier/{code}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Authentique" in html and "Valide à ce jour" in html and "Antoine Dupont" in html
    unknown = client.get("/verifier?code=ZZZZZ-ZZZZZ&lang=en")
    assert unknown.status_code == 404 and "No item carries this code" in unknown.get_data(
        as_text=True)
    assert client.get("/verifier").status_code == 200


def test_share_tokens_are_stored_hashed(committed: sessionmaker[Session],
                                        shared: dict[str, Any]) -> None:
    token = token_of(shared["share"])
    with unit_of_work(committed) as db:
        row = db.execute(sa.select(Share)).scalar_one()
        assert row.token_hash != token and token.encode() not in row.token_enc
        assert db.scalar(sa.select(sa.func.count()).select_from(JournalEntry)) >= 1


def test_shares_appear_in_the_export(client: FlaskClient, holder: dict[str, Any],
                                     shared: dict[str, Any], app: Flask) -> None:
    exported = client.get("/api/v1/me/export", headers=bearer(holder["token"])).json
    assert [s["id"] for s in exported["shares"]] == [shared["share"]["id"]]
    assert "token" not in exported["shares"][0] and "url" not in exported["shares"][0]
