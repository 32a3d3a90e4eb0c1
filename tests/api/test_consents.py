"""Consents to CEP advisors: grants and their validation, receipts, renewal, withdrawal, the
advisor-initiated path with one-time codes, and what the advisor API returns."""

from __future__ import annotations

import dataclasses
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from passport.auth.models import Account
from passport.consents.models import ConsentRequest
from passport.db import unit_of_work, utcnow
from tests.api import builders
from tests.oauth import bearer, mint

CONSENTS = "/api/v1/me/consents"
GRANT = {"organisation_siret": builders.ORG, "sections": ["certifications"],
         "purpose": "accompagnement_cep", "duration_days": 90}
KANTARA_FIELDS = ("version", "jurisdiction", "consentTimestamp", "collectionMethod",
                  "consentReceiptID", "piiPrincipalId", "piiControllers", "policyUrl",
                  "services", "sensitive", "spiCat")


@pytest.fixture
def advisor(app: Flask, committed: sessionmaker[Session]) -> dict[str, Any]:
    account_id = builders.advisor(committed, "camille@cep.example", name="Camille Martin")
    with unit_of_work(committed) as db:
        return {"id": account_id, "token": mint(app, db, db.get(Account, account_id))}


def grant(client: FlaskClient, token: str, **changes: Any) -> dict[str, Any]:
    response = client.post(CONSENTS, json={**GRANT, **changes}, headers=bearer(token))
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json  # type: ignore[no-any-return]


def receipts_of(client: FlaskClient, token: str, consent_id: int) -> list[dict[str, Any]]:
    response = client.get(f"{CONSENTS}/{consent_id}/receipts", headers=bearer(token))
    assert response.status_code == 200
    return response.json  # type: ignore[no-any-return]


@pytest.mark.parametrize(("changes", "field"), [
    ({"organisation_siret": "73282932000075"}, "organisation_siret"),
    ({"organisation_siret": "123"}, "organisation_siret"),
    ({"duration_days": 0}, "duration_days"),
    ({"duration_days": 366}, "duration_days"),
    ({"sections": []}, "sections"),
    ({"sections": ["everything"]}, "sections"),
    ({"purpose": "marketing"}, "purpose"),
    ({"purpose": "autre"}, "purpose_text"),
    ({"advisor_email": "not-an-email"}, "advisor_email"),
])
def test_bad_consents_are_refused(client: FlaskClient, holder: dict[str, Any],
                                  changes: dict[str, Any], field: str) -> None:
    response = client.post(CONSENTS, json={**GRANT, **changes}, headers=bearer(holder["token"]))
    assert response.status_code == 422
    assert response.json["code"] == "validation_failed"
    fields = {e["field"].split(".")[0] for e in response.json["errors"]}
    assert field in fields, response.json
    assert client.get(CONSENTS, headers=bearer(holder["token"])).json == []


def test_grant_issues_a_receipt_with_the_consent_record_fields(
        client: FlaskClient, holder: dict[str, Any]) -> None:
    consent = grant(client, holder["token"], advisor_email="Camille@CEP.example",
                    purpose="autre", purpose_text="Reconversion vers la santé")
    assert consent["status"] == "active" and consent["given_via"] == "holder"
    assert consent["advisor_email"] == "camille@cep.example"
    [receipt] = receipts_of(client, holder["token"], consent["id"])
    assert receipt["event"] == "granted"
    document = receipt["document"]
    for name in KANTARA_FIELDS:
        assert name in document, name
    purpose = document["services"][0]["purposes"][0]
    assert purpose["purpose"].endswith("Reconversion vers la santé")
    assert purpose["piiCategory"] == ["Certifications et diplômes attestés"]
    assert purpose["thirdPartyName"] == (f"Organisme SIRET {builders.ORG}, "
                                         "conseiller camille@cep.example")
    assert document["piiControllers"][0]["piiController"].startswith("Caisse des Dépôts")
    assert document["validity"]["end"] == consent["expires_at"].replace("Z", "+00:00")
    assert "DELETE /api/v1/me/consents/{id}" in document["withdrawal"]["method"]
    assert str(holder["holder_id"]) in document["piiPrincipalId"]
    download = client.get(f"/api/v1/me/consent-receipts/{receipt['id']}",
                          headers=bearer(holder["token"]))
    assert download.status_code == 200 and download.json == document
    assert download.headers["Content-Disposition"] == (
        f'attachment; filename="recu-consentement-{receipt["id"]}.json"')


