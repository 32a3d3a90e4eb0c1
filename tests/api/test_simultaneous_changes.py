"""The same change sent several times at once (a double click, two devices, a retrying
client): the row it changes is locked while it is checked, so one request does it and the
others see it done; what is made on first use (verification codes) is made once.

On PostgreSQL these requests used to run side by side: two PATCHes with the same
``If-Match`` both passed the check (the lost update the ETag is there to prevent), two
DELETEs of one declaration ended in a 500, two withdrawals of a consent issued two
receipts. SQLite serialises writing requests anyway; the tests run on both.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.api import builders
from tests.api.builders import at_once
from tests.oauth import bearer

TIMES = 4


def statuses(responses: list[TestResponse]) -> list[int]:
    return sorted(r.status_code for r in responses)


def journal_kinds(client: FlaskClient, token: str, kind: str) -> int:
    entries = client.get("/api/v1/me/journal", query_string={"kind": kind},
                         headers=bearer(token)).json["items"]
    return len(entries)


def a_declaration(client: FlaskClient, auth: dict[str, str]) -> tuple[str, str]:
    """A new declaration's path and ETag."""
    created = client.post("/api/v1/me/declarations", headers=auth,
                          json={"kind": "competence", "title": "Soudure"})
    path = f"/api/v1/me/declarations/{created.json['id']}"
    return path, client.get(path, headers=auth).headers["ETag"]


def test_one_patch_wins_for_one_etag(app: Flask, client: FlaskClient,
                                     holder: dict[str, Any]) -> None:
    auth = bearer(holder["token"])
    path, etag = a_declaration(client, auth)
    titles = iter(f"Soudure {n}" for n in range(TIMES))
    answers = at_once(app, lambda c: c.patch(path, json={"title": next(titles)},
                                             headers={**auth, "If-Match": etag}))
    assert statuses(answers) == [200] + [412] * (TIMES - 1)
    [won] = [a for a in answers if a.status_code == 200]
    assert client.get(path, headers=auth).json["title"] == won.json["title"]
    assert journal_kinds(client, holder["token"], "declaration.updated") == 1


def test_one_delete_for_one_declaration(app: Flask, client: FlaskClient,
                                        holder: dict[str, Any]) -> None:
    auth = bearer(holder["token"])
    path, etag = a_declaration(client, auth)
    answers = at_once(app, lambda c: c.delete(path, headers={**auth, "If-Match": etag}))
    assert statuses(answers) == [204] + [404] * (TIMES - 1)
    assert journal_kinds(client, holder["token"], "declaration.deleted") == 1


def test_one_hide_for_one_etag(app: Flask, client: FlaskClient, holder: dict[str, Any]) -> None:
    auth = bearer(holder["token"])
    item = client.get("/api/v1/me/passport/certifications", headers=auth).json["items"][0]
    path = f"/api/v1/me/passport/certifications/{item['id']}"
    etag = client.get(path, headers=auth).headers["ETag"]
    answers = at_once(app, lambda c: c.patch(path, json={"hidden": True},
                                             headers={**auth, "If-Match": etag}))
    assert statuses(answers) == [200] + [412] * (TIMES - 1)
    assert journal_kinds(client, holder["token"], "certification.hidden") == 1


def test_one_withdrawal_one_receipt(app: Flask, client: FlaskClient,
                                    holder: dict[str, Any]) -> None:
    auth = bearer(holder["token"])
    consent = client.post("/api/v1/me/consents", headers=auth, json={
        "organisation_siret": builders.ORG, "sections": ["certifications"],
        "purpose": "accompagnement_cep", "duration_days": 30}).json
    path = f"/api/v1/me/consents/{consent['id']}"
    assert statuses(at_once(app, lambda c: c.delete(path, headers=auth))) == [204] * TIMES
    receipts = client.get(f"{path}/receipts", headers=auth).json
    assert sorted(r["event"] for r in receipts) == ["granted", "revoked"]
    assert journal_kinds(client, holder["token"], "consent.revoked") == 1


def test_one_revocation_of_a_share(app: Flask, client: FlaskClient,
                                   holder: dict[str, Any]) -> None:
    auth = bearer(holder["token"])
    created = client.post("/api/v1/me/shares", headers=auth, json={"all_visible": True}).json
    path = f"/api/v1/me/shares/{created['id']}"
    assert statuses(at_once(app, lambda c: c.delete(path, headers=auth))) == [204] * TIMES
    assert journal_kinds(client, holder["token"], "share.revoked") == 1


def test_two_first_cvs_at_once_give_each_item_one_code(app: Flask, client: FlaskClient,
                                                       holder: dict[str, Any]) -> None:
    """The items' verification codes are made on first use: two CVs made together both
    made them, and one answered 500 on the unique constraint."""
    auth = bearer(holder["token"])
    answers = at_once(app, lambda c: c.post("/api/v1/me/cvs", headers=auth,
                                            json={"format": "json-resume"}))
    assert statuses(answers) == [201] * TIMES
    documents = [client.get(a.headers["Location"], headers=auth).json for a in answers]
    codes = [sorted(c["verificationCode"] for c in d["certificates"]) for d in documents]
    assert codes[0] and all(c == codes[0] for c in codes)


def test_pages_opened_at_once_count_every_view(app: Flask, client: FlaskClient,
                                               holder: dict[str, Any]) -> None:
    """A share page and a verification page opened several times at once (a link preview
    and its reader, a double click): every view answers and counts.  On SQLite the pages
    read, then wrote after another view's commit: 'database is locked', a 500."""
    auth = bearer(holder["token"])
    created = client.post("/api/v1/me/shares", headers=auth, json={"all_visible": True}).json
    assert statuses(at_once(app, lambda c: c.get(f"/s/{created['token']}"))) == [200] * TIMES
    shared = client.get(f"/api/v1/me/shares/{created['id']}", headers=auth).json
    assert shared["view_count"] == TIMES
    code = client.get(f"/api/v1/shares/{created['token']}").json["items"][0]["verification"]
    assert statuses(at_once(app, lambda c: c.get(f"/verifier/{code['code']}"))) == [200] * TIMES
    assert journal_kinds(client, holder["token"], "item.verified") == TIMES
