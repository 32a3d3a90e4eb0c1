"""The holder's passport API: attested items beside declared ones, with provenance;
declarations with ETags; hiding; error reports; the journal; the GDPR export."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from passport.auth.models import Account, Role
from passport.config import Settings
from passport.db import unit_of_work
from passport.nir import is_shaped
from tests.api import builders
from tests.flux import PERSON_NIR, document, passage
from tests.helpers import ingest
from tests.oauth import bearer, mint

EXPORT_SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "export.schema.json").read_text())


def get(client: FlaskClient, token: str, path: str, **params: Any) -> Any:
    response = client.get(path, headers=bearer(token), query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def test_passport_shows_attested_items_with_status_and_provenance(
    client: FlaskClient, holder: dict[str, Any]
) -> None:
    data = get(client, holder["token"], "/api/v1/me/passport")
    items = {i["code"] + ":" + i["status"]: i for i in data["certifications"]["items"]}
    assert data["certifications"]["total"] == 5  # the withdrawn one is left out
    statuses = sorted(i["status"] for i in data["certifications"]["items"])
    assert statuses == ["expiree", "provisoire", "valide", "valide", "valide"]
    valid = next(i for i in data["certifications"]["items"] if i["option"] == "Option web")
    assert valid["type"] == "RNCP" and valid["code"] == "RNCP34762"
    assert valid["certifier"] == {"bcr": "CERT0001", "name": "Institut Européen du Numérique"}
    assert valid["option"] == "Option web" and valid["proof_url"] == "https://verif.example/1"
    assert valid["definitive"] is True and valid["known_in_referential"] is False
    assert valid["validity"] == {"start": "2024-07-01", "end": None}
    provenance = valid["provenance"]
    assert provenance["attestation"] == "garanti"
    assert provenance["source"]["kind"] == "certifier"
    assert provenance["source"]["emitter_bcr"] == "CERT0001"
    assert provenance["source"]["deposit_id"] >= 1 and provenance["source"]["received_at"]
    digital = next(i for i in data["certifications"]["items"] if i["digital"])
    assert digital["digital"]["score"] == 742
    assert digital["digital"]["results"] == [
        {"domain": 1, "domain_name": "Informations et données", "competence": "1.1",
         "name": "Mener une recherche et une veille d'information", "level": 4},
        {"domain": 3, "domain_name": "Création de contenus", "competence": "3.4",
         "name": "Programmer", "level": 6}]
    language = next(i for i in data["certifications"]["items"] if i["language_level"])
    assert (language["type"], language["language_level"], language["mention"]) == ("RS", "B2", None)
    assert "RNCP34762:expiree" in items and "RNCP34762:provisoire" in items


def test_withdrawn_items_on_request(client: FlaskClient, holder: dict[str, Any]) -> None:
    data = get(client, holder["token"], "/api/v1/me/passport", include_withdrawn="true")
    withdrawn = [i for i in data["certifications"]["items"] if i["status"] == "retiree"]
    assert len(withdrawn) == 1 and withdrawn[0]["withdrawn_at"]


def test_sections_are_paginated(client: FlaskClient, holder: dict[str, Any]) -> None:
    first = get(client, holder["token"], "/api/v1/me/passport/certifications", page_size=2)
    third = get(client, holder["token"], "/api/v1/me/passport/certifications", page_size=2,
                page=3)
    assert (first["total"], len(first["items"]), len(third["items"])) == (5, 2, 1)
    ids = {i["id"] for i in first["items"]} | {i["id"] for i in third["items"]}
    assert len(ids) == 3
    past = get(client, holder["token"], "/api/v1/me/passport/certifications", page_size=2,
               page=4)
    assert (past["total"], past["items"], past["page"]) == (5, [], 4)
    bad = client.get("/api/v1/me/passport/certifications?page_size=500",
                     headers=bearer(holder["token"]))
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "page_size"


DECLARATIONS = [
    {"kind": "experience", "title": "Développeuse web", "organisation": "Atelier Numérique",
     "location": "Toulouse", "start_date": "2021-09-01", "end_date": "2024-06-30",
     "description": "Applications Flask", "skills": ["Python", "SQL"]},
    {"kind": "formation", "title": "MOOC Sécurité", "organisation": "ANSSI",
     "start_date": "2023-01-10", "end_date": "2023-03-01"},
    {"kind": "diplome", "title": "Licenciatura en Informática", "organisation": "Universidad",
     "country": "ES", "end_date": "2019-06-30"},
    {"kind": "competence", "title": "Soudure TIG", "level": "avance"},
    {"kind": "langue", "title": "Espagnol", "level": "C1"},
    {"kind": "engagement", "title": "Trésorière", "organisation": "Association sportive",
     "start_date": "2020-01-01"},
    {"kind": "autre", "title": "Permis B", "url": "https://example.org/permis"},
]


def test_declarations_of_every_kind(client: FlaskClient, holder: dict[str, Any]) -> None:
    for body in DECLARATIONS:
        response = client.post("/api/v1/me/declarations", json=body,
                               headers=bearer(holder["token"]))
        assert response.status_code == 201, (body, response.json)
        created = response.json
        assert created["kind"] == body["kind"] and created["title"] == body["title"]
        assert created["provenance"]["attestation"] == "declare"
        assert created["provenance"]["source"]["kind"] == "holder"
        assert created["provenance"]["source"]["created_at"]
    listed = get(client, holder["token"], "/api/v1/me/declarations")
    assert listed["total"] == len(DECLARATIONS)
    assert get(client, holder["token"], "/api/v1/me/declarations", kind="langue")["total"] == 1
    passport = get(client, holder["token"], "/api/v1/me/passport")
    assert passport["declarations"]["total"] == len(DECLARATIONS)
    assert {i["provenance"]["attestation"] for i in passport["declarations"]["items"]} == {"declare"}
    assert {i["provenance"]["attestation"] for i in passport["certifications"]["items"]} == {"garanti"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "experience", "title": "X", "organisation": "Y", "start_date": "2022-01-01",
          "end_date": "2021-01-01"}, "end_date"),
        ({"kind": "langue", "title": "Anglais"}, "level"),
        ({"kind": "langue", "title": "Anglais", "level": "B3"}, "level"),
        ({"kind": "formation", "title": "X", "start_date": "2020-01-01", "level": "B2"}, "level"),
        ({"kind": "experience", "title": "X", "start_date": "2020-01-01"}, "organisation"),
        ({"kind": "experience", "title": "X", "organisation": "Y"}, "start_date"),
        ({"kind": "metier", "title": "X"}, "kind"),
        ({"kind": "autre", "title": ""}, "title"),
        ({"kind": "autre", "title": "x" * 201}, "title"),
        ({"kind": "autre", "title": "X", "country": "France"}, "country"),
        ({"kind": "autre", "title": "X", "url": "javascript:alert(1)"}, "url"),
        ({"kind": "autre", "title": "X", "employer": "Y"}, "employer"),
        ({"kind": "autre", "title": "X", "skills": ["a"] * 31}, "skills"),
    ],
)
def test_invalid_declarations_are_refused_naming_the_field(
    client: FlaskClient, holder: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v1/me/declarations", json=body, headers=bearer(holder["token"]))
    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"
    assert field in {e["field"] for e in response.json["errors"]}
    assert get(client, holder["token"], "/api/v1/me/declarations")["total"] == 0


def test_declaration_update_needs_a_fresh_etag(client: FlaskClient,
                                               holder: dict[str, Any]) -> None:
    created = client.post("/api/v1/me/declarations", json=DECLARATIONS[0],
                          headers=bearer(holder["token"])).json
    path = f"/api/v1/me/declarations/{created['id']}"
    first = client.get(path, headers=bearer(holder["token"]))
    etag = first.headers["ETag"]
    missing = client.patch(path, json={"title": "Lead dev"}, headers=bearer(holder["token"]))
    assert missing.status_code == 428 and missing.json["code"] == "precondition_required"
    updated = client.patch(path, json={"title": "Lead dev"},
                           headers={**bearer(holder["token"]), "If-Match": etag})
    assert updated.status_code == 200
    assert updated.json["title"] == "Lead dev"
    assert updated.json["organisation"] == "Atelier Numérique"  # untouched
    assert updated.json["skills"] == ["Python", "SQL"]
    stale = client.patch(path, json={"title": "Again"},
                         headers={**bearer(holder["token"]), "If-Match": etag})
    assert stale.status_code == 412 and stale.json["code"] == "precondition_failed"
    kind = client.patch(path, json={"kind": "langue"},
                        headers={**bearer(holder["token"]), "If-Match": updated.headers["ETag"]})
    assert kind.status_code == 422
    fresh = client.get(path, headers=bearer(holder["token"])).headers["ETag"]
    deleted = client.delete(path, headers={**bearer(holder["token"]), "If-Match": fresh})
    assert deleted.status_code == 204
    assert client.get(path, headers=bearer(holder["token"])).status_code == 404


def test_write_needs_the_write_scope(client: FlaskClient, holder: dict[str, Any]) -> None:
    response = client.post("/api/v1/me/declarations", json=DECLARATIONS[3],
                           headers=bearer(holder["read_only"]))
    assert response.status_code == 403 and response.json["code"] == "insufficient_scope"


def test_hide_an_attested_item(client: FlaskClient, holder: dict[str, Any]) -> None:
    item = get(client, holder["token"], "/api/v1/me/passport/certifications")["items"][0]
    path = f"/api/v1/me/passport/certifications/{item['id']}"
    etag = client.get(path, headers=bearer(holder["token"])).headers["ETag"]
    response = client.patch(path, json={"hidden": True},
                            headers={**bearer(holder["token"]), "If-Match": etag})
    assert response.status_code == 200 and response.json["hidden"] is True
    assert response.json["provenance"]["last_changed_at"] != item["provenance"]["last_changed_at"]
    again = get(client, holder["token"], path)
    assert again["hidden"] is True
    only_hidden = client.patch(path, json={"hidden": False, "mention": "MENTION_TRES_BIEN"},
                               headers={**bearer(holder["token"]),
                                        "If-Match": client.get(path, headers=bearer(
                                            holder["token"])).headers["ETag"]})
    assert only_hidden.status_code == 422  # attested content is not the holder's to edit


def test_report_an_error_to_the_certifier(client: FlaskClient, holder: dict[str, Any],
                                          committed: sessionmaker[Session]) -> None:
    item = get(client, holder["token"], "/api/v1/me/passport/certifications")["items"][0]
    path = f"/api/v1/me/passport/certifications/{item['id']}/reports"
    no_comment = client.post(path, json={"reason": "other"}, headers=bearer(holder["token"]))
    assert no_comment.status_code == 422
    filed = client.post(path, json={"reason": "wrong_date", "comment": "Obtenu en 2023"},
                        headers=bearer(holder["token"]))
    assert filed.status_code == 201
    assert filed.json["status"] == "ouvert" and filed.json["certifier_bcr"] == "CERT0001"
    listed = get(client, holder["token"], path)
    assert [r["reason"] for r in listed] == ["wrong_date"]


def test_journal_lists_my_actions_newest_first(client: FlaskClient,
                                               holder: dict[str, Any]) -> None:
    created = client.post("/api/v1/me/declarations", json=DECLARATIONS[3],
                          headers=bearer(holder["token"])).json
    client.post(f"/api/v1/me/passport/certifications/"
                f"{get(client, holder['token'], '/api/v1/me/passport')['certifications']['items'][0]['id']}"
                "/reports", json={"reason": "not_mine"}, headers=bearer(holder["token"]))
    journal = get(client, holder["token"], "/api/v1/me/journal")
    assert [e["kind"] for e in journal["items"]] == ["report.filed", "declaration.created"]
    assert journal["items"][1]["details"]["declaration_id"] == created["id"]
    assert journal["items"][0]["label"] == "Erreur signalée au certificateur"
    second = get(client, holder["token"], "/api/v1/me/journal", page=2, page_size=1)
    assert [e["kind"] for e in second["items"]] == ["declaration.created"]
    assert second["total"] == 2
    past = get(client, holder["token"], "/api/v1/me/journal", page=3, page_size=1)
    assert (past["items"], past["total"]) == ([], 2)
    only = get(client, holder["token"], "/api/v1/me/journal", kind="declaration.created")
    assert only["total"] == 1
    # The days come from the entries, not the clock: a run crossing midnight (UTC) stays right.
    newest, oldest = (dt.datetime.fromisoformat(e["occurred_at"]).astimezone(dt.UTC).date()
                      for e in journal["items"])
    future = get(client, holder["token"], "/api/v1/me/journal",
                 since=(newest + dt.timedelta(days=1)).isoformat())
    assert future["total"] == 0
    today = get(client, holder["token"], "/api/v1/me/journal", since=oldest.isoformat(),
                until=newest.isoformat())
    assert today["total"] == 2
    before = get(client, holder["token"], "/api/v1/me/journal",
                 until=(oldest - dt.timedelta(days=1)).isoformat())
    assert before["total"] == 0
    assert get(client, holder["token"], "/api/v1/me/journal", third_party="true")["total"] == 0
    assert get(client, holder["other"], "/api/v1/me/journal")["total"] == 0


def test_export_has_everything_and_follows_its_schema(
    client: FlaskClient, holder: dict[str, Any], committed: sessionmaker[Session]
) -> None:
    client.post("/api/v1/me/declarations", json=DECLARATIONS[4], headers=bearer(holder["token"]))
    with unit_of_work(committed) as db:
        account = db.scalar(sa.select(Account.id).where(Account.public_id == "acct-1"))
    request_id = builders.a_pending_request(
        committed, account, builders.advisor(committed, "conseil@cep.example"))
    response = client.get("/api/v1/me/export", headers=bearer(holder["token"]))
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith(
        'attachment; filename="passeport-export-')
    assert response.headers["Cache-Control"] == "no-store"
    data = response.json
    jsonschema.validate(data, EXPORT_SCHEMA, format_checker=jsonschema.FormatChecker())
    assert data["holder"]["nir"] == PERSON_NIR
    assert data["holder"]["identity"]["prenoms"] == ["Antoine", "Julien"]
    assert len(data["certifications"]) == 6  # the withdrawn one too, marked retiree
    assert any(c["status"] == "retiree" for c in data["certifications"])
    assert [d["kind"] for d in data["declarations"]] == ["langue"]
    [request] = data["consent_requests"]
    assert (request["id"], request["status"], request["advisor_name"]) == (
        request_id, "pending", "Camille Conseil")
    assert [e["kind"] for e in data["journal"]] == [
        "declaration.created", "consent.requested", "export.downloaded"]


def test_nir_appears_in_no_other_response(client: FlaskClient, holder: dict[str, Any]) -> None:
    for path in ("/api/v1/me", "/api/v1/me/passport?include_withdrawn=true",
                 "/api/v1/me/declarations", "/api/v1/me/journal", "/api/v1/me/sessions"):
        text = client.get(path, headers=bearer(holder["token"])).get_data(as_text=True)
        assert not is_shaped(text), path
        assert PERSON_NIR[:13] not in text


def test_unlinked_holder_gets_a_clear_problem(
    app: Flask, client: FlaskClient, committed: sessionmaker[Session]
) -> None:
    with unit_of_work(committed) as db:
        account = Account(public_id="unlinked", role=Role.HOLDER, issuer="t", subject="u",
                          link_status="several_matches")
        db.add(account)
        db.flush()
        token = mint(app, db, account)
    response = client.get("/api/v1/me/passport", headers=bearer(token))
    assert response.status_code == 403
    assert response.json["code"] == "holder_not_linked"
    assert "several_matches" in response.json["detail"]


def test_big_passport_in_one_round_trip_without_n_plus_1(
    app: Flask, client: FlaskClient, holder: dict[str, Any], committed: sessionmaker[Session],
    auth_settings: Settings, tmp_path: Path
) -> None:
    ingest(committed, auth_settings, tmp_path, document(
        [passage(f"BULK-{n}") for n in range(45)], id_flux="bulk"), "bulk.xml")
    with unit_of_work(committed) as db:
        from passport.records.models import Declaration, DeclarationKind

        db.add_all(Declaration(holder_id=holder["holder_id"], kind=DeclarationKind.SKILL,
                               title=f"Compétence {n}", skills=[]) for n in range(50))
    engine = app.extensions["passport.engine"]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    def read() -> dict[str, Any]:
        statements.clear()
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            return get(client, holder["token"], "/api/v1/me/passport",  # type: ignore[no-any-return]
                       page_size=100)
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)

    data = read()
    assert data["certifications"]["total"] == 50 and len(data["certifications"]["items"]) == 50
    assert data["declarations"]["total"] == 50
    # token checks (revocation, account) + 2 per section + the sheets: constant
    assert len(statements) <= 8, statements
    # With the referentials loaded: their sheets, certifiers, blocs, jobs, domains; still
    # constant (50 items, 2 codes known).
    from tests.referentials import load_samples

    load_samples(committed)
    data = read()
    assert data["certifications"]["items"][0]["referential"]["numero"] == "RNCP34762"
    assert len(statements) <= 12, statements


def test_reads_build_no_statement(app: Flask, client: FlaskClient, holder: dict[str, Any]
                                  ) -> None:
    """The passport's statements (the token's account, each section, the referentials'
    state) are built once and only run again with new parameters: building them cost
    more than running them."""
    engine = app.extensions["passport.engine"]
    seen: list[list[Any]] = []  # the statements themselves: ids of freed ones are reused

    def record(_conn: Any, statement: Any, *_args: Any) -> None:
        seen[-1].append(statement)

    get(client, holder["token"], "/api/v1/me/passport")  # the sheets of every code: cached
    sa.event.listen(engine, "before_execute", record)
    try:
        for page in (1, 2):
            seen.append([])
            get(client, holder["token"], "/api/v1/me/passport", certifications_page=page,
                page_size=2)
    finally:
        sa.event.remove(engine, "before_execute", record)
    assert len(seen[0]) >= 4
    assert [id(s) for s in seen[0]] == [id(s) for s in seen[1]]



def test_requests_instantiate_no_schema(client: FlaskClient, holder: dict[str, Any],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Argument and response schemas are instantiated once, not per request (webargs makes
    an instance of a schema class on every request: 40–65 µs each)."""
    from marshmallow import Schema

    get(client, holder["token"], "/api/v1/me/passport")  # nested schemas made on first use
    get(client, holder["token"], "/api/v1/me/journal")
    made: list[str] = []
    init = Schema.__init__

    def counting(self: Schema, *args: Any, **kwargs: Any) -> None:
        made.append(type(self).__name__)
        init(self, *args, **kwargs)

    monkeypatch.setattr(Schema, "__init__", counting)
    get(client, holder["token"], "/api/v1/me/passport", page_size=5)
    get(client, holder["token"], "/api/v1/me/journal", kind="declaration.created")
    assert made == []