def test_renew_and_revoke_each_issue_a_receipt(client: FlaskClient, holder: dict[str, Any]
                                               ) -> None:
    consent = grant(client, holder["token"], duration_days=10)
    renewed = client.patch(f"{CONSENTS}/{consent['id']}", json={"duration_days": 200},
                           headers=bearer(holder["token"]))
    assert renewed.status_code == 200
    assert renewed.json["expires_at"] > consent["expires_at"]
    bad = client.patch(f"{CONSENTS}/{consent['id']}", json={"duration_days": 400},
                       headers=bearer(holder["token"]))
    assert bad.status_code == 422
    assert client.delete(f"{CONSENTS}/{consent['id']}",
                         headers=bearer(holder["token"])).status_code == 204
    after = client.get(f"{CONSENTS}/{consent['id']}", headers=bearer(holder["token"])).json
    assert after["status"] == "revoked" and after["revoked_at"]
    events = [r["event"] for r in receipts_of(client, holder["token"], consent["id"])]
    assert events == ["granted", "renewed", "revoked"]
    again = client.patch(f"{CONSENTS}/{consent['id']}", json={"duration_days": 20},
                         headers=bearer(holder["token"]))
    assert again.status_code == 422 and again.json["code"] == "invalid_input"
    kinds = [e["kind"] for e in client.get("/api/v1/me/journal",
                                           headers=bearer(holder["token"])).json["items"]]
    assert kinds == ["consent.revoked", "consent.renewed", "consent.granted"]


def test_advisor_initiated_request_approved(client: FlaskClient, holder: dict[str, Any],
                                            advisor: dict[str, Any]) -> None:
    code = client.post("/api/v1/me/consent-codes", headers=bearer(holder["token"]))
    assert code.status_code == 201
    assert len(code.json["code"].replace("-", "")) == 8
    redeemed = client.post("/api/v1/advisor/consent-requests", headers=bearer(advisor["token"]),
                           json={"code": code.json["code"].lower(),
                                 "sections": ["certifications", "declarations"],
                                 "purpose": "bilan_competences", "duration_days": 60})
    assert redeemed.status_code == 201, redeemed.get_data(as_text=True)
    assert redeemed.json["status"] == "pending"
    # The code is single use.
    reuse = client.post("/api/v1/advisor/consent-requests", headers=bearer(advisor["token"]),
                        json={"code": code.json["code"], "sections": ["certifications"],
                              "purpose": "bilan_competences", "duration_days": 60})
    assert reuse.status_code == 404
    # Nothing is readable before the holder decides.
    assert client.get("/api/v1/advisor/holders", headers=bearer(advisor["token"])).json == []
    [pending] = client.get("/api/v1/me/consent-requests", headers=bearer(holder["token"])).json
    assert pending["status"] == "pending" and pending["advisor_name"] == "Camille Martin"
    assert pending["organisation_siret"] == builders.ORG
    approved = client.post(f"/api/v1/me/consent-requests/{pending['id']}/approve",
                           headers=bearer(holder["token"]))
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    consent = client.get(f"{CONSENTS}/{approved.json['consent_id']}",
                         headers=bearer(holder["token"])).json
    assert consent["given_via"] == "advisor_request"
    assert consent["advisor_email"] == "camille@cep.example"  # named: only this advisor
    assert consent["sections"] == ["certifications", "declarations"]
    [listed] = client.get("/api/v1/advisor/holders", headers=bearer(advisor["token"])).json
    assert listed["name"] == "Antoine Dupont" and listed["purpose"] == "bilan_competences"
    # A decided request cannot be decided again.
    twice = client.post(f"/api/v1/me/consent-requests/{pending['id']}/refuse",
                        headers=bearer(holder["token"]))
    assert twice.status_code == 404


def test_a_request_not_decided_within_30_days_lapses(
        client: FlaskClient, holder: dict[str, Any], advisor: dict[str, Any],
        committed: sessionmaker[Session]) -> None:
    """An advisor's request the holder left waiting lapses after 30 days: listed as
    `expired`, it can no longer be approved (nor refused): 410, no consent."""
    code = client.post("/api/v1/me/consent-codes", headers=bearer(holder["token"])).json
    client.post("/api/v1/advisor/consent-requests", headers=bearer(advisor["token"]),
                json={"code": code["code"], "sections": ["cv"], "purpose": "accompagnement_cep",
                      "duration_days": 30})
    [waiting] = client.get("/api/v1/me/consent-requests", headers=bearer(holder["token"])).json
    made = dt.datetime.fromisoformat(waiting["updated_at"])
    assert dt.datetime.fromisoformat(waiting["expires_at"]) == made + dt.timedelta(days=30)
    with unit_of_work(committed) as db:
        request = db.get(ConsentRequest, waiting["id"])
        assert request is not None
        request.updated_at -= dt.timedelta(days=30, seconds=1)
    [lapsed] = client.get("/api/v1/me/consent-requests", headers=bearer(holder["token"])).json
    assert lapsed["status"] == "expired"
    for decision in ("approve", "refuse"):
        late = client.post(f"/api/v1/me/consent-requests/{waiting['id']}/{decision}",
                           headers=bearer(holder["token"]))
        assert late.status_code == 410 and late.json["code"] == "consent_request_expired"
    assert client.get(CONSENTS, headers=bearer(holder["token"])).json == []
    assert client.get("/api/v1/me/consent-receipts", headers=bearer(holder["token"])).json == []


def test_an_advisor_follows_the_requests_they_made(
        app: Flask, client: FlaskClient, holder: dict[str, Any], advisor: dict[str, Any],
        committed: sessionmaker[Session]) -> None:
    """An advisor lists their own requests with where each stands — pending (until when),
    approved (with the consent's reference), refused, expired — and nothing of the holder;
    a colleague of the same organisation sees none of them."""
    requests = "/api/v1/advisor/consent-requests"

    def redeem(**changes: Any) -> int:
        code = client.post("/api/v1/me/consent-codes", headers=bearer(holder["token"])).json
        made = client.post(requests, headers=bearer(advisor["token"]), json={
            "code": code["code"], "sections": ["cv"], "purpose": "accompagnement_cep",
            "duration_days": 30, **changes})
        assert made.status_code == 201
        return int(made.json["id"])

    approved, refused, lapsed, waiting = redeem(), redeem(named=False), redeem(), redeem()
    me = bearer(holder["token"])
    client.post(f"/api/v1/me/consent-requests/{approved}/approve", headers=me)
    client.post(f"/api/v1/me/consent-requests/{refused}/refuse", headers=me)
    with unit_of_work(committed) as db:
        request = db.get(ConsentRequest, lapsed)
        assert request is not None
        request.updated_at -= dt.timedelta(days=31)
    listed = client.get(requests, headers=bearer(advisor["token"]))
    assert listed.status_code == 200
    by_id = {r["id"]: r for r in listed.json}
    assert list(by_id) == [waiting, lapsed, refused, approved]  # newest first
    assert [by_id[i]["status"] for i in by_id] == ["pending", "expired", "refused", "approved"]
    assert by_id[waiting]["expires_at"] and by_id[approved]["expires_at"] is None
    assert by_id[refused]["named"] is False and by_id[approved]["named"] is True
    [holder_row] = client.get("/api/v1/advisor/holders", headers=bearer(advisor["token"])).json
    assert by_id[approved]["consent_reference"] == holder_row["reference"]
    assert by_id[approved]["consent_status"] == "active"
    assert {(r["consent_reference"], r["consent_status"]) for r in listed.json
            if r["id"] != approved} == {(None, None)}
    text = listed.get_data(as_text=True)
    assert "Dupont" not in text and "Antoine" not in text
    # The holder withdraws the consent: the advisor sees that their access ended.
    mine = client.get("/api/v1/me/consent-requests", headers=me).json
    [given] = [r["consent_id"] for r in mine if r["id"] == approved]
    assert client.delete(f"{CONSENTS}/{given}", headers=me).status_code == 204
    again = {r["id"]: r for r in client.get(requests, headers=bearer(advisor["token"])).json}
    assert (again[approved]["status"], again[approved]["consent_status"]) == (
        "approved", "revoked")
    colleague = builders.advisor(committed, "dominique@cep.example")
    with unit_of_work(committed) as db:
        token = mint(app, db, db.get(Account, colleague))
    assert client.get(requests, headers=bearer(token)).json == []


def test_a_request_decided_at_once_by_several_clicks_gives_one_consent(
        app: Flask, client: FlaskClient, holder: dict[str, Any], advisor: dict[str, Any]) -> None:
    """Approve and refuse sent together (a double click, two devices): one decision wins,
    one consent or none, one receipt."""
    code = client.post("/api/v1/me/consent-codes", headers=bearer(holder["token"])).json
    client.post("/api/v1/advisor/consent-requests", headers=bearer(advisor["token"]),
                json={"code": code["code"], "sections": ["cv"], "purpose": "accompagnement_cep",
                      "duration_days": 30})
    decisions = ["approve"] * 4 + ["refuse"] * 2
    barrier = Barrier(len(decisions))

    def decide(decision: str) -> int:
        own = app.test_client()
        barrier.wait()
        return own.post(f"/api/v1/me/consent-requests/{code['request_id']}/{decision}",
                        headers=bearer(holder["token"])).status_code

    with ThreadPoolExecutor(len(decisions)) as pool:
        statuses = list(pool.map(decide, decisions))
    assert sorted(statuses) == [200] + [404] * (len(decisions) - 1)
    consents = client.get(CONSENTS, headers=bearer(holder["token"])).json
    receipts = client.get("/api/v1/me/consent-receipts", headers=bearer(holder["token"])).json
    assert len(receipts) == 1
    assert len(consents) == (1 if receipts[0]["event"] == "granted" else 0)


def test_advisor_initiated_request_refused(client: FlaskClient, holder: dict[str, Any],
                                           advisor: dict[str, Any],
                                           committed: sessionmaker[Session]) -> None:
    code = client.post("/api/v1/me/consent-codes", headers=bearer(holder["token"])).json
    client.post("/api/v1/advisor/consent-requests", headers=bearer(advisor["token"]),
                json={"code": code["code"], "sections": ["cv"], "purpose": "accompagnement_cep",
                      "duration_days": 30})
    request_id = code["request_id"]
    refused = client.post(f"/api/v1/me/consent-requests/{request_id}/refuse",
                          headers=bearer(holder["token"]))
    assert refused.status_code == 200 and refused.json["status"] == "refused"
    assert refused.json["consent_id"] is None
    assert client.get(CONSENTS, headers=bearer(holder["token"])).json == []
    receipts = client.get("/api/v1/me/consent-receipts", headers=bearer(holder["token"])).json
    assert [r["event"] for r in receipts] == ["refused"]
    assert receipts[0]["document"]["services"][0]["purposes"][0]["thirdPartyDisclosure"] is False


def test_expired_or_unknown_codes_are_refused(client: FlaskClient, holder: dict[str, Any],
                                              advisor: dict[str, Any],
                                              committed: sessionmaker[Session]) -> None:
    code = client.post("/api/v1/me/consent-codes", headers=bearer(holder["token"])).json
    with unit_of_work(committed) as db:
        request = db.get(ConsentRequest, code["request_id"])
        assert request is not None
        request.code_expires_at = utcnow()
    body = {"sections": ["certifications"], "purpose": "accompagnement_cep",
            "duration_days": 30}
    for typed in (code["code"], "ZZZZ-ZZZZ"):
        response = client.post("/api/v1/advisor/consent-requests",
                               headers=bearer(advisor["token"]), json={"code": typed, **body})
        assert response.status_code == 404 and response.json["code"] == "not_found"


def test_code_guessing_is_rate_limited(client: FlaskClient, advisor: dict[str, Any]) -> None:
    body = {"sections": ["certifications"], "purpose": "accompagnement_cep",
            "duration_days": 30}
    statuses = [client.post("/api/v1/advisor/consent-requests", headers=bearer(advisor["token"]),
                            json={"code": f"ZZZZ-ZZ{n:02d}", **body}).status_code
                for n in range(11)]
    assert statuses == [404] * 10 + [429]


def test_advisor_sees_only_the_consented_sections_without_hidden_items(
        client: FlaskClient, holder: dict[str, Any], advisor: dict[str, Any]) -> None:
    declared = client.post("/api/v1/me/declarations", headers=bearer(holder["token"]),
                           json={"kind": "competence", "title": "Soudure", "level": "expert"})
    assert declared.status_code == 201
    certs = client.get("/api/v1/me/passport", headers=bearer(holder["token"])).json
    first = certs["certifications"]["items"][0]["id"]
    path = f"/api/v1/me/passport/certifications/{first}"
    etag = client.get(path, headers=bearer(holder["token"])).headers["ETag"]
    client.patch(path, json={"hidden": True}, headers={**bearer(holder["token"]),
                                                       "If-Match": etag})
    grant(client, holder["token"], sections=["certifications"])
    [listed] = client.get("/api/v1/advisor/holders", headers=bearer(advisor["token"])).json
    passport = client.get(f"/api/v1/advisor/holders/{listed['reference']}/passport",
                          headers=bearer(advisor["token"]))
    assert passport.status_code == 200
    data = passport.json
    assert data["name"] == "Antoine Dupont" and data["declarations"] is None
    assert data["certifications"]["total"] == 4  # 5 not withdrawn, one hidden
    assert first not in [i["id"] for i in data["certifications"]["items"]]
    text = passport.get_data(as_text=True)
    assert "196113155500150" not in text and str(holder["holder_id"]) != listed["reference"]


def test_advisor_reads_a_holder_outside_the_identity_directory(
        client: FlaskClient, holder: dict[str, Any], advisor: dict[str, Any]) -> None:
    grant(client, holder["other"])
    [listed] = client.get("/api/v1/advisor/holders", headers=bearer(advisor["token"])).json
    passport = client.get(f"/api/v1/advisor/holders/{listed['reference']}/passport",
                          headers=bearer(advisor["token"]))
    assert passport.status_code == 200, passport.get_data(as_text=True)
    assert passport.json["name"] is None and passport.json["certifications"]["total"] == 0


def test_advisor_without_siret_cannot_redeem(app: Flask, client: FlaskClient,
                                             holder: dict[str, Any],
                                             committed: sessionmaker[Session]) -> None:
    account_id = builders.advisor(committed, "x@cep.example", siret=None)
    with unit_of_work(committed) as db:
        token = mint(app, db, db.get(Account, account_id))
    code = client.post("/api/v1/me/consent-codes", headers=bearer(holder["token"])).json
    response = client.post("/api/v1/advisor/consent-requests", headers=bearer(token), json={
        "code": code["code"], "sections": ["cv"], "purpose": "accompagnement_cep",
        "duration_days": 3})
    assert response.status_code == 422 and "SIRET" in response.json["detail"]
    with unit_of_work(committed) as db:
        assert db.scalar(sa.select(ConsentRequest.status)) == "code"


def test_consents_and_receipts_appear_in_the_export(client: FlaskClient,
                                                    holder: dict[str, Any]) -> None:
    consent = grant(client, holder["token"])
    exported = client.get("/api/v1/me/export", headers=bearer(holder["token"])).json
    assert [c["id"] for c in exported["consents"]] == [consent["id"]]
    assert [r["event"]["type"] for r in exported["consent_receipts"]] == ["granted"]


def test_settings_limits(auth_settings: Any) -> None:
    from passport.config import ConfigurationError

    with pytest.raises(ConfigurationError, match="RETENTION"):
        dataclasses.replace(auth_settings, journal_retention_months=0).check()
